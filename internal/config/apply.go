package config

import (
	"strings"
	"time"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/tenant"
)

// Op is what an edit does at its location.
type Op int

const (
	// OpMerge merges the value into what exists (gNMI update, REST POST,
	// JSON merge patch), creating what is missing.
	OpMerge Op = iota + 1
	// OpReplace makes the location hold exactly the value (gNMI replace,
	// REST PUT): members and child entries not in the value are removed.
	OpReplace
	// OpDelete removes the location; it must exist.
	OpDelete
	// OpRemove removes the location if it exists.
	OpRemove
	// OpCreate is OpMerge that refuses an existing object.
	OpCreate
)

// Edit is one change to one location of one target.
type Edit struct {
	Op    Op
	Loc   *schema.Location
	Value any // decoded tree for Loc.Node (see schema.DecodeJSON)
	// IfMatch, when set, is the version (ETag) the location's subtree must
	// have for the edit to apply.
	IfMatch *uint64
}

// TargetEdit creates, updates or deletes a target (enterprise).
type TargetEdit struct {
	Op          Op // OpCreate, OpMerge or OpDelete
	Name        string
	DisplayName string
	Description string
}

// work is one request being applied on top of a base snapshot.
type work struct {
	e      *Engine
	base   *Snapshot
	txn    *iradix.Txn[*Object]
	index  uint64
	before map[string]*Object // state before the request; nil = absent
	order  []string
	probs  schema.Problems
}

func (w *work) get(key string) (*Object, bool) { return w.txn.Get([]byte(key)) }

func (w *work) touch(key string) {
	if _, seen := w.before[key]; seen {
		return
	}
	o, _ := w.base.Objects.Get([]byte(key))
	w.before[key] = o
	w.order = append(w.order, key)
}

func (w *work) put(o *Object) {
	w.touch(o.Key)
	w.txn.Insert([]byte(o.Key), o)
}

func (w *work) del(key string) {
	w.touch(key)
	w.txn.Delete([]byte(key))
}

// keysUnder lists the keys of objects whose key starts with prefix.
func (w *work) keysUnder(prefix string) []string {
	var keys []string
	it := w.txn.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, _, ok := it.Next(); ok; k, _, ok = it.Next() {
		keys = append(keys, string(k))
	}
	return keys
}

// delTree removes an object and every object below it.
func (w *work) delTree(key string) {
	if _, ok := w.get(key); ok {
		w.del(key)
	}
	for _, k := range w.keysUnder(key + "/") {
		w.del(k)
	}
}

// version is the ETag of a subtree: the newest Modified index in it.
func (w *work) version(key string, prefixOnly bool) uint64 {
	var v uint64
	if !prefixOnly {
		if o, ok := w.get(key); ok {
			v = o.Modified
		}
	}
	it := w.txn.Root().Iterator()
	it.SeekPrefix([]byte(key + "/"))
	for _, o, ok := it.Next(); ok; _, o, ok = it.Next() {
		if o.Modified > v {
			v = o.Modified
		}
	}
	return v
}

func (w *work) targetExists(name string) bool {
	_, ok := w.get(targetPrefix + name)
	return ok
}

func (w *work) applyTarget(te TargetEdit) {
	key := targetPrefix + te.Name
	path := "/enterprises/" + schema.EscapeSegment(te.Name)
	if !tenant.WellFormed(te.Name) {
		w.probs.Add(path, "enterprise id %q must be %s", te.Name, tenant.Syntax)
		return
	}
	old, exists := w.get(key)
	switch te.Op {
	case OpDelete, OpRemove:
		if !exists {
			if te.Op == OpDelete {
				w.notFound(path, "enterprise %q does not exist", te.Name)
			}
			return
		}
		w.del(key)
		// Its objects in every tenant set and version go with it; the
		// global sets' objects are the operator's and stay.
		for _, set := range w.e.schema.Sets {
			if !set.Global() {
				w.delTree(schema.RootKey(set, te.Name))
			}
		}
		return
	case OpCreate:
		if exists {
			w.conflict(path, "enterprise %q already exists", te.Name)
			return
		}
	}
	if !exists {
		if why := tenant.Reserved(te.Name); why != "" {
			w.e.m.idsRefused.WithLabelValues("reserved").Inc()
			w.probs.Add(path, "enterprise id %q is reserved: %s", te.Name, why)
			return
		}
		const never = "ids are never reused, so that no new tenant inherits the history, audit records or tokens of an old one"
		if w.e.Snapshot().TargetExists(te.Name) {
			// Deleted by a transaction of the same group commit.
			w.e.m.idsRefused.WithLabelValues("retired").Inc()
			w.conflict(path, "enterprise %q is being deleted; %s", te.Name, never)
			return
		}
		if r, retired := w.e.retirement(te.Name); retired {
			w.e.m.idsRefused.WithLabelValues("retired").Inc()
			w.conflict(path, "enterprise id %q belonged to an enterprise deleted by transaction %d at %s; %s", te.Name, r.Index, r.Time.Format(time.RFC3339), never)
			return
		}
	}
	data := tenant.Record(te.Name)
	created := w.index
	if exists {
		data = cloneMap(old.Data)
		created = old.Created
	}
	if te.DisplayName != "" {
		data["display-name"] = te.DisplayName
	}
	if te.Description != "" {
		data["description"] = te.Description
	}
	w.put(&Object{Key: key, Data: data, Created: created, Modified: w.index})
}

