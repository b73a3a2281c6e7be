package fleetapi

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/fleet/gitsource"
	"github.com/amp-edge/amp/internal/netlimit"
	"github.com/amp-edge/amp/internal/schema"
)

// hookRoutes is the git webhook: public, authenticated by its signature
// only (the git server holds no AMP credential).
func hookRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "POST /fleet/hooks/{repo}", Name: "fleet-hook", Public: true, Handler: hook},
	}
}

// hookSources bounds the webhook attempts per source address: a git
// server sends one per push, a guesser of signatures many.
var hookSources = &netlimit.Limiter{PerWindow: 60, Window: time.Minute, MaxSources: 10_000, Now: time.Now}

// MaxHookBody bounds a webhook's body: a push event of a few hundred
// commits fits; GitHub caps its payloads at 25 MB but AMP reads only the
// ref.
const MaxHookBody = 1 << 20

// notVerified is a refusal of a webhook that is not authenticated: 401,
// with why. An unknown repo reads as one without a secret, so a caller
// learns no more than that no secret holds.
func notVerified(reason string) error {
	return &schema.Error{Kind: schema.KindUnauthenticated, Message: "webhook refused",
		Problems: []schema.Problem{{Path: "/", Reason: reason}}}
}

// noSecret is the reason for a repo without a webhook secret, or none.
const noSecret = "no webhook secret is set for this repo (or there is no such repo)"

// hook serves POST /fleet/hooks/{repo}: a push event, verified against
// the repo's webhook secret, fetches the repo's branch when the push was
// to it, and records the revision (or why it failed) in the repo's
// state. It answers after the fetch: {"fetched": true, "revision": …}.
func hook(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	m := gitsource.MetricsFor(h.Metrics())
	source := r.RemoteAddr
	if host, _, err := net.SplitHostPort(source); err == nil {
		source = host
	}
	if wait := hookSources.Allow(source); wait > 0 {
		m.Webhooks.WithLabelValues("refused").Inc()
		secs := int64(wait.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		return schema.Errorf(schema.KindUnavailable, r.URL.Path, "too many webhooks from this address; retry in %d s", secs)
	}
	if r.ContentLength > MaxHookBody {
		m.Webhooks.WithLabelValues("refused").Inc()
		return schema.Errorf(schema.KindTooLarge, "/", "a webhook body is at most %d bytes", MaxHookBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxHookBody))
	if err != nil {
		m.Webhooks.WithLabelValues("refused").Inc()
		return schema.Errorf(schema.KindTooLarge, "/", "a webhook body is at most %d bytes", MaxHookBody)
	}
	fs := set(h)
	id := r.PathValue("repo")
	path := gitsource.RepoPath(fs, id)
	h.Touch(r, path)
	o, ok := h.Engine().Snapshot().Get(gitsource.RepoKey(fs, id))
	if !ok {
		m.Webhooks.WithLabelValues("refused").Inc()
		return notVerified(noSecret)
	}
	ref, _ := o.Data["webhook-secret"].(string)
	if ref == "" {
		m.Webhooks.WithLabelValues("refused").Inc()
		return notVerified(noSecret)
	}
	secrets := gitsource.Secrets{Meta: h.Engine().Meta()}
	secret, ok, err := secrets.Get(ref)
	if err != nil {
		return err
	}
	if !ok {
		m.Webhooks.WithLabelValues("refused").Inc()
		return notVerified(noSecret)
	}
	provider, err := gitsource.Verify(r.Header, body, secret)
	if err != nil {
		m.Webhooks.WithLabelValues("refused").Inc()
		return notVerified(err.Error())
	}
	src := gitsource.SourceOf(o)
	branch, isPush := gitsource.PushedBranch(body)
	switch {
	case src.Revision != "":
		m.Webhooks.WithLabelValues("ignored").Inc()
		return h.WriteJSON(w, http.StatusAccepted, map[string]any{"fetched": false, "provider": provider, "reason": "the repo is pinned to revision " + src.Revision})
	case !isPush || branch != src.Branch:
		m.Webhooks.WithLabelValues("ignored").Inc()
		return h.WriteJSON(w, http.StatusAccepted, map[string]any{"fetched": false, "provider": provider,
			"reason": "not a push to branch " + src.Branch + ", the branch the repo follows"})
	}
	m.Webhooks.WithLabelValues("fetched").Inc()
	res, err := gitsource.ReposFor(h.Engine(), m).Fetch(r.Context(), id, o, "webhook")
	if err != nil {
		return err
	}
	if res.Err != nil {
		return h.WriteJSON(w, http.StatusOK, map[string]any{"fetched": false, "provider": provider, "error": res.Err.Error()})
	}
	return h.WriteJSON(w, http.StatusOK, map[string]any{"fetched": true, "provider": provider, "revision": res.Revision})
}
