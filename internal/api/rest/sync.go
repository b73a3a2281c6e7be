package rest

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/schema"
)

// Syncer answers what the adapters have applied (controller.Group).
type Syncer interface {
	Statuses() []controller.Status
	WaitApplied(ctx context.Context, index uint64) ([]controller.Status, error)
	// Running says, per adapter, whether its controller runs on this
	// replica (with several replicas, statuses are held by that one), and
	// Leaders which replica runs it.
	Running() map[string]bool
	Leaders(ctx context.Context) map[string]string
}

// syncStatus serves GET /sync-status: a summary and the per-object status,
// filtered by ?adapter=, ?status= and ?path= (a REST path of configuration:
// objects derived from it or from anything below it).
func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Read, "/sync-status"); err != nil {
		return err
	}
	q := r.URL.Query()
	prefix := ""
	if p := q.Get("path"); p != "" {
		route, err := s.sch.ParseRoute(p)
		if err != nil {
			return schema.Errorf(schema.KindInvalid, "?path", "%v", err)
		}
		if route.Kind != schema.RouteModel {
			return schema.Errorf(schema.KindInvalid, "?path", "%q is not a configuration path of a loaded model set, like /{set}/v{version}/{tenant}/site/s1", p)
		}
		loc, err := route.Resolve()
		if err != nil {
			return err
		}
		prefix = loc.ObjectKey
	}
	var sts []controller.Status
	running, leaders := map[string]bool{}, map[string]string{}
	if s.opts.Sync != nil {
		sts = s.opts.Sync.Statuses()
		running = s.opts.Sync.Running()
		lctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		leaders = s.opts.Sync.Leaders(lctx)
		cancel()
	}
	summary := map[string]int{controller.InSync: 0, controller.Degraded: 0, controller.Progressing: 0, controller.Pending: 0, controller.Error: 0}
	objs := []controller.Status{}
	for _, st := range sts {
		if a := q.Get("adapter"); a != "" && st.Adapter != a {
			continue
		}
		if prefix != "" && !derived(st.Sources, prefix) {
			continue
		}
		if !s.canSeeSources(r, st.Sources) {
			continue
		}
		summary[st.Status]++
		if f := q.Get("status"); f != "" && st.Status != f {
			continue
		}
		objs = append(objs, st)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"index": s.eng.Snapshot().Index, "summary": summary, "objects": objs,
		"controllers-here": running, "controller-replicas": leaders})
}

// canSeeSources: a status is visible to a caller who may read every
// enterprise its configuration came from.
func (s *Server) canSeeSources(r *http.Request, sources []string) bool {
	return s.canSeeTargets(r, controller.SourceEnterprises(s.sch, sources))
}

func derived(sources []string, prefix string) bool {
	for _, src := range sources {
		if src == prefix || strings.HasPrefix(src, prefix+"/") {
			return true
		}
	}
	return false
}

// waitOption is a write's ?wait= and ?wait-timeout=, parsed before the
// commit so a bad value refuses the request instead of half-answering it.
type waitOption struct {
	applied bool
	timeout time.Duration
}

func parseWait(r *http.Request) (waitOption, error) {
	o := waitOption{timeout: 30 * time.Second}
	switch v := r.URL.Query().Get("wait"); v {
	case "", "committed":
	case "applied":
		o.applied = true
	default:
		return o, schema.Errorf(schema.KindInvalid, "?wait", "%q is not committed or applied", v)
	}
	if t := r.URL.Query().Get("wait-timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 || d > 10*time.Minute {
			return o, schema.Errorf(schema.KindInvalid, "?wait-timeout", "%q is not a duration between 1ms and 10m", t)
		}
		o.timeout = d
	}
	return o, nil
}

// syncVerdict folds object statuses into one answer: pending (the wait
// timed out) wins, then error, then degraded; in-sync only when every
// object is.
func syncVerdict(v string, sts []controller.Status) string {
	for _, st := range sts {
		switch {
		case v == controller.Pending:
		case st.Status == controller.Error:
			v = controller.Error
		case st.Status == controller.Degraded && v == controller.InSync:
			v = controller.Degraded
		}
	}
	return v
}

// respondWrite answers a committed write: at commit (the default), or with
// ?wait=applied once the adapters have applied what this transaction
// changed (or failed), with their statuses. X-AMP-Sync says in-sync, degraded, error
// or pending (the wait timed out; the change stays committed and will be
// applied).
func (s *Server) respondWrite(w http.ResponseWriter, r *http.Request, wo waitOption, res *config.Result, code int) error {
	if !wo.applied || res.DryRun {
		return respondResult(w, r, res, code)
	}
	timeout := wo.timeout
	// The answer comes after the wait: the write deadline starts after it.
	s.limits.extendWrite(w, timeout)
	verdict := controller.InSync
	sts := []controller.Status{}
	if s.opts.Sync != nil {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		got, err := s.opts.Sync.WaitApplied(ctx, res.Index)
		cancel()
		// Later commits of other tenants are waited for too (their objects
		// changed at or after this index); only what the caller may see is
		// shown or counted.
		for _, st := range got {
			if s.canSeeSources(r, st.Sources) {
				sts = append(sts, st)
			}
		}
		if err != nil {
			verdict = controller.Pending
		}
		verdict = syncVerdict(verdict, sts)
	}
	setTxnHeaders(w, r, res)
	w.Header().Set("X-AMP-Sync", verdict)
	return writeJSON(w, code, map[string]any{"id": res.ID, "index": res.Index, "sync": verdict, "objects": sts})
}