func (w *work) notFound(path, format string, args ...any) {
	if w.probs.Kind == 0 || w.probs.Kind == schema.KindInvalid && len(w.probs.List) == 0 {
		w.probs.Kind = schema.KindNotFound
	}
	w.probs.Add(path, format, args...)
}

func (w *work) conflict(path, format string, args ...any) {
	if w.probs.Kind == 0 {
		w.probs.Kind = schema.KindConflict
	}
	w.probs.Add(path, format, args...)
}

func (w *work) invalid(path, format string, args ...any) {
	w.probs.Kind = schema.KindInvalid
	w.probs.Add(path, format, args...)
}

// applyEdit applies one edit to the working tree.
func (w *work) applyEdit(ed Edit) {
	loc := ed.Loc
	path := loc.REST()
	if !loc.Set.Global() && !w.targetExists(loc.Tenant) {
		w.notFound(schema.RESTPrefix(loc.Set, loc.Tenant), "enterprise %q does not exist (an operator creates it with POST /enterprises)", loc.Tenant)
		return
	}
	if ed.IfMatch != nil {
		var v uint64
		if loc.Collection {
			v = w.version(strings.TrimSuffix(listPrefix(loc.ObjectKey, loc.Inner, loc.Node), "/"), true)
		} else {
			v = w.version(loc.ObjectKey, false)
		}
		if v != *ed.IfMatch {
			w.probs.Kind = schema.KindPrecondition
			w.probs.Add(path, "the resource is at version %d, not %d: read it again and retry", v, *ed.IfMatch)
			return
		}
	}
	switch {
	case loc.Collection:
		w.applyList(ed, loc.ObjectKey, loc.Inner, loc.Node, path)
	case loc.Node.Kind == schema.List || loc.Node.Kind == schema.Root:
		w.applyObject(ed, loc, path)
	default:
		w.applyInner(ed, loc, path)
	}
}

func listPrefix(objKey string, inner []string, list *schema.Node) string {
	p := objKey
	for _, s := range inner {
		p += "/" + s
	}
	return p + "/" + list.Name + "/"
}

// parentExists reports whether the object that holds key's entry exists.
func (w *work) parentExists(key string, n *schema.Node) bool {
	pnode := n.Parent.ObjectNode()
	if pnode.Kind == schema.Root {
		return true
	}
	pk, _ := parentKey(&Object{Key: key, Node: n})
	_, ok := w.get(pk)
	return ok
}

func (w *work) applyList(ed Edit, objKey string, inner []string, list *schema.Node, path string) {
	prefix := listPrefix(objKey, inner, list)
	if list.Parent.ObjectNode().Kind != schema.Root {
		if _, ok := w.get(objKey); !ok {
			w.notFound(path, "%s does not exist", schema.RESTPathOfKey(list.Set, objKey, nil, false, nil))
			return
		}
	}
	switch ed.Op {
	case OpDelete, OpRemove:
		for _, k := range w.keysUnder(prefix) {
			w.del(k)
		}
		return
	}
	entries, _ := ed.Value.([]any)
	keep := map[string]bool{}
	for _, e := range entries {
		m, _ := e.(map[string]any)
		ks := schema.KeyString(list, m)
		keep[ks] = true
		w.mergeEntry(prefix+ks, list, m, ed.Op == OpReplace, ed.Op == OpCreate, path+"/"+ks)
	}
	if ed.Op == OpReplace {
		w.removeEntriesExcept(prefix, list, keep)
	}
}

