package rest

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// topLevelPatch implements aether-roc-api's PATCH /aether-roc-api: Updates
// and Deletes for any number of enterprises, applied as ONE transaction.
//
//	{"default-target": "acme",
//	 "Updates": {"site-2.1.0": [{…, "additionalProperties": {"enterprise-id": "x"}}], …},
//	 "Deletes": {…same shape…},
//	 "Extensions": {"transaction-strategy-111": 1, "model-version-101": "2.1.x", "model-type-102": "Aether"}}
func (s *Server) topLevelPatch(w http.ResponseWriter, r *http.Request) error {
	if !s.mayWriteSomewhere(r) {
		return s.authorize(r, auth.Write, "/aether-roc-api") // refused before the body is read
	}
	top, dry, err := readObject(r, "a JSON object with default-target, Updates, Deletes and Extensions")
	if err != nil {
		return err
	}
	var probs schema.Problems
	defTarget := ""
	for k, v := range top {
		switch k {
		case "default-target":
			s, ok := v.(string)
			if !ok {
				probs.Add("/default-target", "must be a string")
			}
			defTarget = s
		case "Updates", "Deletes":
			if _, ok := v.(map[string]any); !ok && v != nil {
				probs.Add("/"+k, "must be an object keyed by <list>-<model version>, e.g. site-2.1.0")
			}
		case "Extensions":
			if err := checkExtensions(v); err != nil {
				probs.Add("/Extensions", "%v", err)
			}
		default:
			probs.Add("/"+k, "unknown field %q (expected default-target, Updates, Deletes, Extensions)", k)
		}
	}
	if err := probs.Err(); err != nil {
		return err
	}
	var edits []config.Edit
	for _, section := range []string{"Updates", "Deletes"} {
		elems, _ := top[section].(map[string]any)
		names := make([]string, 0, len(elems))
		for k := range elems {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, elemName := range names {
			es, err := s.elementEdits(r, section, elemName, elems[elemName], defTarget, &probs)
			if err != nil {
				return err
			}
			edits = append(edits, es...)
		}
	}
	if err := probs.Err(); err != nil {
		return err
	}
	// An empty basket (Aether's GUI committing nothing) is a write that
	// changes nothing: answered with the current index, recorded nowhere.
	wo, err := parseWait(r)
	if err != nil {
		return err
	}
	res, err := s.eng.Submit(r.Context(), s.request(r, dry, edits...))
	if err != nil {
		return err
	}
	return s.respondWrite(w, r, wo, res, http.StatusOK)
}

// readObject reads a write's ?dry-run flag and its JSON object body.
func readObject(r *http.Request, want string) (map[string]any, bool, error) {
	dry, err := queryBool(r, "dry-run")
	if err != nil {
		return nil, false, err
	}
	body, err := readJSON(r)
	if err != nil {
		return nil, false, err
	}
	m, ok := body.(map[string]any)
	if !ok {
		return nil, false, schema.Errorf(schema.KindInvalid, "/", "expected %s", want)
	}
	return m, dry, nil
}

func checkExtensions(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return nil
		}
		return schema.Errorf(schema.KindInvalid, "/Extensions", "must be an object")
	}
	for k, x := range m {
		switch k {
		case "transaction-strategy-111":
			if n := schema.Format(x); n != "0" && n != "1" && n != "" {
				return schema.Errorf(schema.KindInvalid, "/Extensions/"+k, "must be 0 (async) or 1 (sync)")
			}
		case "model-version-101", "model-type-102":
		default:
			return schema.Errorf(schema.KindInvalid, "/Extensions/"+k, "unknown extension %q", k)
		}
	}
	return nil
}

// elementSet finds the model set and top-level list an element name such
// as "site-2.1.0" refers to.
func (s *Server) elementSet(name string) (*schema.ModelSet, *schema.Node, string) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return nil, nil, "element names are <list>-<model version>, e.g. site-2.1.0"
	}
	list, ver := name[:i], name[i+1:]
	for _, set := range s.sch.Sets {
		if !set.HasCompat(compatROC) {
			continue // PATCH /aether-roc-api writes only the sets that keep its rules
		}
		prefix := strings.TrimSuffix(set.Version, "x")
		if !strings.HasPrefix(ver, prefix) {
			continue
		}
		if n := set.Root.Child(list); n != nil && n.Kind == schema.List {
			return set, n, ""
		}
		return nil, nil, "no top-level list " + list + " in model set " + set.Name + " " + set.Version
	}
	return nil, nil, "model version " + ver + " is not loaded (this server serves the Aether 2.1.x models; 2.0.0 elements such as enterprises-2.0.0 and connectivity-services-2.0.0 were removed in 2.1)"
}

