package rest

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// host lends a compatibility layer's routes what the server's own routes
// use (compat.Host), so they are authorized, recorded and answered alike.
type host struct{ s *Server }

var _ compat.Host = host{}

func (h host) Schema() *schema.Schema             { return h.s.sch }
func (h host) Engine() *config.Engine             { return h.s.eng }
func (h host) Touch(r *http.Request, path string) { info(r.Context()).touch(path) }

func (h host) Metrics() prometheus.Registerer {
	if h.s.opts.Registry == nil {
		return nil // not a typed nil: the layer tells "none" by == nil
	}
	return h.s.opts.Registry
}

func (h host) Authorize(r *http.Request, action auth.Action, path string) error {
	return h.s.authorize(r, action, path)
}

func (h host) Allowed(r *http.Request, action auth.Action, path string) bool {
	return h.s.check(r.Context(), auth.FromContext(r.Context()), action, path) == nil
}

func (h host) ReadObject(r *http.Request, want string) (map[string]any, bool, error) {
	return readObject(r, want)
}

func (h host) Commit(w http.ResponseWriter, r *http.Request, dry bool, edits []config.Edit) error {
	wo, err := parseWait(r)
	if err != nil {
		return err
	}
	res, err := h.s.eng.Submit(r.Context(), h.s.request(r, dry, edits...))
	if err != nil {
		return err
	}
	return h.s.respondWrite(w, r, wo, res, http.StatusOK)
}

func (h host) ReadJSON(r *http.Request) (any, bool, error) {
	dry, err := queryBool(r, "dry-run")
	if err != nil {
		return nil, false, err
	}
	body, err := readJSON(r)
	return body, dry, err
}

func (h host) Submit(w http.ResponseWriter, r *http.Request, dry bool, edits []config.Edit) (*config.Result, error) {
	res, err := h.s.eng.Submit(r.Context(), h.s.request(r, dry, edits...))
	if err != nil {
		return nil, err
	}
	if !res.DryRun {
		setTxnHeaders(w, r, res)
	}
	return res, nil
}

func (h host) VisibleTransactions(r *http.Request, before uint64, limit int, tenant string) ([]config.TxnInfo, error) {
	return h.s.visibleTransactions(r, before, limit, tenant)
}

func (h host) QueryUint(r *http.Request, name string) (uint64, bool, error) {
	return queryUint(r, name)
}

func (h host) WriteJSON(w http.ResponseWriter, code int, v any) error { return writeJSON(w, code, v) }

func (h host) WriteError(w http.ResponseWriter, r *http.Request, err error) { writeProblem(w, r, err) }

func (h host) Spec(yaml bool) ([]byte, error) {
	if h.s.opts.Spec == nil {
		return nil, compat.ErrNoSpec
	}
	return h.s.opts.Spec(yaml)
}