func (w *work) removeEntriesExcept(prefix string, list *schema.Node, keep map[string]bool) {
	var doomed []string
	it := w.txn.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, _, ok := it.Next(); ok; k, _, ok = it.Next() {
		rest := string(k[len(prefix):])
		if strings.Count(rest, "/") != len(list.Keys)-1 {
			continue
		}
		if !keep[rest] {
			doomed = append(doomed, string(k))
		}
	}
	for _, k := range doomed {
		w.delTree(k)
	}
}

func (w *work) applyObject(ed Edit, loc *schema.Location, path string) {
	n := loc.Node
	switch ed.Op {
	case OpDelete, OpRemove:
		if n.Kind == schema.Root {
			w.delTree(loc.ObjectKey)
			return
		}
		if _, ok := w.get(loc.ObjectKey); !ok {
			if ed.Op == OpDelete {
				w.notFound(path, "%s %q does not exist", n.Name, strings.Join(loc.Keys, ","))
			}
			return
		}
		w.delTree(loc.ObjectKey)
		return
	}
	m, _ := ed.Value.(map[string]any)
	if n.Kind == schema.Root {
		w.mergeRoot(loc, m, ed.Op == OpReplace, path)
		return
	}
	if !w.parentExists(loc.ObjectKey, n) {
		pk, _ := parentKey(&Object{Key: loc.ObjectKey, Node: n})
		w.notFound(path, "%s does not exist: create it first", schema.RESTPathOfKey(n.Set, pk, nil, false, nil))
		return
	}
	// Keys in the body must agree with the keys in the path.
	for i, k := range n.Keys {
		if v, ok := m[k]; ok && schema.Format(v) != loc.Keys[i] {
			w.invalid(path+"/"+k, "key %q is %q in the body but %q in the path", k, schema.Format(v), loc.Keys[i])
			return
		}
	}
	if m == nil {
		m = map[string]any{}
	}
	m = withKeys(n, m, loc.Keys)
	w.mergeEntry(loc.ObjectKey, n, m, ed.Op == OpReplace, ed.Op == OpCreate, path)
}

// withKeys returns m with the list's key leaves set from the path.
func withKeys(n *schema.Node, m map[string]any, keys []string) map[string]any {
	out := make(map[string]any, len(m)+len(keys))
	for k, v := range m {
		out[k] = v
	}
	for i, k := range n.Keys {
		v, err := n.Child(k).Type.Parse(keys[i])
		if err == nil {
			out[k] = v
		}
	}
	return out
}

func (w *work) mergeRoot(loc *schema.Location, m map[string]any, replace bool, path string) {
	old, exists := w.get(loc.ObjectKey)
	data := map[string]any{}
	if exists && !replace {
		data = cloneMap(old.Data)
	}
	w.mergeContent(loc.Node, data, m, loc.ObjectKey, nil, replace, path)
	if len(data) > 0 {
		created := w.index
		if exists {
			created = old.Created
		}
		w.put(&Object{Key: loc.ObjectKey, Node: loc.Node, Data: data, Created: created, Modified: w.index})
	} else if exists {
		w.del(loc.ObjectKey)
	}
}

// mergeEntry merges (or, with replace, sets) one list entry and its child
// entries.
func (w *work) mergeEntry(key string, n *schema.Node, val map[string]any, replace, create bool, path string) {
	old, exists := w.get(key)
	if create && exists {
		w.conflict(path, "%s already exists", path)
		return
	}
	data := map[string]any{}
	created := w.index
	if exists {
		created = old.Created
		if !replace {
			data = cloneMap(old.Data)
		}
	}
	for _, k := range n.Keys {
		if v, ok := val[k]; ok {
			data[k] = v
		}
	}
	w.mergeContent(n, data, val, key, nil, replace, path)
	if exists && equalValue(old.Data, data) {
		return // nothing changed: keep the object and its version
	}
	w.put(&Object{Key: key, Node: n, Data: data, Created: created, Modified: w.index})
}

