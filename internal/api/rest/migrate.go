package rest

import (
	"net/http"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/schema/migrate"
)

// migrateSet implements POST /models/{set}/migrate?from=&to=[&dry-run=true]:
// every object of version from of the set is converted into version to
// and moved there, as ONE transaction (docs/models.md, "Migrations"). An
// admin action: the policy gives it to operators only. A dry run answers
// the changes and commits nothing; a conversion that fails names the
// object and the reason and migrates nothing.
func (s *Server) migrateSet(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("set")
	path := "/models/" + schema.EscapeSegment(name) + "/migrate"
	if err := s.authorize(r, auth.Admin, path); err != nil {
		return err
	}
	dry, err := queryBool(r, "dry-run")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	for _, p := range []struct{ name, v string }{{"from", from}, {"to", to}} {
		if p.v == "" {
			return schema.Errorf(schema.KindInvalid, "?"+p.name, "%s is required: the version to migrate %s", p.name, p.name)
		}
	}
	if s.sch.Set(name, "") == nil {
		return schema.Errorf(schema.KindNotFound, path, "model set %q is not loaded", name)
	}
	for _, p := range []struct{ name, v string }{{"from", from}, {"to", to}} {
		if s.sch.Set(name, p.v) == nil {
			return schema.Errorf(schema.KindNotFound, "?"+p.name, "version %s of model set %s is not loaded", p.v, name)
		}
	}
	plan, err := migrate.For(s.sch, name, from, to)
	if err != nil {
		return schema.Errorf(schema.KindInvalid, path, "%v", err)
	}
	// The audit record names the action and both versions (its sets).
	in := info(r.Context())
	in.touch(path)
	in.touch(schema.RESTBase(plan.From))
	in.touch(schema.RESTBase(plan.To))
	req := s.request(r, dry)
	req.Migrate = plan
	req.Source = "migrate"
	if req.Message == "" {
		req.Message = strings.Join([]string{"migrate", name, from, "to", to}, " ")
	}
	start := time.Now()
	res, err := s.eng.Submit(r.Context(), req)
	if err != nil {
		return err
	}
	if !res.DryRun {
		s.log.InfoContext(r.Context(), "model set migrated", "set", name, "from", from, "to", to, "index", res.Index,
			"duration_ms", time.Since(start).Milliseconds(), "principal", principalName(r.Context()))
	}
	if res.DryRun {
		return writeJSON(w, http.StatusOK, map[string]any{"dry-run": true, "changes": nonNil(res.Changes)})
	}
	setTxnHeaders(w, r, res)
	res.Changes = nonNil(res.Changes) // see GET /transactions/{index}
	return writeJSON(w, http.StatusOK, res)
}
