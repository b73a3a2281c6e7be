package provisionapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/edge/ca"
	"github.com/amp-edge/amp/internal/edge/wire"

	"github.com/amp-edge/amp/internal/netlimit"
	"github.com/amp-edge/amp/internal/provision/cluster"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// clusterRoutes serve a declared cluster's plan, its registration tokens
// and its agent's registration (docs/provisioning.md, "Clusters").
func clusterRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /clusters/{name}/plan", Name: "cluster-plan", Handler: clusterPlan},
		{Pattern: "POST /clusters/{name}/tokens", Name: "cluster-tokens", Handler: mintClusterToken},
		{Pattern: "GET /clusters/{name}/tokens", Name: "cluster-tokens", Handler: listClusterTokens},
		{Pattern: "DELETE /clusters/{name}/tokens/{id}", Name: "cluster-tokens", Handler: revokeClusterToken},
		{Pattern: "POST /clusters/register", Name: "cluster-register", Public: true, Handler: registerCluster},
		{Pattern: "POST /clusters/{name}/revoke", Name: "cluster-revoke", Handler: revokeCluster},
	}
}

// registrations bounds the registration attempts per source address.
var registrations = &netlimit.Limiter{PerWindow: 10, Window: time.Minute, MaxSources: 10_000, Now: time.Now}

// maxRegisterBody bounds a registration's body: a token and a CSR (an
// RSA 4096 CSR is under 2 KiB of PEM).
const maxRegisterBody = 8 << 10

func clusterTokens(h compat.Host) cluster.Tokens {
	return cluster.Tokens{Meta: h.Engine().Meta(), Now: time.Now}
}

// declaredCluster authorizes action on the cluster the request names and
// checks that it is declared.
func declaredCluster(h compat.Host, r *http.Request, action auth.Action) (set *schema.ModelSet, name, path string, err error) {
	set = inventory.Set(h.Schema())
	name = r.PathValue("name")
	path = cluster.Path(set, name)
	if err := h.Authorize(r, action, path); err != nil {
		return nil, "", "", err
	}
	if _, ok := h.Engine().Snapshot().Get(cluster.Key(set, name)); !ok {
		return nil, "", "", schema.Errorf(schema.KindNotFound, path, "no cluster %q is declared", name)
	}
	return set, name, path, nil
}

// planAnswer is GET /clusters/{name}/plan.
type planAnswer struct {
	Cluster      string                `json:"cluster"`
	Index        uint64                `json:"index"`
	Reported     bool                  `json:"reported"`
	ReportedAt   string                `json:"reported-at,omitempty"`
	Registration *cluster.Registration `json:"registration"`
	Steps        []cluster.Step        `json:"steps"`
	Summary      map[string]int        `json:"summary"`
}

func clusterPlan(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set, name, path, err := declaredCluster(h, r, auth.Read)
	if err != nil {
		return err
	}
	snap := h.Engine().Snapshot()
	decl, rep, reg, ok := cluster.Load(snap, set, name)
	if !ok { // deleted since declaredCluster looked
		return schema.Errorf(schema.KindNotFound, path, "no cluster %q is declared", name)
	}
	a := planAnswer{Cluster: name, Index: snap.Index, Reported: rep != nil, Registration: reg, Steps: cluster.Plan(decl, rep),
		Summary: map[string]int{"add": 0, "change": 0, "remove": 0}}
	if rep != nil {
		a.ReportedAt = rep.ReportedAt
	}
	for _, s := range a.Steps {
		switch s.Action {
		case "create", "add":
			a.Summary["add"]++
		default:
			a.Summary[s.Action]++
		}
	}
	return h.WriteJSON(w, http.StatusOK, a)
}

