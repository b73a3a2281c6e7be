// Package migrate converts the objects of one version of a model set into
// objects of another (the book's chapter 5 leaves online migration open;
// docs/models.md, "Migrations").
//
// A conversion is declared in the newer version's descriptor
// (migrate-from: renames, which the engine can apply to sets loaded with
// --models, without Go code), registered in Go with Register for what a
// declaration cannot express, or both: the declared renames run first,
// then the Go conversion. Either way it works one stored object at a time
// (a list entry with its leaves and containers; child entries are objects
// of their own), and the result is checked against the target version's
// schema, so a value the new version cannot hold is refused naming the
// object and the leaf.
//
// The package knows nothing of storage or transactions: internal/config
// moves the objects, as one transaction, with a Plan.
package migrate

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/amp-edge/amp/internal/schema"
)

// Object is one stored object being converted. A conversion may change
// Data in place (it is the plan's copy, never the stored one).
type Object struct {
	// Path is the schema path of the object's node in the version being
	// converted from, e.g. "/rack" or "/site/device" ("/" for a root
	// object, which holds a set's top-level leaves).
	Path string
	// Data holds the object's leaves and containers by name (canonical
	// values, see package schema); child list entries are not in it.
	Data map[string]any
}

// Func converts one object from one version of a set to another.
type Func func(o *Object) error

var (
	mu       sync.RWMutex
	registry = map[string]Func{}
)

func regKey(set, from, to string) string { return set + " " + from + " " + to }

// Register makes f the Go conversion of set from version from to version
// to. It is meant for init functions beside a set's code; registering the
// same conversion twice panics, as a duplicate would silently win.
func Register(set, from, to string, f Func) {
	mu.Lock()
	defer mu.Unlock()
	k := regKey(set, from, to)
	if _, dup := registry[k]; dup {
		panic(fmt.Sprintf("migrate: conversion of %s %s to %s registered twice", set, from, to))
	}
	registry[k] = f
}

// registered returns the Go conversion of set from → to, if any.
func registered(set, from, to string) Func {
	mu.RLock()
	defer mu.RUnlock()
	return registry[regKey(set, from, to)]
}

// rename is one declared rename inside an object: the member path old
// (relative to the object, e.g. ["height"]) becomes new.
type rename struct{ old, new []string }

// Plan converts objects of From into objects of To.
type Plan struct {
	From, To *schema.ModelSet
	renames  map[string][]rename // by the object's schema path in From
	fn       Func
	// back marks a plan made by Back, for reading: what To lacks is
	// dropped (an older version cannot show a newer one's additions)
	// instead of refusing the object.
	back bool
}

// For returns the plan that converts set's objects from version from to
// version to: both must be loaded, and a conversion must be declared (in
// to's descriptor) or registered. A declared rename that names no node,
// a list, a key, or crosses objects is refused here, before any data.
func For(sch *schema.Schema, set, from, to string) (*Plan, error) {
	if from == to {
		return nil, fmt.Errorf("from and to are both %s", from)
	}
	fs, ts := sch.Set(set, from), sch.Set(set, to)
	for _, v := range []struct {
		ms      *schema.ModelSet
		version string
	}{{fs, from}, {ts, to}} {
		if v.ms == nil {
			if sch.Set(set, "") == nil {
				return nil, fmt.Errorf("model set %q is not loaded", set)
			}
			return nil, fmt.Errorf("version %s of model set %s is not loaded (loaded: %s)", v.version, set, strings.Join(versions(sch, set), ", "))
		}
	}
	p := &Plan{From: fs, To: ts, renames: map[string][]rename{}, fn: registered(set, from, to)}
	declared := false
	for _, mf := range ts.MigrateFrom {
		if mf.Version != from {
			continue
		}
		declared = true
		olds := make([]string, 0, len(mf.Rename))
		for old := range mf.Rename {
			olds = append(olds, old)
		}
		sort.Strings(olds)
		for _, old := range olds {
			objPath, rn, err := p.resolveRename(old, mf.Rename[old])
			if err != nil {
				return nil, fmt.Errorf("%s %s modelset.yaml: migrate-from %s: rename %s: %w", set, to, from, old, err)
			}
			p.renames[objPath] = append(p.renames[objPath], rn)
		}
	}
	if !declared && p.fn == nil {
		return nil, fmt.Errorf("no migration of %s from %s to %s: declare one in %s %s's modelset.yaml (migrate-from) or register one in Go (migrate.Register)", set, from, to, set, to)
	}
	return p, nil
}

// Back returns the plan that converts set's objects of version to back
// into version from, so that from can still be read after its objects
// were migrated to to: the declared renames reversed, then the Go
// conversion registered from to to from (Register(set, to, from, …)).
// A migration that needs Go code one way and has none registered the
// other has no way back, and Back says so. The converted objects are
// for reading: members and objects from has no node for are dropped.
func Back(sch *schema.Schema, set, from, to string) (*Plan, error) {
	fwd, err := For(sch, set, from, to)
	if err != nil {
		return nil, err
	}
	p := &Plan{From: fwd.To, To: fwd.From, renames: map[string][]rename{}, fn: registered(set, to, from), back: true}
	if fwd.fn != nil && p.fn == nil {
		return nil, fmt.Errorf("no conversion back from %s %s to %s: the migration converts in Go, and none is registered back (migrate.Register(%q, %q, %q, …))", set, to, from, set, to, from)
	}
	for objPath, rns := range fwd.renames { // a rename stays in its object, whose path both versions share
		for _, rn := range rns {
			p.renames[objPath] = append(p.renames[objPath], rename{old: rn.new, new: rn.old})
		}
	}
	return p, nil
}

