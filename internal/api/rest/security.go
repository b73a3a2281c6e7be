package rest

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// reqInfo is the record of one request: the handler fills it (paths
// touched, the transaction committed, the refusal) and the middleware reads
// it for the audit trail. It travels in the request's context, so nothing
// is read back from the response (whose headers are the client's API).
type reqInfo struct {
	denied bool
	reason string
	paths  []string
	event  string // a named event (token-create, token-revoke) instead of read/write
	// index is the transaction the request committed (the current index
	// when it changed nothing: unchanged).
	index     uint64
	unchanged bool
	// set is the model set a model path named (nil: not a model path):
	// its descriptor names the compatibility layers that apply.
	set *schema.ModelSet
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

func (i *reqInfo) committed(index uint64, unchanged bool) { i.index, i.unchanged = index, unchanged }

// authorize asks the policy about a path, classified by the one path
// grammar. A caller who may not even read the tenant a path belongs to is
// told it does not exist (404, the same answer as for an enterprise that
// really does not exist), so enterprises cannot be discovered; otherwise a
// refusal is 403, and a policy that cannot decide is the server's failure
// (500), never passed off as the caller's lack of rights.
func (s *Server) authorize(r *http.Request, action auth.Action, path string) error {
	p := auth.FromContext(r.Context())
	res, err := s.resource(s.eng.Snapshot(), path)
	if err != nil {
		return err
	}
	err = s.opts.Authorizer.Authorize(r.Context(), p, action, res)
	if err == nil {
		return nil
	}
	in := info(r.Context())
	in.denied, in.reason = true, err.Error()
	if len(in.paths) == 0 || in.paths[len(in.paths)-1] != path {
		in.touch(path)
	}
	switch auth.RefusalOf(err) {
	case auth.Unauthenticated:
		return &schema.Error{Kind: schema.KindUnauthenticated, Message: "authentication required", Problems: []schema.Problem{{Path: path, Reason: err.Error()}}}
	case auth.Failed:
		s.log.ErrorContext(r.Context(), "authorization failed", "error", err, "path", path, "action", string(action), "principal", principalName(r.Context()))
		return authzFailure(path)
	}
	if res.Tenant != "" && !s.canSeeEnterprise(r.Context(), p, res.Tenant) {
		return schema.Errorf(schema.KindNotFound, path, "enterprise %q does not exist", res.Tenant)
	}
	return &schema.Error{Kind: schema.KindForbidden, Message: "forbidden", Problems: []schema.Problem{{Path: path, Reason: err.Error()}}}
}

// authzFailure is the answer when the authorizer could not decide: the
// cause (a broken policy) is the operator's to see, in the server log.
func authzFailure(path string) error {
	return &schema.Error{Kind: schema.KindInternal, Message: "authorization failed",
		Problems: []schema.Problem{{Path: path, Reason: "the authorization policy could not be evaluated (the operator sees why in the server log); the request was refused"}}}
}

// check asks the authorizer whether p may act on path (a REST path AMP
// rendered), for the callers that only need yes or no: any error is no.
func (s *Server) check(ctx context.Context, p *auth.Principal, action auth.Action, path string) error {
	res, err := s.resource(s.eng.Snapshot(), path)
	if err != nil {
		return err
	}
	return s.opts.Authorizer.Authorize(ctx, p, action, res)
}

// resource classifies a REST path for the authorizer, naming the tenant
// a global object is tied to in snap (its ampx:tenant leaf) so that the
// policy may let that tenant's roles read it. The tie as it is now decides,
// also for ?at= reads of the past.
func (s *Server) resource(snap *config.Snapshot, path string) (auth.Resource, error) {
	return auth.ResourceIn(s.sch, snap, path)
}

// canReadEntry reports whether the caller may read one entry of a list of
// a global set (listed entry by entry when the caller may not read the
// whole list: an enterprise role reads the entries tied to its enterprise).
func (s *Server) canReadEntry(r *http.Request, snap *config.Snapshot, set *schema.ModelSet, o *config.Object) bool {
	res, err := auth.ResourceOf(s.sch, schema.RESTPathOfKey(set, o.Key, nil, false, o.Node))
	if err != nil {
		return false
	}
	res.Owner = snap.OwnerOf(o)
	return s.opts.Authorizer.Authorize(r.Context(), auth.FromContext(r.Context()), auth.Read, res) == nil
}

func (s *Server) canSeeEnterprise(ctx context.Context, p *auth.Principal, ent string) bool {
	return s.check(ctx, p, auth.Read, "/enterprises/"+schema.EscapeSegment(ent)) == nil
}

func (s *Server) canRead(r *http.Request, path string) bool {
	return s.check(r.Context(), auth.FromContext(r.Context()), auth.Read, path) == nil
}

// canSeeTargets reports whether the caller may see a transaction, audit
// record or status touching these enterprises: all of them readable; one
// that touches none (enterprise records, tokens) only for operators.
func (s *Server) canSeeTargets(r *http.Request, targets []string) bool {
	p := auth.FromContext(r.Context())
	if len(targets) == 0 {
		return s.check(r.Context(), p, auth.Admin, "/transactions") == nil
	}
	for _, t := range targets {
		if !s.canSeeEnterprise(r.Context(), p, t) {
			return false
		}
	}
	return true
}

// canSeeTxn reports whether the caller may see a transaction: one that
// touched a global set's objects (the operator's) only for operators, for
// now; otherwise as canSeeTargets.
func (s *Server) canSeeTxn(r *http.Request, t config.TxnInfo) bool {
	for _, sv := range t.Sets {
		name, version, _ := strings.Cut(sv, "/")
		if set := s.sch.Set(name, version); set == nil || set.Global() {
			return s.check(r.Context(), auth.FromContext(r.Context()), auth.Admin, "/transactions") == nil
		}
	}
	return s.canSeeTargets(r, t.Targets)
}

// authFailure counts a failed authentication against its source (the
// audit trail gets one record per source and window, not one per request)
// and returns the error to answer: 401, or 429 with Retry-After once the
// source is over --auth-fail-limit. Only failures are counted: a valid
// credential from the same address (a NAT shared with an attacker) is
// never refused. The answer echoes at most maxEchoedPath bytes of the
// path: an unauthenticated caller must not make the server send back (or
// encode) what it chose to send.
func (s *Server) authFailure(w http.ResponseWriter, r *http.Request, authErr error) error {
	reason := authErr.Error()
	path := r.URL.Path
	if len(path) > maxEchoedPath {
		path = strings.ToValidUTF8(path[:maxEchoedPath], "") + "…"
	}
	err := &schema.Error{Kind: schema.KindUnauthenticated, Message: "authentication required", Problems: []schema.Problem{{Path: path, Reason: reason}}}
	if s.opts.Audit == nil {
		return err
	}
	wait := s.opts.Audit.AuthFailures().Fail(r.Context(), audit.REST, r.RemoteAddr, r.Method, r.URL.Path, reason)
	if wait <= 0 {
		return err
	}
	secs := int64(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return &statusError{http.StatusTooManyRequests, &schema.Error{Kind: schema.KindUnauthenticated, Message: "too many failed authentications",
		Problems: []schema.Problem{{Path: "Authorization", Reason: fmt.Sprintf("this source failed authentication too often; retry in %d s", secs)}}}}
}

// maxEchoedPath bounds the request path repeated in an answer to an
// unauthenticated request.
const maxEchoedPath = 512

// statusError is answered with its own status, for the refusals of REST's
// own limits that no error kind names (408, 414, 429: no other interface
// has such limits); its problems are the schema.Error's.
type statusError struct {
	code int
	err  *schema.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// auditWritable refuses a write while the audit trail cannot be written
// (disk full, I/O errors): a commit must never go unrecorded. The cause is
// in the server log and amp_audit_writable, not in the answer (it names
// the operator's files).
func (s *Server) auditWritable(r *http.Request) error {
	if s.opts.Audit == nil || !writeMethod(r.Method) || s.opts.Audit.Err() == nil {
		return nil
	}
	return &schema.Error{Kind: schema.KindUnavailable, Message: "writes are refused while the audit trail cannot be written",
		Problems: []schema.Problem{{Path: r.URL.Path, Reason: "the audit trail cannot be written at the moment (the operator sees why in the server log and amp_audit_writable); retry later"}}}
}

// writeMethod reports whether a request method may change anything: only
// these reach a handler as writes.
func writeMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch || m == http.MethodDelete
}

// auditRequest records a request that wrote (or committed a transaction),
// was denied or was a token event. Reads that were allowed are not audited
// (they change nothing); their count is in the metrics. Failed
// authentications are counted by authFailure instead.
func (s *Server) auditRequest(r *http.Request, in *reqInfo, code int, err error, authFailed bool) {
	if s.opts.Audit == nil || authFailed {
		return
	}
	write := writeMethod(r.Method) || in.index != 0
	if !write && !in.denied && in.event == "" {
		return
	}
	rec := audit.Record{Source: r.RemoteAddr, Interface: "rest", Method: r.Method, Action: "read", Transaction: in.index}
	if in.unchanged {
		rec.Details = map[string]any{"unchanged": true} // the index names the transaction before it
	}
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

// auditQuery serves GET /audit?principal=&enterprise=&path=&since=&until=&outcome=&limit=&before=,
// newest first, showing only records the caller may see. A page holds at
// most audit.MaxLimit records; when there may be more, a Link header
// (rel="next") gives the URL of the next, older page (?before=).
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
		if err != nil || n < 1 || n > audit.MaxLimit {
			return schema.Errorf(schema.KindInvalid, "?limit", "%q is not a number from 1 to %d (page on with the Link header's next URL)", v, audit.MaxLimit)
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return schema.Errorf(schema.KindInvalid, "?before", "%q is not a record sequence number (a positive integer)", v)
		}
		f.Before = n
	}
	// One policy decision per set of enterprises, not per record. A record
	// naming a global set's objects is the operator's (as its transaction
	// is, canSeeTxn), even when it names an enterprise too or the object is
	// tied to one: audit records of global objects are operator-only.
	seen := map[string]bool{}
	global := -1 // the caller's answer for global records, asked once
	page, err := s.opts.Audit.QueryPage(f, func(rec *audit.Record) bool {
		if slices.ContainsFunc(rec.Sets, func(sr audit.SetRef) bool { return sr.Scope == string(schema.ScopeGlobal) }) {
			if global < 0 {
				global = 0
				if s.canSeeTargets(r, nil) {
					global = 1
				}
			}
			return global == 1
		}
		k := strings.Join(rec.Enterprises, "\x00")
		ok, done := seen[k]
		if !done {
			ok = s.canSeeTargets(r, rec.Enterprises)
			seen[k] = ok
		}
		return ok
	})
	if err != nil {
		return err
	}
	if page.Next != 0 {
		q.Set("before", strconv.FormatUint(page.Next, 10))
		w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", r.URL.Path, q.Encode()))
	}
	if page.Records == nil {
		page.Records = []audit.Record{}
	}
	return writeJSON(w, http.StatusOK, page.Records)
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
