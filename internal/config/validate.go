package config

import (
	"strconv"
	"strings"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"github.com/amp-edge/amp/internal/schema"
)

// Validation is incremental: it checks the objects a transaction touched,
// the objects above them, and the objects that refer to any of those. Two
// indexes make that possible without scanning the tree:
//
//	refs:  "r\x00<target>\x00<referrer>\x00<leaf>" and the forward
//	       "f\x00<referrer>\x00<leaf>\x00<target>" for every resolved leafref
//	       and ampx:refers-to within a set; "x\x00…" instead of "r\x00…"
//	       for an ampx:refers-to into another set. Keys are full storage
//	       keys, so the index spans sets (and tenants). The two are apart
//	       because a must cannot see another set: re-checking the musts
//	       that depend on a change never visits the (possibly very many)
//	       referrers from other sets.
//	uniq:  "u\x00<list prefix>\x00<stmt>\x00<values>" -> entry key, per YANG
//	       unique statement
//
// Both are immutable radix trees kept in the snapshot beside the objects.

type validator struct {
	w     *work
	v     *view
	refs  *iradix.Txn[struct{}]
	uniq  *iradix.Txn[string]
	probs *schema.Problems
	// mustDone records objects whose musts were evaluated already.
	mustDone map[string]bool
}

func (w *work) validate(tree *iradix.Tree[*Object]) (*iradix.Tree[struct{}], *iradix.Tree[string]) {
	val := &validator{
		w:        w,
		v:        &view{t: tree, schema: w.e.schema},
		refs:     w.base.Refs.Txn(),
		uniq:     w.base.Uniq.Txn(),
		probs:    &w.probs,
		mustDone: map[string]bool{},
	}
	// 1. Forget what the touched objects used to refer to and hold unique.
	for _, key := range w.order {
		if b := w.before[key]; b != nil && b.Node != nil {
			val.dropRefsFrom(key)
			val.dropUnique(b)
		}
	}
	// 2. Check every object that exists now.
	for _, key := range w.order {
		after, ok := tree.Get([]byte(key))
		if !ok || after.Node == nil {
			continue
		}
		val.checkObject(w.before[key], after)
	}
	// 3. Nothing may still refer to what was deleted.
	for _, key := range w.order {
		if _, ok := tree.Get([]byte(key)); ok {
			continue
		}
		val.checkNotReferenced(key)
	}
	// 4. Re-check the musts of objects above or referring to what changed.
	for _, key := range w.order {
		val.checkDependents(key)
	}
	return val.refs.CommitOnly(), val.uniq.CommitOnly()
}

func restPath(o *Object, inner []string) string {
	return schema.RESTPathOfKey(o.Node.Set, o.Key, inner, false, nil)
}

func (val *validator) checkObject(before, after *Object) {
	root := val.v.node(after)
	val.walk(root, nil, before, after)
	val.checkUnique(after)
	val.evalMusts(after)
}

// walk visits the leaves and containers of one object (not child lists),
// checking mandatory, immutable and leafref.
func (val *validator) walk(d *dnode, inner []string, before, after *Object) {
	m, _ := d.data.(map[string]any)
	chosen := val.chosenCases(d.sch, m, inner, after)
	for _, c := range d.sch.Children {
		if c.Kind == schema.List || !c.Config {
			continue
		}
		if c.Case != nil && !inChosen(c.Case, chosen) {
			continue // a case not chosen: its mandatory nodes do not apply
		}
		v, present := m[c.Name]
		cinner := append(append([]string{}, inner...), c.Name)
		switch c.Kind {
		case schema.Container:
			if !present && c.Presence {
				continue
			}
			sub := &dnode{v: d.v, obj: d.obj, sch: c, data: v, inner: cinner, parent: d}
			if !present {
				sub.data = map[string]any{}
			}
			val.walk(sub, cinner, before, after)
		case schema.Leaf, schema.LeafList:
			if !present {
				if c.Mandatory {
					val.probs.Add(restPath(after, cinner), "mandatory field %q of %s is missing%s", c.Name, describe(d.sch), missingHint(c))
				}
			}
			if c.Immutable && before != nil {
				old, had := schema.Lookup(before.Data, cinner)
				if had && (!present || !equalValue(old, v)) {
					val.probs.Add(restPath(after, cinner), "%q is immutable: it was %q when the %s was created and cannot change (delete and recreate the %s to change it)",
						c.Name, schema.Format(old), after.Node.Name, after.Node.Name)
				}
			}
			if present && c.Type.Base == schema.TLeafref {
				val.checkLeafref(d, c, v, cinner, after)
			}
			if present && c.Ref != nil {
				val.checkRef(c, v, cinner, after)
			}
			if present && c.Backend != "" {
				val.checkBackend(c, v, cinner, before, after)
			}
		}
	}
}