func mintClusterToken(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	_, name, _, err := declaredCluster(h, r, auth.Write)
	if err != nil {
		return err
	}
	body, dry, err := h.ReadObject(r, `{"ttl": "1h"}`)
	if err != nil {
		return err
	}
	if dry {
		return schema.Errorf(schema.KindInvalid, "?dry-run", "minting a token has nothing to preview")
	}
	ttl := cluster.DefaultTTL
	for k, v := range body {
		s, isStr := v.(string)
		if k != "ttl" {
			return schema.Errorf(schema.KindInvalid, "/"+k, "unknown field %q (send {\"ttl\": \"1h\"})", k)
		}
		d, perr := time.ParseDuration(s)
		if !isStr || perr != nil || d < cluster.MinTTL || d > cluster.MaxTTL {
			return schema.Errorf(schema.KindInvalid, "/ttl", "%v is not a duration from %s to %s, such as \"30m\" or \"1h\"", v, cluster.MinTTL, cluster.MaxTTL)
		}
		ttl = d
	}
	secret, tok, err := clusterTokens(h).Mint(name, principal(r), ttl)
	if errors.Is(err, cluster.ErrTooMany) {
		return schema.Errorf(schema.KindConflict, tokensPath(name, ""), "%v", err)
	}
	if err != nil {
		return err
	}
	h.Touch(r, tokensPath(name, tok.ID))
	return h.WriteJSON(w, http.StatusCreated, map[string]any{"id": tok.ID, "cluster": tok.Cluster, "created": tok.Created,
		"expires": tok.Expires, "minted-by": tok.MintedBy, "token": secret,
		"note": "the token is shown only now and works once: hand it to the cluster's agent"})
}

// tokenView is a token as listed: never its secret or hash.
type tokenView struct {
	cluster.Token
	Expired bool `json:"expired"`
}

func listClusterTokens(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	_, name, _, err := declaredCluster(h, r, auth.Read)
	if err != nil {
		return err
	}
	list, err := clusterTokens(h).List(name)
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]tokenView, 0, len(list))
	for _, t := range list {
		out = append(out, tokenView{t, t.Expired(now)})
	}
	return h.WriteJSON(w, http.StatusOK, out)
}

func revokeClusterToken(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	_, name, _, err := declaredCluster(h, r, auth.Write)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	h.Touch(r, tokensPath(name, id))
	ok, err := clusterTokens(h).Revoke(name, id)
	if err != nil {
		return err
	}
	if !ok {
		return schema.Errorf(schema.KindNotFound, tokensPath(name, id), "cluster %q has no unused token %q", name, id)
	}
	return h.WriteJSON(w, http.StatusOK, map[string]string{"revoked": id})
}

