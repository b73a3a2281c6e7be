package config

import (
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/schema"
)

// TargetExists reports whether the target (enterprise) exists.
func (s *Snapshot) TargetExists(name string) bool {
	_, ok := s.Get(targetPrefix + name)
	return ok
}

// Target returns a target's record.
func (s *Snapshot) Target(name string) (*Object, bool) { return s.Get(targetPrefix + name) }

// Targets returns every target record in name order.
func (s *Snapshot) Targets() []*Object {
	var out []*Object
	s.view().scan(targetPrefix, func(o *Object) bool {
		out = append(out, o)
		return true
	})
	return out
}

// Entries calls fn for the entries of a list below an object (objKey plus
// the containers in inner), in key order, starting after the entry whose key
// segments are after ("" = from the first).
func (s *Snapshot) Entries(objKey string, inner []string, list *schema.Node, after string, fn func(*Object) bool) {
	prefix := listPrefix(objKey, inner, list)
	v := s.view()
	it := v.t.Root().Iterator()
	if after != "" {
		it.SeekLowerBound([]byte(prefix + after + "\x00"))
	} else {
		it.SeekPrefix([]byte(prefix))
	}
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		key := string(k)
		if !strings.HasPrefix(key, prefix) {
			return
		}
		if strings.Count(key[len(prefix):], "/") != len(list.Keys)-1 {
			continue
		}
		if !fn(o) {
			return
		}
	}
}

// EntrySegments returns the key segments of an entry object (its key after
// the list prefix), usable as a paging token.
func EntrySegments(o *Object) string {
	n := len(o.Node.Keys)
	k := o.Key
	idx := len(k)
	for i := 0; i < n; i++ {
		idx = strings.LastIndexByte(k[:idx], '/')
	}
	return k[idx+1:]
}

// Tree assembles an object and everything below it into one canonical tree
// (child lists as []any), and returns the subtree's version: the newest
// Modified index in it.
func (s *Snapshot) Tree(o *Object) (map[string]any, uint64) {
	return s.view().tree(o)
}

func (v *view) tree(o *Object) (map[string]any, uint64) {
	ver := o.Modified
	data := v.fill(o, o.Node, withState(o, v.state), nil, &ver)
	return data, ver
}

// fill copies one level of object data and adds the child lists found under
// it.
func (v *view) fill(o *Object, n *schema.Node, data map[string]any, inner []string, ver *uint64) map[string]any {
	out := make(map[string]any, len(data)+2)
	for k, val := range data {
		out[k] = val
	}
	for _, c := range n.Children {
		switch c.Kind {
		case schema.Container:
			sub, _ := data[c.Name].(map[string]any)
			filled := v.fill(o, c, sub, append(append([]string{}, inner...), c.Name), ver)
			if len(filled) > 0 {
				out[c.Name] = filled
			}
		case schema.List:
			var items []any
			v.entries(listPrefix(o.Key, inner, c), c, func(e *Object) bool {
				t, ev := v.tree(e)
				if ev > *ver {
					*ver = ev
				}
				items = append(items, t)
				return true
			})
			if len(items) > 0 {
				out[c.Name] = items
			}
		}
	}
	return out
}

// RootObject returns the root object of a target in a model set (it exists
// implicitly).
func (s *Snapshot) RootObject(set *schema.ModelSet, target string) *Object {
	return s.view().rootObject(set, target)
}

// Object returns the object at a location's ObjectKey (the root is
// synthesised).
func (s *Snapshot) Object(loc *schema.Location) (*Object, bool) {
	if loc.Object.Kind == schema.Root {
		return s.RootObject(loc.Set, loc.Tenant), true
	}
	return s.Get(loc.ObjectKey)
}

// LeafrefValues returns the values a leafref leaf at loc may take, evaluated
// from its entry as it is now (or as it would be, for an entry that does not
// exist yet).
func (s *Snapshot) LeafrefValues(loc *schema.Location) ([]string, error) {
	v := s.view()
	obj, ok := s.Object(loc)
	if !ok {
		// A new entry, maybe inside new entries: evaluate from stand-ins
		// with just their keys.
		obj = &Object{Key: loc.ObjectKey, Node: loc.Object, Data: withKeys(loc.Object, map[string]any{}, loc.Keys)}
		v.standIns(obj)
	}
	d := v.node(obj).descend(loc.Inner[:len(loc.Inner)-1])
	if d == nil {
		d = v.node(obj)
		for _, name := range loc.Inner[:len(loc.Inner)-1] {
			d = &dnode{v: v, obj: obj, sch: d.sch.Child(name), data: map[string]any{}, inner: append(append([]string{}, d.inner...), name), parent: d}
		}
	}
	leaf := &dnode{v: v, obj: obj, sch: loc.Node, inner: d.inner, parent: d}
	nodes, err := schema.EvalNodes(loc.Node.Type.Leafref, leaf)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []string{}
	for _, n := range nodes {
		s := schema.Format(n.Value())
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out, nil
}

// RefChoices returns the entries an ampx:refers-to leaf at loc may name,
// in order, and the REST path of the list they come from, so that the
// caller can show them only to a reader the policy lets see that list.
// A global object that names no tenant yet has no choices in a tenant set
// (path "").
func (s *Snapshot) RefChoices(loc *schema.Location) (string, []string) {
	r := loc.Node.Ref
	obj, ok := s.Object(loc)
	if !ok {
		obj = &Object{Key: loc.ObjectKey, Node: loc.Object}
	}
	out := []string{}
	tenant, ok := refTenant(obj, r)
	if !ok {
		return "", out
	}
	root := schema.RootKey(r.Set, tenant)
	s.Entries(root, r.Containers, r.List, "", func(o *Object) bool {
		out = append(out, schema.Format(o.Data[r.Key.Name]))
		return true
	})
	sort.Strings(out)
	return schema.RESTPathOfKey(r.Set, root, r.Containers, true, r.List), out
}
