package rest

import (
	"net/http"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// stateWrite serves PUT|PATCH|DELETE /state/{prefix}/v{version}/{enterprise}/…
// (/state/{prefix}/v{version}/… for a global set): the ingestion path for
// backends, agents and AMP's controllers to report operational state
// (config false subtrees, e.g. a device's state). It is read back through
// the ordinary model paths, merged into the object. It is not versioned:
// no transaction, no history.
func (s *Server) stateWrite(w http.ResponseWriter, r *http.Request) error {
	route, err := s.sch.ParseRoute(r.URL.EscapedPath())
	if err != nil {
		return err
	}
	if route.Set == nil || len(route.Data) == 0 {
		return schema.Errorf(schema.KindNotFound, r.URL.Path, "use /state/{set}/v{version}/[{tenant}/]… down to a state node")
	}
	set, target := route.Set, route.Tenant
	info(r.Context()).set = set
	loc, err := route.Resolve()
	if err != nil {
		return err
	}
	// Reporting state is for machines acting for the operator.
	if err := s.authorize(r, auth.Admin, "/state"+loc.REST()); err != nil {
		return err
	}
	if !set.Global() && !s.eng.Snapshot().TargetExists(target) {
		return tenantMissing(set, target)
	}
	op := config.OpDelete
	var val any
	if r.Method != http.MethodDelete {
		op = config.OpReplace
		if r.Method == http.MethodPatch {
			op = config.OpMerge
		}
		body, err := readJSON(r)
		if err != nil {
			return err
		}
		val, err = schema.DecodeJSON(loc.Node, body, loc.REST(), false, schema.DecodeOptions{AllowState: true, NullDeletes: op == config.OpMerge})
		if err != nil {
			return err
		}
	}
	if err := s.eng.SetState(r.Context(), loc, op, val); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
