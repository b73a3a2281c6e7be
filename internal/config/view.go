package config

import (
	"strconv"
	"strings"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"github.com/amp-edge/amp/internal/schema"
)

// view reads objects from one immutable tree.
type view struct {
	t      *iradix.Tree[*Object]
	schema *schema.Schema
	state  *iradix.Tree[map[string]any] // nil: no operational state
	// standIn holds entries that do not exist yet, with just their keys,
	// by key (standIns): reached as a path's ancestors, never listed.
	standIn map[string]*Object
}

func (v *view) get(key string) (*Object, bool) {
	if o, ok := v.t.Get([]byte(key)); ok || v.standIn == nil {
		return o, ok
	}
	o, ok := v.standIn[key]
	return o, ok
}

// standIns lets o's ancestor entries that do not exist yet (the rows of a
// form inside an unsaved entry) be reached from o as stand-ins holding
// just their keys, so that a path from o evaluates as the schema says,
// the nearest existing ancestor and those above it giving the context.
func (v *view) standIns(o *Object) {
	for o.Node.Kind != schema.Root {
		pn := o.Node.Parent.ObjectNode()
		pk, _ := parentKey(o)
		if pn.Kind == schema.Root {
			return // synthesised by Parent when not stored
		}
		if _, ok := v.get(pk); ok {
			return
		}
		segs := strings.Split(pk, "/")
		if len(segs) < len(pn.Keys) {
			return
		}
		keys := make([]string, 0, len(pn.Keys))
		for _, seg := range segs[len(segs)-len(pn.Keys):] {
			k, err := schema.UnescapeSegment(seg)
			if err != nil {
				return
			}
			keys = append(keys, k)
		}
		p := &Object{Key: pk, Node: pn, Data: withKeys(pn, map[string]any{}, keys)}
		if v.standIn == nil {
			v.standIn = map[string]*Object{}
		}
		v.standIn[pk] = p
		o = p
	}
}

// scan calls fn for every object whose key starts with prefix, in key order,
// until fn returns false.
func (v *view) scan(prefix string, fn func(*Object) bool) {
	it := v.t.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for _, o, ok := it.Next(); ok; _, o, ok = it.Next() {
		if !fn(o) {
			return
		}
	}
}

// entries calls fn for the direct entries of a list, given the list's key
// prefix ("<parent>/<list>/"), skipping deeper descendants.
func (v *view) entries(prefix string, list *schema.Node, fn func(*Object) bool) {
	v.scan(prefix, func(o *Object) bool {
		if strings.Count(o.Key[len(prefix):], "/") != len(list.Keys)-1 {
			return true
		}
		return fn(o)
	})
}

// rootObject returns the root object of a target in a set; it exists
// implicitly, so it is synthesised when nothing is stored for it.
func (v *view) rootObject(set *schema.ModelSet, target string) *Object {
	key := schema.RootKey(set, target)
	if o, ok := v.get(key); ok {
		return o
	}
	return &Object{Key: key, Node: set.Root, Data: map[string]any{}}
}

// node returns the DataNode for an object.
func (v *view) node(o *Object) *dnode {
	return &dnode{v: v, obj: o, sch: o.Node, data: o.Data}
}

// parentKey computes the key of the object holding o's entry, and the
// container path inside it.
func parentKey(o *Object) (string, []string) {
	n := o.Node
	if n.Kind == schema.Root {
		return "", nil
	}
	var containers []string
	for p := n.Parent; p != nil && !p.IsObject(); p = p.Parent {
		containers = append([]string{p.Name}, containers...)
	}
	strip := 1 + len(n.Keys) + len(containers)
	k := o.Key
	for i := 0; i < strip; i++ {
		k = k[:strings.LastIndexByte(k, '/')]
	}
	return k, containers
}

