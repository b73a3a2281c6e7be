package rest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/policy"
	"github.com/amp-edge/amp/internal/schema"
)

// reqInfo follows one request for its audit record.
type reqInfo struct {
	denied bool
	reason string
	paths  []string
	event  string // a named event (token-create, token-revoke) instead of read/write
	index  uint64
}

type reqInfoKey struct{}

func info(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	if i == nil {
		return &reqInfo{}
	}
	return i
}

func (i *reqInfo) touch(path string) { i.paths = append(i.paths, path) }

// authorize asks the policy. A caller who may not even read the enterprise
// a path belongs to is told it does not exist (404, the same answer as for
// an enterprise that really does not exist), so enterprises cannot be
// discovered; otherwise a refusal is 403.
func (s *Server) authorize(r *http.Request, action auth.Action, path string) error {
	p := auth.FromContext(r.Context())
	err := s.opts.Authorizer.Authorize(r.Context(), p, action, path)
	if err == nil {
		return nil
	}
	in := info(r.Context())
	in.denied, in.reason = true, err.Error()
	if len(in.paths) == 0 || in.paths[len(in.paths)-1] != path {
		in.touch(path)
	}
	if ent := policy.ParsePath(path).Enterprise; ent != "" && !s.canSeeEnterprise(r.Context(), p, ent) {
		return schema.Errorf(schema.KindNotFound, path, "enterprise %q does not exist", ent)
	}
	return &schema.Error{Kind: schema.KindForbidden, Message: "forbidden", Problems: []schema.Problem{{Path: path, Reason: err.Error()}}}
}

func (s *Server) canSeeEnterprise(ctx context.Context, p *auth.Principal, ent string) bool {
	return s.opts.Authorizer.Authorize(ctx, p, auth.Read, "/enterprises/"+ent) == nil
}

func (s *Server) canRead(r *http.Request, path string) bool {
	return s.opts.Authorizer.Authorize(r.Context(), auth.FromContext(r.Context()), auth.Read, path) == nil
}

// canSeeTargets reports whether the caller may see a transaction, audit
// record or status touching these enterprises: all of them readable; one
// that touches none (enterprise records, tokens) only for operators.
func (s *Server) canSeeTargets(r *http.Request, targets []string) bool {
	p := auth.FromContext(r.Context())
	if len(targets) == 0 {
		return s.opts.Authorizer.Authorize(r.Context(), p, auth.Admin, "/transactions") == nil
	}
	for _, t := range targets {
		if !s.canSeeEnterprise(r.Context(), p, t) {
			return false
		}
	}
	return true
}

// auditRequest records a request that wrote, was denied, failed
// authentication or was a token event. Reads that were allowed are not
// audited (they change nothing); their count is in the metrics.
func (s *Server) auditRequest(r *http.Request, in *reqInfo, code int, err error, authFailed bool) {
	if s.opts.Audit == nil {
		return
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if !write && !in.denied && !authFailed && in.event == "" {
		return
	}
	rec := audit.Record{Source: r.RemoteAddr, Interface: "rest", Method: r.Method, Action: "read", Transaction: in.index}
	if write {
		rec.Action = "write"
	}
	if in.event != "" {
		rec.Action = in.event
	}
	if p := auth.FromContext(r.Context()); p != nil {
		rec.Principal, rec.Groups, rec.Via = p.Name, p.Groups, p.Via
	}
	rec.Paths = in.paths
	if len(rec.Paths) == 0 {
		rec.Paths = []string{r.URL.Path}
	}
	switch {
	case authFailed:
		rec.Action, rec.Outcome = "login", "denied"
		if err != nil {
			rec.Reason = err.Error()
		}
	case in.denied:
		rec.Outcome, rec.Reason = "denied", in.reason
	case code >= 400:
		rec.Outcome = "error"
		if err != nil {
			rec.Reason = err.Error()
		}
	default:
		rec.Outcome = "allowed"
	}
	s.opts.Audit.Enqueue(r.Context(), rec)
}

// auditQuery serves GET /audit?principal=&enterprise=&path=&since=&until=&outcome=&limit=,
// newest first, showing only records the caller may see.
func (s *Server) auditQuery(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Read, "/audit"); err != nil {
		return err
	}
	if s.opts.Audit == nil {
		return writeJSON(w, http.StatusOK, []audit.Record{})
	}
	q := r.URL.Query()
	f := audit.Filter{Principal: q.Get("principal"), Enterprise: q.Get("enterprise"), PathPrefix: q.Get("path"), Outcome: q.Get("outcome")}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return schema.Errorf(schema.KindInvalid, "?"+name, "%q is not an RFC 3339 time such as 2026-11-22T10:00:00Z", v)
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return schema.Errorf(schema.KindInvalid, "?limit", "%q is not a number from 1 to 100000", v)
		}
		f.Limit = n
	}
	recs, err := s.opts.Audit.Query(f, func(rec *audit.Record) bool { return s.canSeeTargets(r, rec.Enterprises) })
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	return writeJSON(w, http.StatusOK, recs)
}

