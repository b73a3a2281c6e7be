package rocapi

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/tenant"
)

// bulkPatch implements aether-roc-api's PATCH /aether-roc-api: Updates
// and Deletes for any number of enterprises, applied as ONE transaction.
//
//	{"default-target": "acme",
//	 "Updates": {"site-2.1.0": [{…, "additionalProperties": {"enterprise-id": "x"}}], …},
//	 "Deletes": {…same shape…},
//	 "Extensions": {"transaction-strategy-111": 1, "model-version-101": "2.1.x", "model-type-102": "Aether"}}
func bulkPatch(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	if !mayWriteSomewhere(h, r) {
		return h.Authorize(r, auth.Write, "/"+Name) // refused before the body is read
	}
	top, dry, err := h.ReadObject(r, "a JSON object with default-target, Updates, Deletes and Extensions")
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
			es, err := elementEdits(h, r, section, elemName, elems[elemName], defTarget, &probs)
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
	return h.Commit(w, r, dry, edits)
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
func elementSet(sch *schema.Schema, name string) (*schema.ModelSet, *schema.Node, string) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return nil, nil, "element names are <list>-<model version>, e.g. site-2.1.0"
	}
	list, ver := name[:i], name[i+1:]
	for _, set := range sch.Sets {
		if !set.HasCompat(Name) {
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

func elementEdits(h compat.Host, r *http.Request, section, elemName string, v any, defTarget string, probs *schema.Problems) ([]config.Edit, error) {
	epath := "/" + section + "/" + elemName
	set, list, why := elementSet(h.Schema(), elemName)
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
			if t, ok := ap[tenant.IDField].(string); ok && t != "" {
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
		h.Touch(r, ed.Loc.REST())
		if err := h.Authorize(r, auth.Write, ed.Loc.REST()); err != nil {
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

// mayWriteSomewhere reports whether the caller may write the configuration
// of at least one enterprise. PATCH /aether-roc-api names its targets only
// in its body, so a caller who may write none (a member, a state writer)
// is refused before the body is read; every edit is still authorized on
// its own path once the body is decoded.
func mayWriteSomewhere(h compat.Host, r *http.Request) bool {
	if h.Allowed(r, auth.Write, "/"+Name) {
		return true // an operator
	}
	for _, t := range h.Engine().Snapshot().Targets() {
		id, _ := t.Data[tenant.IDField].(string)
		for _, set := range h.Schema().Sets {
			if h.Allowed(r, auth.Write, schema.RESTPrefix(set, id)) {
				return true
			}
		}
	}
	return false
}