// chosenCases returns the case of each choice of n that the instance m
// holds nodes of (and the cases enclosing those choices), refusing nodes of
// two cases of one choice and a mandatory choice with no case chosen.
func (val *validator) chosenCases(n *schema.Node, m map[string]any, inner []string, after *Object) map[*schema.Choice]*schema.Case {
	var chosen map[*schema.Choice]*schema.Case
	by := map[*schema.Choice]string{} // the node that chose each choice's case
	for _, c := range n.Children {
		if c.Case == nil || !c.Config {
			continue
		}
		if _, present := m[c.Name]; !present {
			continue
		}
		for k := c.Case; k != nil; k = k.Choice.In {
			if prev, ok := chosen[k.Choice]; ok {
				if prev != k {
					val.probs.Add(restPath(after, append(append([]string{}, inner...), c.Name)),
						"%q (case %q) and %q (case %q) are in different cases of choice %q: set the nodes of one case only",
						c.Name, k.Name, by[k.Choice], prev.Name, k.Choice.Name)
				}
				break
			}
			if chosen == nil {
				chosen = map[*schema.Choice]*schema.Case{}
			}
			chosen[k.Choice], by[k.Choice] = k, c.Name
		}
	}
	missing := map[*schema.Choice]bool{}
	for _, c := range n.Children {
		if !c.Config {
			continue
		}
		for k := c.Case; k != nil; k = k.Choice.In {
			ch := k.Choice
			if ch.Mandatory && chosen[ch] == nil && !missing[ch] && (ch.In == nil || inChosen(ch.In, chosen)) {
				missing[ch] = true
				val.probs.Add(restPath(after, inner), "choice %q of %s is mandatory: set the nodes of one of its cases", ch.Name, describe(n))
			}
		}
	}
	return chosen
}

// inChosen reports whether case k, and every case enclosing its choice, is
// the one chosen.
func inChosen(k *schema.Case, chosen map[*schema.Choice]*schema.Case) bool {
	for ; k != nil; k = k.Choice.In {
		if chosen[k.Choice] != k {
			return false
		}
	}
	return true
}

// checkBackend holds a backend endpoint leaf to the operator's grants when
// its value is new or changed. A value committed earlier is not refused
// when the operator later revokes its grant (that would block every other
// edit of the object); the adapter reports it instead and connects no more.
func (val *validator) checkBackend(c *schema.Node, v any, inner []string, before, after *Object) {
	pol := val.w.e.opts.Backends
	if pol == nil {
		return
	}
	if before != nil {
		if old, had := schema.Lookup(before.Data, inner); had && equalValue(old, v) {
			return
		}
	}
	s, _ := v.(string)
	if err := pol.Check(after.Node.Set.TenantOfKey(after.Key), c.Backend, s); err != nil {
		val.probs.Add(restPath(after, inner), "%v", err)
	}
}

// missingHints suggest a value for a missing mandatory leaf. YANG forbids
// a default on a mandatory leaf, yet a model may have a conventional value;
// the code that owns a model registers its hints (RegisterMissingHint) at
// init, before any validation runs, so they are read without a lock.
var missingHints []func(*schema.Node) string

// RegisterMissingHint adds a hint: for a leaf it knows, h returns the
// suggestion (shown in parentheses after the refusal), else "".
func RegisterMissingHint(h func(*schema.Node) string) {
	missingHints = append(missingHints, h)
}

func missingHint(c *schema.Node) string {
	for _, h := range missingHints {
		if s := h(c); s != "" {
			return " (" + s + ")"
		}
	}
	return ""
}