// mergeContent merges val into data for schema node n (an object or a
// container inside one), recursing into child lists as objects.
func (w *work) mergeContent(n *schema.Node, data, val map[string]any, objKey string, inner []string, replace bool, path string) {
	if replace {
		for _, c := range n.Children {
			if _, given := val[c.Name]; given || c.IsKey() {
				continue
			}
			switch c.Kind {
			case schema.List:
				w.removeEntriesExcept(listPrefix(objKey, inner, c), c, nil)
			case schema.Container:
				delete(data, c.Name)
				w.deleteListsUnder(objKey, append(append([]string{}, inner...), c.Name), c)
			default:
				if c.Config {
					delete(data, c.Name)
				}
			}
		}
	}
	for name, v := range val {
		if name == schema.ExtraKey {
			continue
		}
		c := n.Child(name)
		if c == nil {
			continue // the decoder has already refused unknown members
		}
		cpath := path + "/" + name
		_, del := v.(schema.Deleted)
		switch c.Kind {
		case schema.Leaf, schema.LeafList:
			if del {
				delete(data, name)
			} else {
				data[name] = v
			}
		case schema.Container:
			cinner := append(append([]string{}, inner...), name)
			if del {
				delete(data, name)
				w.deleteListsUnder(objKey, cinner, c)
				continue
			}
			sub, _ := data[name].(map[string]any)
			if sub == nil || replace {
				sub = map[string]any{}
			} else {
				sub = cloneMap(sub)
			}
			vm, _ := v.(map[string]any)
			w.mergeContent(c, sub, vm, objKey, cinner, replace, cpath)
			if len(sub) > 0 || c.Presence {
				data[name] = sub
			} else {
				delete(data, name)
			}
		case schema.List:
			prefix := listPrefix(objKey, inner, c)
			if del {
				w.removeEntriesExcept(prefix, c, nil)
				continue
			}
			entries, _ := v.([]any)
			keep := map[string]bool{}
			for _, e := range entries {
				m, _ := e.(map[string]any)
				ks := schema.KeyString(c, m)
				keep[ks] = true
				w.mergeEntry(prefix+ks, c, m, replace, false, cpath+"/"+ks)
			}
			if replace {
				w.removeEntriesExcept(prefix, c, keep)
			}
		}
	}
}

// deleteListsUnder removes the entries of every list inside a container.
func (w *work) deleteListsUnder(objKey string, inner []string, c *schema.Node) {
	for _, k := range c.Children {
		switch k.Kind {
		case schema.List:
			w.removeEntriesExcept(listPrefix(objKey, inner, k), k, nil)
		case schema.Container:
			w.deleteListsUnder(objKey, append(append([]string{}, inner...), k.Name), k)
		}
	}
}

// applyInner applies an edit addressed to a container or leaf inside an
// object.
func (w *work) applyInner(ed Edit, loc *schema.Location, path string) {
	old, exists := w.get(loc.ObjectKey)
	if !exists && loc.Object.Kind != schema.Root {
		w.notFound(path, "%s does not exist", schema.RESTPathOfKey(loc.Set, loc.ObjectKey, nil, false, nil))
		return
	}
	data := map[string]any{}
	created := w.index
	if exists {
		data = cloneMap(old.Data)
		created = old.Created
	}
	// Walk to the parent container of the addressed node.
	cur := data
	for _, name := range loc.Inner[:len(loc.Inner)-1] {
		sub, _ := cur[name].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			cur[name] = sub
		}
		cur = sub
	}
	last := loc.Inner[len(loc.Inner)-1]
	n := loc.Node
	if n.IsKey() {
		w.invalid(path, "a key cannot be changed or removed; delete the entry and create a new one")
		return
	}
	switch ed.Op {
	case OpDelete, OpRemove:
		if _, ok := cur[last]; !ok && ed.Op == OpDelete && n.Kind != schema.Container {
			w.notFound(path, "%s is not set", last)
			return
		}
		delete(cur, last)
		if n.Kind == schema.Container {
			w.deleteListsUnder(loc.ObjectKey, loc.Inner, n)
		}
	default:
		if n.Kind == schema.Container {
			sub, _ := cur[last].(map[string]any)
			if sub == nil || ed.Op == OpReplace {
				sub = map[string]any{}
			} else {
				sub = cloneMap(sub)
			}
			vm, _ := ed.Value.(map[string]any)
			w.mergeContent(n, sub, vm, loc.ObjectKey, loc.Inner, ed.Op == OpReplace, path)
			if len(sub) > 0 || n.Presence {
				cur[last] = sub
			} else {
				delete(cur, last)
			}
		} else {
			cur[last] = ed.Value
		}
	}
	pruneEmpty(data)
	obj := &Object{Key: loc.ObjectKey, Node: loc.Object, Data: data, Created: created, Modified: w.index}
	if loc.Object.Kind == schema.Root && len(data) == 0 {
		if exists {
			w.del(loc.ObjectKey)
		}
		return
	}
	w.put(obj)
}

// pruneEmpty drops containers left empty by a removal.
func pruneEmpty(m map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			pruneEmpty(sub)
			if len(sub) == 0 {
				delete(m, k)
			}
		}
	}
}