func (s *Server) elementEdits(r *http.Request, section, elemName string, v any, defTarget string, probs *schema.Problems) ([]config.Edit, error) {
	epath := "/" + section + "/" + elemName
	set, list, why := s.elementSet(elemName)
	if set == nil {
		probs.Add(epath, "%s", why)
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		probs.Add(epath, "must be an array of %s entries", list.Name)
		return nil, nil
	}
	var edits []config.Edit
	for i, it := range items {
		ipath := epath + "[" + strconv.Itoa(i) + "]"
		m, ok := it.(map[string]any)
		if !ok {
			probs.Add(ipath, "must be an object")
			continue
		}
		target := defTarget
		if ap, ok := m["additionalProperties"].(map[string]any); ok {
			if t, ok := ap["enterprise-id"].(string); ok && t != "" {
				target = t
			}
		}
		if target == "" {
			probs.Add(ipath, "no enterprise: set default-target or additionalProperties.enterprise-id")
			continue
		}
		if target == "undefined" {
			return nil, schema.Errorf(schema.KindUnprocessable, ipath+"/additionalProperties/enterprise-id", "enterprise id is \"undefined\"")
		}
		root, err := schema.Resolve(set, target, []string{list.Name})
		if err != nil {
			return nil, err
		}
		entryPath := root.REST() + "/" + schema.RawKeyPath(list, m)
		val, err := schema.DecodeJSON(list, m, entryPath, true, schema.DecodeOptions{AdditionalProperties: true, Placeholders: section == "Deletes"})
		if err != nil {
			if collect(probs, err) {
				continue
			}
			return nil, err
		}
		entry := val.(map[string]any)
		keys := make([]string, len(list.Keys))
		for j, k := range list.Keys {
			keys[j] = schema.EscapeSegment(schema.Format(entry[k]))
		}
		if keys[0] == "undefined" {
			return nil, schema.Errorf(schema.KindUnprocessable, ipath+"/"+list.Keys[0], "id is \"undefined\"")
		}
		loc, err := schema.Resolve(set, target, append([]string{list.Name}, keys...))
		if err != nil {
			return nil, err
		}
		if section == "Updates" {
			if err := checkUnchanged(list, entry, loc.REST(), false); err != nil {
				if collect(probs, err) {
					continue
				}
				return nil, err
			}
			edits = append(edits, config.Edit{Op: config.OpMerge, Loc: loc, Value: entry})
			continue
		}
		edits = append(edits, deleteEdits(loc, list, entry)...)
	}
	for _, ed := range edits {
		info(r.Context()).touch(ed.Loc.REST())
		if err := s.authorize(r, auth.Write, ed.Loc.REST()); err != nil {
			return nil, err
		}
	}
	return edits, nil
}

// deleteEdits turns a Deletes element into delete edits, as aether-roc-api
// does: an entry that carries only its keys is deleted whole; otherwise each
// leaf it names is deleted, and nested entries are treated the same way.
func deleteEdits(loc *schema.Location, n *schema.Node, entry map[string]any) []config.Edit {
	var out []config.Edit
	var walk func(loc *schema.Location, n *schema.Node, m map[string]any, inner bool)
	walk = func(loc *schema.Location, n *schema.Node, m map[string]any, inner bool) {
		named := 0
		for _, c := range n.Children {
			v, ok := m[c.Name]
			if !ok || c.IsKey() {
				continue
			}
			named++
			switch c.Kind {
			case schema.Leaf, schema.LeafList:
				out = append(out, config.Edit{Op: config.OpRemove, Loc: sub(loc, c.Name, nil)})
			case schema.Container:
				cm, _ := v.(map[string]any)
				walk(sub(loc, c.Name, nil), c, cm, true)
			case schema.List:
				items, _ := v.([]any)
				for _, it := range items {
					em, _ := it.(map[string]any)
					keys := make([]string, len(c.Keys))
					for j, k := range c.Keys {
						keys[j] = schema.Format(em[k])
					}
					walk(sub(loc, c.Name, keys), c, em, false)
				}
			}
		}
		if named == 0 {
			op := config.OpDelete
			if inner {
				op = config.OpRemove
			}
			out = append(out, config.Edit{Op: op, Loc: loc})
		}
	}
	walk(loc, n, entry, false)
	return out
}