func describe(n *schema.Node) string {
	if n.Kind == schema.Root {
		return "the root"
	}
	return n.Name
}

func (val *validator) checkLeafref(parent *dnode, c *schema.Node, v any, inner []string, after *Object) {
	values := []any{v}
	if c.Kind == schema.LeafList {
		values, _ = v.([]any)
	}
	for i, x := range values {
		leaf := &dnode{v: parent.v, obj: parent.obj, sch: c, data: x, inner: parent.inner, parent: parent}
		if c.Kind == schema.LeafList {
			leaf.item = i + 1
		}
		target, err := resolveLeafref(leaf, c.Type, x)
		path := restPath(after, inner)
		if err != nil {
			val.probs.Add(path, "cannot resolve reference %s: %v", c.Type.LeafrefPath, err)
			continue
		}
		if target == "" {
			if c.Type.RequireInst {
				val.conflict(path, "%q refers to %s %q, which does not exist in %s", c.Name, c.Type.Target.Parent.Name, schema.Format(x), refScope(leaf, c.Type))
			}
			continue
		}
		val.addRef(refWithin, target, after.Key, inner, x)
	}
}

// The tags of the reverse entries in the refs index.
const (
	refWithin = "r" // a leafref, or an ampx:refers-to into its own set
	refAcross = "x" // an ampx:refers-to into another set
)

// addRef records that the leaf at inner of object referrer, holding value
// x, refers to the object target.
func (val *validator) addRef(tag, target, referrer string, inner []string, x any) {
	leafID := strings.Join(inner, "/") + "=" + schema.Format(x)
	val.refs.Insert([]byte(tag+"\x00"+target+"\x00"+referrer+"\x00"+leafID), struct{}{})
	val.refs.Insert([]byte("f\x00"+referrer+"\x00"+leafID+"\x00"+target), struct{}{})
}

// checkRef checks an ampx:refers-to leaf: every value must name an
// existing entry of the list it refers to, looked up by its storage key
// (so the cost does not grow with the store) in the tenant refTenant
// chooses. A tenant object therefore can never reach another tenant's
// entry, and the refusal names only the caller's own tenant.
func (val *validator) checkRef(c *schema.Node, v any, inner []string, o *Object) {
	r := c.Ref
	path := restPath(o, inner)
	tenant, ok := refTenant(o, r)
	if !ok {
		val.probs.Add(path, "%q refers to a %s of model set %s, which is per tenant: set %q to name the enterprise it is in",
			c.Name, r.List.Name, r.Set.Name, strings.Join(r.TenantLeaf, "/"))
		return
	}
	values := []any{v}
	if c.Kind == schema.LeafList {
		values, _ = v.([]any)
	}
	tag := refAcross
	if r.Set == c.Set {
		tag = refWithin
	}
	root := schema.RootKey(r.Set, tenant)
	prefix := listPrefix(root, r.Containers, r.List)
	for _, x := range values {
		target := prefix + schema.EscapeSegment(schema.Format(x))
		if _, ok := val.v.get(target); !ok {
			val.conflict(path, "%q refers to %s %q, which does not exist in %s (model set %s %s)", c.Name, r.List.Name, schema.Format(x),
				schema.RESTPathOfKey(r.Set, root, r.Containers, true, r.List), r.Set.Name, r.Set.Version)
			continue
		}
		val.addRef(tag, target, o.Key, inner, x)
	}
}

// refTenant is the tenant a reference from object o resolves in: none
// for a global set; for a tenant set, o's own tenant, or for a global
// object the tenant its ampx:tenant leaf names (false when that is unset).
func refTenant(o *Object, r *schema.Ref) (string, bool) {
	switch {
	case r.Global():
		return "", true
	case r.TenantLeaf != nil:
		v, _ := schema.Lookup(o.Data, r.TenantLeaf)
		s, _ := v.(string)
		return s, s != ""
	default:
		return o.Node.Set.TenantOfKey(o.Key), true
	}
}

// conflict records a problem that depends on other objects (a dangling
// reference, a duplicate): 409 unless a plain validation error is also there.
func (val *validator) conflict(path, format string, args ...any) {
	if val.probs.Kind == 0 || (val.probs.Kind == schema.KindConflict) {
		val.probs.Kind = schema.KindConflict
	}
	val.probs.Add(path, format, args...)
}