// registerCluster serves POST /clusters/register (wire.RegisterRequest),
// the agent's enrolment: the single-use token is its only credential, and
// the CSR carries the key it generated and keeps at the site. The CSR is
// checked first (a bad one consumes nothing); the token is checked, used up
// (once, across replicas); AMP's agent CA signs a client certificate for
// the token's cluster (CN = its id, whatever the CSR asks), the
// registration is recorded in the cluster's operational state, and the
// agent gets its credentials (201 wire.Credentials).
func registerCluster(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	source := r.RemoteAddr
	if host, _, err := net.SplitHostPort(source); err == nil {
		source = host
	}
	m := metricsOf(h)
	if wait := registrations.Allow(source); wait > 0 {
		m.registrations.WithLabelValues("refused").Inc()
		secs := int64(wait.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		return schema.Errorf(schema.KindUnavailable, r.URL.Path, "too many registration attempts from this address; retry in %d s", secs)
	}
	if r.ContentLength > maxRegisterBody {
		return schema.Errorf(schema.KindTooLarge, "/", "a registration body holds a token and a CSR: at most %d bytes", maxRegisterBody)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRegisterBody)
	body, _, err := h.ReadObject(r, `{"token": "ampreg_…", "cluster": "ace-x", "csr": "-----BEGIN CERTIFICATE REQUEST-----…"}`)
	if err != nil {
		return err
	}
	var req wire.RegisterRequest
	for k, v := range body {
		s, isStr := v.(string)
		if !isStr {
			return schema.Errorf(schema.KindInvalid, "/"+k, "%s is a string", k)
		}
		switch k {
		case "token":
			req.Token = s
		case "cluster":
			req.Cluster = s
		case "csr":
			req.CSR = s
		default:
			return schema.Errorf(schema.KindInvalid, "/"+k, "unknown field %q (send token, csr and, optionally, cluster)", k)
		}
	}
	if req.Token == "" {
		return schema.Errorf(schema.KindInvalid, "/token", "the registration token minted for the cluster (amp cluster token) is required")
	}
	authority, err := ca.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	csr, err := ca.ParseCSR(req.CSR)
	if err != nil {
		authority.Metrics().Refused(ca.RefusedCSR)
		return err
	}
	ts := clusterTokens(h)
	tok, err := ts.Check(req.Token)
	if tok.ID != "" { // genuine (perhaps expired): the audit record names it
		h.Touch(r, tokensPath(tok.Cluster, tok.ID))
	}
	if err == nil && req.Cluster != "" && req.Cluster != tok.Cluster {
		err = fmt.Errorf("%w: it registers cluster %q, not %q", errOtherCluster, tok.Cluster, req.Cluster)
	}
	if errors.Is(err, cluster.ErrInvalid) || errors.Is(err, cluster.ErrExpired) || errors.Is(err, errOtherCluster) {
		m.registrations.WithLabelValues("refused").Inc()
		authority.Metrics().Refused(ca.RefusedToken)
		return refused(err)
	}
	if err != nil {
		return err
	}
	set := inventory.Set(h.Schema())
	if _, ok := h.Engine().Snapshot().Get(cluster.Key(set, tok.Cluster)); !ok {
		return schema.Errorf(schema.KindNotFound, cluster.Path(set, tok.Cluster), "cluster %q is no longer declared", tok.Cluster)
	}
	if err := ts.Take(tok); err != nil {
		if errors.Is(err, cluster.ErrInvalid) { // another registration took it first
			m.registrations.WithLabelValues("refused").Inc()
			authority.Metrics().Refused(ca.RefusedToken)
			return refused(err)
		}
		return err
	}
	// From here on a failure gives the token back, for the agent's retry.
	restore := func(err error) error {
		if rerr := ts.Restore(tok); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	iss, err := authority.Enrol(tok.Cluster, csr)
	if errors.Is(err, ca.ErrNotDeclared) {
		return restore(schema.Errorf(schema.KindNotFound, cluster.Path(set, tok.Cluster), "cluster %q is no longer declared", tok.Cluster))
	}
	if err != nil {
		return restore(err)
	}
	reg := cluster.Registration{RegisteredAt: time.Now().UTC().Format(time.RFC3339), TokenID: tok.ID, MintedBy: tok.MintedBy, Source: r.RemoteAddr}
	if err := cluster.Record(r.Context(), h.Engine(), set, tok.Cluster, reg); err != nil {
		return restore(err)
	}
	m.registrations.WithLabelValues("ok").Inc()
	return h.WriteJSON(w, http.StatusCreated, authority.Credentials(iss))
}

// revokeCluster serves POST /clusters/{name}/revoke: every certificate of
// the cluster's agent stops working at once, on every replica (the
// allow-list is in the store's metadata); the agent enrols again with a
// new token. A cluster no longer declared may be revoked too (its
// certificates already stopped working; this forgets them).
func revokeCluster(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set := inventory.Set(h.Schema())
	name := r.PathValue("name")
	if err := h.Authorize(r, auth.Write, cluster.Path(set, name)); err != nil {
		return err
	}
	body, dry, err := h.ReadObject(r, `{}`)
	if err != nil {
		return err
	}
	for k := range body {
		return schema.Errorf(schema.KindInvalid, "/"+k, "unknown field %q (send {})", k)
	}
	if dry {
		return schema.Errorf(schema.KindInvalid, "?dry-run", "a revocation has nothing to preview")
	}
	authority, err := ca.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	h.Touch(r, "/clusters/"+schema.EscapeSegment(name)+"/certificates")
	n, err := authority.Revoke(name)
	if err != nil {
		return err
	}
	if _, declared := h.Engine().Snapshot().Get(cluster.Key(set, name)); !declared && n == 0 {
		return schema.Errorf(schema.KindNotFound, cluster.Path(set, name), "no cluster %q is declared, and it has no certificates", name)
	}
	return h.WriteJSON(w, http.StatusOK, map[string]any{"cluster": name, "revoked": n,
		"note": "the cluster's agent certificates no longer work; its agent enrols again with a new token (amp cluster token)"})
}

// errOtherCluster is an enrolment whose token was minted for another
// cluster than the one the agent means (RegisterRequest.Cluster).
var errOtherCluster = errors.New("the registration token was minted for another cluster")

// refused answers a registration whose token does not hold (401).
func refused(err error) error {
	return &schema.Error{Kind: schema.KindUnauthenticated, Message: "registration refused", Problems: []schema.Problem{{Path: "/token", Reason: err.Error()}}}
}

// tokensPath is the path of a cluster's tokens (id "") or of one, as the
// audit trail records it.
func tokensPath(cluster, id string) string {
	p := "/clusters/" + schema.EscapeSegment(cluster) + "/tokens"
	if id != "" {
		p += "/" + schema.EscapeSegment(id)
	}
	return p
}

func principal(r *http.Request) string {
	if p := auth.FromContext(r.Context()); p != nil {
		return p.Name
	}
	return ""
}