// tokenRight checks a token's role and enterprise (docs/identity.md): the
// enterprise roles need one, the others take none.
func tokenRight(role, enterprise string) (auth.Right, error) {
	r := auth.Right{Role: auth.Role(role), Enterprise: enterprise}
	switch {
	case r.Role == auth.RoleSuspended || !r.Role.Known():
		return r, schema.Errorf(schema.KindInvalid, "/role", "%q is not operator, enterprise-admin, enterprise-member or state-writer", role)
	case r.Role.Scoped() && enterprise == "":
		return r, schema.Errorf(schema.KindInvalid, "/enterprise", "role %s needs an enterprise", role)
	case !r.Role.Scoped() && enterprise != "":
		return r, schema.Errorf(schema.KindInvalid, "/enterprise", "a %s token is not scoped to an enterprise", role)
	}
	return r, nil
}

// createToken serves POST /tokens {"name", "role", "enterprise"}: an API
// token whose secret is shown in this response only.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	in := info(r.Context())
	in.event = "token-create"
	if err := s.authorize(r, auth.Admin, "/tokens"); err != nil {
		return err
	}
	m, _, err := readObject(r, `{"name": …, "role": "operator|enterprise-admin|enterprise-member|state-writer", "enterprise": …}`)
	if err != nil {
		return err
	}
	var probs schema.Problems
	str := func(k string) string {
		v, ok := m[k]
		if !ok {
			return ""
		}
		sv, isStr := v.(string)
		if !isStr {
			probs.Add("/"+k, "must be a string")
		}
		return sv
	}
	name, role, ent := str("name"), str("role"), str("enterprise")
	for k := range m {
		if k != "name" && k != "role" && k != "enterprise" {
			probs.Add("/"+k, "unknown field %q", k)
		}
	}
	if name == "" || len(name) > 80 {
		probs.Add("/name", "is required, 1..80 characters")
	}
	if err := probs.Err(); err != nil {
		return err
	}
	right, err := tokenRight(role, ent)
	if err != nil {
		return err
	}
	if ent != "" && !s.eng.Snapshot().TargetExists(ent) {
		return schema.Errorf(schema.KindNotFound, "/enterprise", "enterprise %q does not exist", ent)
	}
	// The principal is "<name>@api": recognisable in the audit trail as an
	// API token, never mistaken for a user of the identity provider.
	secret, tok, err := s.opts.Tokens.Create(name, name+"@api", []auth.Right{right})
	if err != nil {
		return err
	}
	in.touch("/tokens/" + tok.ID)
	return writeJSON(w, http.StatusCreated, map[string]any{"id": tok.ID, "name": tok.Name, "principal": tok.Principal,
		"rights": tok.Rights, "created": tok.Created, "token": secret, "note": "the token is shown only now: store it safely"})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Admin, "/tokens"); err != nil {
		return err
	}
	list, err := s.opts.Tokens.List()
	if err != nil {
		return err
	}
	if list == nil {
		list = []auth.Token{}
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	in := info(r.Context())
	in.event = "token-revoke"
	id := r.PathValue("id")
	in.touch("/tokens/" + id)
	if err := s.authorize(r, auth.Admin, "/tokens"); err != nil {
		return err
	}
	ok, err := s.opts.Tokens.Revoke(id)
	if err != nil {
		return err
	}
	if !ok {
		return schema.Errorf(schema.KindNotFound, "/tokens/"+id, "no token %q", id)
	}
	return writeJSON(w, http.StatusOK, map[string]string{"revoked": id})
}

func enterpriseOfPath(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) >= 3 {
		return segs[2]
	}
	return ""
}