// refScope describes where a leafref looks, for messages: the REST path of
// the list it searches.
func refScope(leaf *dnode, t *schema.Type) string {
	parent, list, _, ok := t.Leafref.SplitKeyTarget()
	if !ok {
		return t.LeafrefPath
	}
	nodes, err := schema.EvalNodes(parent, leaf)
	if err != nil || len(nodes) == 0 {
		return t.LeafrefPath
	}
	d := nodes[0].(*dnode)
	return restPath(d.obj, d.inner) + "/" + list
}

// resolveLeafref returns the key of the object holding the target of a
// reference, or "" when there is none.
func resolveLeafref(leaf *dnode, t *schema.Type, v any) (string, error) {
	want := schema.Format(v)
	if parent, list, key, ok := t.Leafref.SplitKeyTarget(); ok {
		nodes, err := schema.EvalNodes(parent, leaf)
		if err != nil {
			return "", err
		}
		for _, n := range nodes {
			c := n.Schema().Child(list)
			if c != nil && c.Kind == schema.List && len(c.Keys) == 1 && c.Keys[0] == key {
				if e := n.Entry(c, []string{want}); e != nil {
					return e.(*dnode).obj.Key, nil
				}
				continue
			}
			for _, e := range n.Children(c) {
				for _, k := range e.Children(c.Child(key)) {
					if schema.Format(k.Value()) == want {
						return k.(*dnode).obj.Key, nil
					}
				}
			}
		}
		return "", nil
	}
	nodes, err := schema.EvalNodes(t.Leafref, leaf)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		if schema.Format(n.Value()) == want {
			return n.(*dnode).obj.Key, nil
		}
	}
	return "", nil
}

func (val *validator) dropRefsFrom(key string) {
	prefix := "f\x00" + key + "\x00"
	var doomed [][]byte
	it := val.refs.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, _, ok := it.Next(); ok; k, _, ok = it.Next() {
		doomed = append(doomed, append([]byte(nil), k...))
	}
	for _, k := range doomed {
		rest := string(k[len(prefix):])
		i := strings.LastIndexByte(rest, 0)
		leafID, target := rest[:i], rest[i+1:]
		val.refs.Delete(k)
		// The forward entry does not say which kind it was; deleting the
		// one that is not there costs a lookup.
		for _, tag := range []string{refWithin, refAcross} {
			val.refs.Delete([]byte(tag + "\x00" + target + "\x00" + key + "\x00" + leafID))
		}
	}
}

// referrers lists the objects that refer to key through the references
// tagged tags (refWithin, refAcross or both), with the leaf that does.
func referrers(refs interface {
	Root() *iradix.Node[struct{}]
}, tags, key string, fn func(referrer, leaf string) bool) {
	for _, tag := range tags {
		prefix := string(tag) + "\x00" + key + "\x00"
		it := refs.Root().Iterator()
		it.SeekPrefix([]byte(prefix))
		for k, _, ok := it.Next(); ok; k, _, ok = it.Next() {
			rest := string(k[len(prefix):])
			i := strings.IndexByte(rest, 0)
			if !fn(rest[:i], rest[i+1:]) {
				return
			}
		}
	}
}

func (val *validator) checkNotReferenced(key string) {
	before := val.w.before[key]
	if before == nil || before.Node == nil {
		return
	}
	referrers(val.refs, refWithin+refAcross, key, func(ref, leaf string) bool {
		ro, ok := val.v.get(ref)
		if !ok {
			return true
		}
		name, _, _ := strings.Cut(leaf, "=")
		val.conflict(restPath(ro, strings.Split(name, "/")), "refers to %s, which this change deletes: change or delete the reference first",
			restPath(before, nil))
		return true
	})
}

func uniqueKey(o *Object, i int, stmt []string) (string, string, bool) {
	vals := make([]string, len(stmt))
	for j, p := range stmt {
		v, ok := schema.Lookup(o.Data, strings.Split(p, "/"))
		if !ok {
			return "", "", false // unique applies only when all leaves are set
		}
		vals[j] = schema.Format(v)
	}
	pk, containers := parentKey(o)
	listP := listPrefix(pk, containers, o.Node)
	return "u\x00" + listP + "\x00" + strconv.Itoa(i) + "\x00" + strings.Join(vals, "\x01"), strings.Join(vals, ", "), true
}

