package rest

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// maxBatchEdits bounds the edits of one POST /transactions: a basket is
// what a person staged; bulk loads have their own routes (imports, the
// compatibility layers' bulk writes) with their own limits.
const maxBatchEdits = 1000

// batch serves POST /transactions: edits of several objects, of any model
// sets and tenants, committed as ONE transaction (or, with ?dry-run=true,
// checked and answered with their changes). It is what a basket commits
// (the portal's, docs/portal.md): each edit is a model write as PATCH,
// PUT or DELETE of its path would be, with that path's own If-Match, so
// a change made to one staged object since it was read refuses the whole
// transaction with 412 naming that object.
//
//	{"edits": [{"op": "patch", "path": "/workload/v1.0.0/acme/deployment/web",
//	            "value": {"replicas": 3}, "if-match": "\"42\""},
//	           {"op": "delete", "path": "/workload/v1.0.0/starbucks/deployment/old"}]}
//
// Every path is authorized for a write as a write of that path alone
// would be; any refusal refuses the whole request.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) error {
	dry, err := queryBool(r, "dry-run")
	if err != nil {
		return err
	}
	wo, err := parseWait(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	top, ok := body.(map[string]any)
	if !ok {
		return schema.Errorf(schema.KindInvalid, "/", `expected {"edits": [{"op", "path", "value", "if-match"}, …]}`)
	}
	for k := range top {
		if k != "edits" {
			return schema.Errorf(schema.KindInvalid, "/"+k, "unknown field %q (expected edits)", k)
		}
	}
	raw, ok := top["edits"].([]any)
	switch {
	case !ok:
		return schema.Errorf(schema.KindInvalid, "/edits", "must be an array of edits")
	case len(raw) == 0:
		return schema.Errorf(schema.KindInvalid, "/edits", "no edits: a transaction changes something")
	case len(raw) > maxBatchEdits:
		return schema.Errorf(schema.KindInvalid, "/edits", "%d edits; at most %d a transaction", len(raw), maxBatchEdits)
	}
	edits := make([]config.Edit, 0, len(raw))
	for i, e := range raw {
		ed, err := s.batchEdit(r, "/edits/"+strconv.Itoa(i), e)
		if err != nil {
			return err
		}
		edits = append(edits, ed)
	}
	res, err := s.eng.Submit(r.Context(), s.request(r, dry, edits...))
	if err != nil {
		return err
	}
	return s.respondWrite(w, r, wo, res, http.StatusOK)
}

// batchEdit reads edit at (its position in the body, for the refusal),
// resolves and authorizes its path, and decodes its value as the model
// route decodes the body of the same method.
func (s *Server) batchEdit(r *http.Request, at string, e any) (config.Edit, error) {
	m, ok := e.(map[string]any)
	if !ok {
		return config.Edit{}, schema.Errorf(schema.KindInvalid, at, "must be an object with op, path and (except for delete) value")
	}
	for k := range m {
		switch k {
		case "op", "path", "value", "if-match":
		default:
			return config.Edit{}, schema.Errorf(schema.KindInvalid, at+"/"+k, "unknown field %q (expected op, path, value, if-match)", k)
		}
	}
	op, _ := m["op"].(string)
	path, _ := m["path"].(string)
	if op != "patch" && op != "put" && op != "delete" {
		return config.Edit{}, schema.Errorf(schema.KindInvalid, at+"/op", "%v is not patch, put or delete", m["op"])
	}
	route, err := s.sch.ParseRoute(path)
	if err != nil {
		return config.Edit{}, err
	}
	if route.Kind != schema.RouteModel || route.Set == nil {
		return config.Edit{}, schema.Errorf(schema.KindInvalid, at+"/path", "%q is not a configuration path of a loaded model set, like /{set}/v{version}/{tenant}/site/s1", path)
	}
	for _, l := range compat.Of(s.compat, route.Set) {
		if l.CheckTenant != nil && !route.Set.Global() {
			if err := l.CheckTenant(path, route.Tenant); err != nil {
				return config.Edit{}, err
			}
		}
	}
	loc, err := schema.Resolve(route.Set, route.Tenant, route.Data)
	if err != nil {
		return config.Edit{}, err
	}
	info(r.Context()).touch(loc.REST())
	if err := s.authorize(r, auth.Write, loc.REST()); err != nil {
		return config.Edit{}, err
	}
	if !loc.Node.Config {
		return config.Edit{}, schema.Errorf(schema.KindInvalid, loc.REST(), "%q is read-only operational state", loc.Node.Name)
	}
	ed := config.Edit{Loc: loc}
	if tag, ok := m["if-match"]; ok {
		txt, _ := tag.(string)
		v, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(strings.TrimSpace(txt), "W/"), `"`), 10, 64)
		if err != nil {
			return config.Edit{}, schema.Errorf(schema.KindInvalid, at+"/if-match", "%v is not an ETag from this API", tag)
		}
		ed.IfMatch = &v
	}
	if op == "delete" {
		if _, ok := m["value"]; ok {
			return config.Edit{}, schema.Errorf(schema.KindInvalid, at+"/value", "a delete takes no value")
		}
		ed.Op = config.OpDelete
		return ed, nil
	}
	v, ok := m["value"]
	if !ok {
		return config.Edit{}, schema.Errorf(schema.KindInvalid, at+"/value", "a %s needs a value", op)
	}
	opts := schema.DecodeOptions{OmitKeysOK: true}
	ed.Op = config.OpReplace
	if op == "patch" {
		opts.NullDeletes = true // a JSON merge patch (RFC 7386), as PATCH
		ed.Op = config.OpMerge
	}
	if ed.Value, err = schema.DecodeJSON(loc.Node, v, loc.REST(), !loc.Collection, opts); err != nil {
		return config.Edit{}, err
	}
	return ed, nil
}