// dnode is a schema.DataNode over a view.
type dnode struct {
	v      *view
	obj    *Object
	sch    *schema.Node
	data   any      // map for object/container, value for leaf
	inner  []string // container path inside obj
	parent *dnode
	item   int // leaf-list item index + 1, 0 otherwise
}

var _ schema.DataNode = (*dnode)(nil)

func (d *dnode) Schema() *schema.Node { return d.sch }

func (d *dnode) ID() string {
	id := d.obj.Key + "|" + strings.Join(d.inner, "/")
	if d.sch.Kind == schema.Leaf || d.sch.Kind == schema.LeafList {
		id += "/" + d.sch.Name
	}
	if d.item > 0 {
		id += "#" + strconv.Itoa(d.item)
	}
	return id
}

func (d *dnode) Value() any { return d.data }

func (d *dnode) Root() schema.DataNode {
	set := d.sch.Set
	return d.v.node(d.v.rootObject(set, set.TenantOfKey(d.obj.Key)))
}

func (d *dnode) Parent() schema.DataNode {
	if d.parent != nil {
		return d.parent
	}
	if d.sch.Kind != schema.List {
		return nil // roots have no parent; inner nodes always have one set
	}
	pk, containers := parentKey(d.obj)
	po, ok := d.v.get(pk)
	if !ok {
		if d.sch.Parent.ObjectNode().Kind != schema.Root {
			return nil
		}
		po = d.v.rootObject(d.sch.Set, d.sch.Set.TenantOfKey(d.obj.Key))
	}
	p := d.v.node(po)
	for _, c := range containers {
		m, _ := p.data.(map[string]any)
		sub, _ := m[c].(map[string]any)
		p = &dnode{v: d.v, obj: po, sch: p.sch.Child(c), data: sub, inner: append(append([]string{}, p.inner...), c), parent: p}
	}
	d.parent = p
	return p
}

func (d *dnode) listPrefix(c *schema.Node) string {
	p := d.obj.Key
	for _, s := range d.inner {
		p += "/" + s
	}
	return p + "/" + c.Name + "/"
}

func (d *dnode) Children(c *schema.Node) []schema.DataNode {
	switch c.Kind {
	case schema.List:
		var out []schema.DataNode
		d.v.entries(d.listPrefix(c), c, func(o *Object) bool {
			out = append(out, &dnode{v: d.v, obj: o, sch: c, data: o.Data, parent: d})
			return true
		})
		return out
	}
	m, _ := d.data.(map[string]any)
	val, ok := m[c.Name]
	if !ok {
		return nil
	}
	inner := d.inner
	if c.Kind == schema.Container {
		inner = append(append([]string{}, d.inner...), c.Name)
	}
	if c.Kind == schema.LeafList {
		items, _ := val.([]any)
		out := make([]schema.DataNode, len(items))
		for i, it := range items {
			out[i] = &dnode{v: d.v, obj: d.obj, sch: c, data: it, inner: inner, parent: d, item: i + 1}
		}
		return out
	}
	return []schema.DataNode{&dnode{v: d.v, obj: d.obj, sch: c, data: val, inner: inner, parent: d}}
}

func (d *dnode) Entry(c *schema.Node, keys []string) schema.DataNode {
	segs := make([]string, len(keys))
	for i, k := range keys {
		segs[i] = schema.EscapeSegment(k)
	}
	o, ok := d.v.get(d.listPrefix(c) + strings.Join(segs, "/"))
	if !ok {
		return nil
	}
	return &dnode{v: d.v, obj: o, sch: c, data: o.Data, parent: d}
}

// descend returns the DataNode for a path of container names (and a final
// leaf) inside an object.
func (d *dnode) descend(names []string) *dnode {
	cur := d
	for _, name := range names {
		c := cur.sch.Child(name)
		if c == nil {
			return nil
		}
		kids := cur.Children(c)
		if len(kids) == 0 {
			return nil
		}
		cur = kids[0].(*dnode)
	}
	return cur
}