func versions(sch *schema.Schema, set string) []string {
	var vs []string
	for _, ms := range sch.Sets {
		if ms.Name == set {
			vs = append(vs, ms.Version)
		}
	}
	return vs
}

// nodeAt walks a schema path ("rack/height") from a set's root.
func nodeAt(ms *schema.ModelSet, path string) *schema.Node {
	n := ms.Root
	for _, name := range strings.Split(strings.Trim(path, "/"), "/") {
		if n = n.Child(name); n == nil {
			return nil
		}
	}
	return n
}

// resolveRename checks one declared rename against both versions.
func (p *Plan) resolveRename(old, new string) (string, rename, error) {
	on, nn := nodeAt(p.From, old), nodeAt(p.To, new)
	switch {
	case on == nil:
		return "", rename{}, fmt.Errorf("no node %s in %s %s", old, p.From.Name, p.From.Version)
	case nn == nil:
		return "", rename{}, fmt.Errorf("no node %s in %s %s", new, p.To.Name, p.To.Version)
	case on.Kind == schema.List || nn.Kind == schema.List:
		return "", rename{}, fmt.Errorf("a list cannot be renamed (its entries are objects of their own)")
	case on.IsKey() || nn.IsKey():
		return "", rename{}, fmt.Errorf("a key leaf cannot be renamed (it is part of the storage key)")
	case on.ObjectNode().SchemaPath() != nn.ObjectNode().SchemaPath():
		return "", rename{}, fmt.Errorf("%s and %s lie in different objects: a rename stays inside its list entry", old, new)
	}
	return on.ObjectNode().SchemaPath(), rename{old: on.InObject(), new: nn.InObject()}, nil
}

// Convert turns one object of From (its node and data) into the node and
// data of the same object in To. The stored data is not modified. An
// error names the member and the reason; the caller names the object.
// A plan made by Back returns a nil node for an object To has no node
// for (it cannot be read in To).
func (p *Plan) Convert(n *schema.Node, data map[string]any) (*schema.Node, map[string]any, error) {
	path := n.SchemaPath()
	o := &Object{Path: path, Data: cloneMap(data)}
	for _, rn := range p.renames[path] {
		if v, ok := take(o.Data, rn.old); ok {
			put(o.Data, rn.new, v)
		}
	}
	if p.fn != nil {
		if err := p.fn(o); err != nil {
			return nil, nil, err
		}
	}
	tn := p.To.Root
	if path != "/" {
		tn = nodeAt(p.To, path)
	}
	if tn == nil || tn.Kind != n.Kind {
		if p.back {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("%s %s has no %s %s for it", p.To.Name, p.To.Version, n.Kind, path)
	}
	if err := check(tn, o.Data, "", p.back); err != nil {
		return nil, nil, err
	}
	return tn, o.Data, nil
}

// check re-reads every value of data as the target version's type, in
// place (a type may change between versions, e.g. a narrower range), and
// refuses members the target version does not have (drops them, when
// converting back for reading).
func check(n *schema.Node, data map[string]any, prefix string, drop bool) error {
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c, v := n.Child(name), data[name]
		switch {
		case c == nil && drop:
			delete(data, name)
		case c == nil:
			return fmt.Errorf("%s%s: %s %s has no such node (declare a rename, or convert it in Go)", prefix, name, n.Set.Name, n.Set.Version)
		case c.Kind == schema.Container:
			m, _ := v.(map[string]any)
			if err := check(c, m, prefix+name+"/", drop); err != nil {
				return err
			}
		case c.Kind == schema.Leaf:
			x, err := c.Type.Parse(schema.Format(v))
			if err != nil {
				return fmt.Errorf("%s%s: %v", prefix, name, err)
			}
			data[name] = x
		case c.Kind == schema.LeafList:
			l, _ := v.([]any)
			out := make([]any, len(l))
			for i, e := range l {
				x, err := c.Type.Parse(schema.Format(e))
				if err != nil {
					return fmt.Errorf("%s%s[%d]: %v", prefix, name, i, err)
				}
				out[i] = x
			}
			data[name] = out
		default:
			return fmt.Errorf("%s%s: a %s is not object data", prefix, name, c.Kind)
		}
	}
	return nil
}

// take removes and returns the value at path in m, and the containers
// on the way that it leaves empty.
func take(m map[string]any, path []string) (any, bool) {
	if len(path) == 1 {
		v, ok := m[path[0]]
		delete(m, path[0])
		return v, ok
	}
	c, ok := m[path[0]].(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := take(c, path[1:])
	if len(c) == 0 {
		delete(m, path[0])
	}
	return v, ok
}

// put sets the value at path in m, creating containers on the way.
func put(m map[string]any, path []string, v any) {
	for _, name := range path[:len(path)-1] {
		c, ok := m[name].(map[string]any)
		if !ok {
			c = map[string]any{}
			m[name] = c
		}
		m = c
	}
	m[path[len(path)-1]] = v
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			out[k] = cloneMap(x)
		case []any:
			out[k] = append([]any(nil), x...)
		default:
			out[k] = v
		}
	}
	return out
}