// collect adds a validation error's problems to probs, so one response
// reports every problem in the request; it reports false for other errors.
func collect(probs *schema.Problems, err error) bool {
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindInvalid {
		return false
	}
	probs.List = append(probs.List, se.Problems...)
	return true
}

// sub extends a location by a child (and, for a list, its keys).
func sub(loc *schema.Location, name string, keys []string) *schema.Location {
	segs := schema.SplitPath(strings.TrimPrefix(loc.REST(), schema.RESTPrefix(loc.Set, loc.Tenant)))
	segs = append(segs, name)
	for _, k := range keys {
		segs = append(segs, schema.EscapeSegment(k))
	}
	l, err := schema.Resolve(loc.Set, loc.Tenant, segs)
	if err != nil {
		return loc
	}
	return l
}

// targets answers GET /targets like aether-roc-api: [{"name": …}].
func (s *Server) targets(w http.ResponseWriter, r *http.Request) error {
	out := []map[string]string{}
	for _, t := range s.eng.Snapshot().Targets() {
		name := t.Data["enterprise-id"].(string)
		if s.check(r.Context(), auth.FromContext(r.Context()), auth.Read, "/enterprises/"+name) == nil {
			out = append(out, map[string]string{"name": name})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listEnterprises(w http.ResponseWriter, r *http.Request) error {
	out := []map[string]any{}
	for _, t := range s.eng.Snapshot().Targets() {
		name := t.Data["enterprise-id"].(string)
		if s.check(r.Context(), auth.FromContext(r.Context()), auth.Read, "/enterprises/"+name) == nil {
			out = append(out, t.Data)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getEnterprise(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.authorize(r, auth.Read, "/enterprises/"+id); err != nil {
		return err
	}
	t, ok := s.eng.Snapshot().Target(id)
	if !ok {
		return schema.Errorf(schema.KindNotFound, "/enterprises/"+id, "enterprise %q does not exist", id)
	}
	w.Header().Set("ETag", etag(t.Modified))
	return writeJSON(w, http.StatusOK, t.Data)
}

func (s *Server) createEnterprise(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Admin, "/enterprises"); err != nil {
		return err
	}
	m, dry, err := readObject(r, `{"enterprise-id": …, "display-name": …, "description": …}`)
	if err != nil {
		return err
	}
	var probs schema.Problems
	te := config.TargetEdit{Op: config.OpCreate}
	for k, v := range m {
		sv, isStr := v.(string)
		if !isStr {
			probs.Add("/"+k, "must be a string")
			continue
		}
		switch k {
		case "enterprise-id":
			te.Name = sv
		case "display-name":
			if len(sv) < 1 || len(sv) > 80 {
				probs.Add("/display-name", "must be 1..80 characters")
			}
			te.DisplayName = sv
		case "description":
			if len(sv) < 1 || len(sv) > 1024 {
				probs.Add("/description", "must be 1..1024 characters")
			}
			te.Description = sv
		default:
			probs.Add("/"+k, "unknown field %q", k)
		}
	}
	if te.Name == "" {
		probs.Add("/enterprise-id", "is required")
	}
	if err := probs.Err(); err != nil {
		return err
	}
	req := s.request(r, dry)
	req.Targets = []config.TargetEdit{te}
	res, err := s.eng.Submit(r.Context(), req)
	if err != nil {
		return err
	}
	return respondResult(w, r, res, http.StatusCreated)
}

func (s *Server) deleteEnterprise(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.authorize(r, auth.Admin, "/enterprises/"+id); err != nil {
		return err
	}
	dry, err := queryBool(r, "dry-run")
	if err != nil {
		return err
	}
	req := s.request(r, dry)
	req.Targets = []config.TargetEdit{{Op: config.OpDelete, Name: id}}
	res, err := s.eng.Submit(r.Context(), req)
	if err != nil {
		return err
	}
	if !dry && s.opts.Tokens != nil {
		// Its tokens are dead already (the id is retired, and tokens
		// check that); revoking removes them from the token list, and
		// the deletion's audit record names them.
		revoked, err := s.opts.Tokens.RevokeEnterprise(id)
		if in := info(r.Context()); len(revoked) > 0 {
			in.touch("/enterprises/" + id)
			for _, tid := range revoked {
				in.touch("/tokens/" + tid)
			}
		}
		if err != nil {
			s.log.Error("revoking the tokens of a deleted enterprise failed; they no longer authenticate", "enterprise", id, "error", err)
		}
	}
	return respondResult(w, r, res, http.StatusOK)
}
