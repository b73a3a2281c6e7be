package edgeapi

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/ca"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/park"
	"github.com/amp-edge/amp/internal/schema"
)

// linkRoutes are the agent's desired-state and check-in routes, and the
// operator's view of every cluster's link (docs/agent.md, "The link:
// desired state and check-ins").
func linkRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /edge/v1/clusters/{cluster}/desired", Name: "edge-desired", Handler: desired},
		{Pattern: "PUT /edge/v1/clusters/{cluster}/status", Name: "edge-status", Handler: checkin},
		{Pattern: "GET /clusters/status", Name: "cluster-status", Handler: statuses},
		{Pattern: "GET /clusters/{name}/status", Name: "cluster-status", Handler: status},
	}
}

// Bounds of a desired-state wait (?wait=).
const (
	DefaultWait = 55 * time.Second
	MaxWait     = 5 * time.Minute
)

// desired serves GET /edge/v1/clusters/{cluster}/desired?since=&wait=
// with If-None-Match: "<digest>": 304 while the digest is current after
// the wait, else the change (or everything) as wire.Desired.
func desired(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("cluster")
	if err := h.Authorize(r, auth.Read, edge.LinkPath(id)+"/desired"); err != nil {
		return err
	}
	since, _, err := h.QueryUint(r, "since")
	if err != nil {
		return err
	}
	wait := DefaultWait
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxWait {
			return schema.Errorf(schema.KindInvalid, "?wait", "%q is not a duration from 0s to %s, such as 55s", v, MaxWait)
		}
		wait = d
	}
	digest := etag(r.Header.Get("If-None-Match"))
	if digest == "" {
		wait = 0 // holds nothing: answered at once
	}
	hub, err := edge.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	if wait > 0 {
		// An HTTP/1.1 request waits with no goroutine held (internal/park).
		if pc, ok := park.Hijack(w, r); ok {
			// The answer may come after the request is gone: it keeps
			// only what writing an error needs, not the request.
			bare := (&http.Request{Method: r.Method, URL: r.URL, Header: http.Header{}}).WithContext(context.Background())
			deliver := func(d *wire.Desired, err error) {
				_ = pc.Reply(func(w http.ResponseWriter) { writeDesired(h, w, bare, hub, id, digest, d, err) })
			}
			parked, err := hub.Park(r.Context(), id, since, digest, wait, deliver)
			if !parked {
				var d *wire.Desired
				if err == nil {
					d, err = hub.Desired(r.Context(), id, since, digest, 0)
				}
				deliver(d, err)
			}
			return nil
		}
	}
	// A wait outlasts the server's ordinary deadlines on purpose; the
	// request has no body, so nothing is left to read meanwhile.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(wait + time.Minute))
	d, err := hub.Desired(r.Context(), id, since, digest, wait)
	if err != nil {
		return err
	}
	writeDesired(h, w, r, hub, id, digest, d, nil)
	return nil
}

// writeDesired answers a desired-state request of cluster id's agent
// holding digest, telling it when site queries wait for it.
func writeDesired(h compat.Host, w http.ResponseWriter, r *http.Request, hub *edge.Hub, id, digest string, d *wire.Desired, err error) {
	if hub.QueriesQueued(id) {
		w.Header().Set(wire.QueriesHeader, "queued")
	}
	switch {
	case err != nil:
		h.WriteError(w, r, err)
	case d == nil:
		w.Header().Set("ETag", `"`+digest+`"`)
		w.WriteHeader(http.StatusNotModified)
	default:
		w.Header().Set("ETag", `"`+d.Digest+`"`)
		_ = h.WriteJSON(w, http.StatusOK, d)
	}
}

// etag reads the digest of an If-None-Match header ("<digest>", W/ or not).
func etag(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	return strings.Trim(v, `"`)
}

// checkin serves PUT /edge/v1/clusters/{cluster}/status: a wire.Checkin
// (at most edge.MaxCheckinBody bytes), recorded as the cluster's state
// unless it says nothing new, answered with wire.CheckinAnswer.
func checkin(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("cluster")
	path := edge.LinkPath(id) + "/status"
	if err := h.Authorize(r, auth.Write, path); err != nil {
		return err
	}
	hub, err := edge.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	// One byte past the bound is enough to refuse it (413).
	body, err := io.ReadAll(io.LimitReader(r.Body, edge.MaxCheckinBody+1))
	if err != nil {
		return err
	}
	c, err := hub.ReadCheckin(body)
	if err != nil {
		return err
	}
	h.Touch(r, path)
	var cred edge.Credential
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cred = edge.Credential{Serial: ca.Serial(r), NotAfter: r.TLS.PeerCertificates[0].NotAfter}
	}
	ans, _, err := hub.Checkin(r.Context(), id, c, cred)
	if err != nil {
		return err
	}
	authority, err := ca.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	ans.RenewNow = authority.RenewDue(r)
	return h.WriteJSON(w, http.StatusOK, ans)
}

// status serves GET /clusters/{name}/status: one cluster's link in
// detail, for an operator who may read the cluster.
func status(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("name")
	hub, err := edge.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	if err := h.Authorize(r, auth.Read, hub.ClusterPath(id)); err != nil {
		return err
	}
	s, err := hub.Status(id, true)
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, s)
}

// statuses serves GET /clusters/status: the link of every cluster the
// caller may read, one summary each.
func statuses(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	hub, err := edge.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	list := hub.Statuses(func(c edge.Cluster) bool { return h.Allowed(r, auth.Read, c.Path) })
	return h.WriteJSON(w, http.StatusOK, list)
}