func (val *validator) dropUnique(o *Object) {
	for i, stmt := range o.Node.Unique {
		if k, _, ok := uniqueKey(o, i, stmt); ok {
			if owner, found := val.uniq.Get([]byte(k)); found && owner == o.Key {
				val.uniq.Delete([]byte(k))
			}
		}
	}
}

func (val *validator) checkUnique(o *Object) {
	for i, stmt := range o.Node.Unique {
		k, shown, ok := uniqueKey(o, i, stmt)
		if !ok {
			continue
		}
		if owner, found := val.uniq.Get([]byte(k)); found && owner != o.Key {
			if ow, exists := val.v.get(owner); exists {
				val.conflict(restPath(o, strings.Split(stmt[0], "/")), "%s %s is already used by %s (must be unique in the list)",
					strings.Join(stmt, ", "), quoteList(shown), restPath(ow, nil))
				continue
			}
		}
		val.uniq.Insert([]byte(k), o.Key)
	}
}

func quoteList(s string) string { return "\"" + s + "\"" }

// evalMusts evaluates every must statement inside one object.
func (val *validator) evalMusts(o *Object) {
	if val.mustDone[o.Key] {
		return
	}
	val.mustDone[o.Key] = true
	if !hasMusts(o.Node) {
		return
	}
	val.mustsIn(val.v.node(o), nil)
}

func (val *validator) mustsIn(d *dnode, inner []string) {
	for _, m := range d.sch.Musts {
		ok, err := schema.EvalBool(m.Expr, d)
		path := restPath(d.obj, inner)
		if err != nil {
			val.probs.Add(path, "cannot evaluate must %q: %v", m.Source, err)
			continue
		}
		if !ok {
			msg := m.ErrorMessage
			if msg == "" {
				msg = "must condition not satisfied: " + m.Source
			}
			val.conflict(path, "%s", msg)
		}
	}
	for _, c := range d.sch.Children {
		if c.Kind == schema.List || !hasMusts(c) {
			continue
		}
		for _, k := range d.Children(c) {
			kd := k.(*dnode)
			cinner := inner
			if c.Kind == schema.Container {
				cinner = append(append([]string{}, inner...), c.Name)
			} else {
				cinner = append(append([]string{}, inner...), c.Name)
			}
			val.mustsIn(kd, cinner)
		}
	}
}

// hasMusts reports whether n or anything inside its object (not in child
// lists) carries a must statement. Results are cached on first use.
func hasMusts(n *schema.Node) bool {
	if v, ok := mustCache.Load(n); ok {
		return v.(bool)
	}
	found := len(n.Musts) > 0
	for _, c := range n.Children {
		if c.Kind != schema.List && hasMusts(c) {
			found = true
		}
	}
	mustCache.Store(n, found)
	return found
}

// checkDependents re-evaluates the musts that a change to key can affect:
// those of its ancestors, and of objects (and their ancestors) that refer to
// key or to one of its ancestors.
func (val *validator) checkDependents(key string) {
	o := val.w.before[key]
	if cur, ok := val.v.get(key); ok {
		o = cur
	}
	if o == nil || o.Node == nil {
		return
	}
	for a := o; a != nil; a = val.parentObject(a) {
		if a.Key != key {
			if cur, ok := val.v.get(a.Key); ok {
				val.evalMusts(cur)
			}
		}
		// Only references within the set: a must sees its own set only.
		referrers(val.refs, refWithin, a.Key, func(ref, _ string) bool {
			for r, ok := val.v.get(ref); ok && r != nil; r = val.parentObject(r) {
				val.evalMusts(r)
			}
			return true
		})
	}
}

func (val *validator) parentObject(o *Object) *Object {
	if o.Node == nil || o.Node.Kind != schema.List {
		return nil
	}
	pk, _ := parentKey(o)
	p, ok := val.v.get(pk)
	if !ok {
		return nil
	}
	return p
}
