package config

import (
	"strings"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/schema/migrate"
)

// applyMigration moves every object of plan.From into plan.To, converted,
// within the request's one transaction: the From objects are deleted and
// the To objects created, so history shows one transaction and rolling it
// back restores the old version's objects. The usual validation follows
// (leafrefs, musts, references from other sets into the new keys), so a
// migration that would leave a reference dangling is refused like any
// other write. The first object that cannot be converted refuses the
// whole migration, naming the object and the reason.
func (w *work) applyMigration(plan *migrate.Plan) {
	from, to := plan.From, plan.To
	fromRoot, toRoot := from.Name+"/"+from.Version, to.Name+"/"+to.Version
	keys := w.keysUnder(fromRoot + "/")
	if w.exists(fromRoot) { // a global set's root object
		keys = append(keys, fromRoot)
	}
	if len(keys) == 0 {
		w.conflict(schema.RESTBase(from), "%s %s holds no objects: nothing to migrate", from.Name, from.Version)
		return
	}
	if w.anyUnder(toRoot+"/") || w.exists(toRoot) {
		w.conflict(schema.RESTBase(to), "%s %s already holds objects: a migration moves a version into an empty one", to.Name, to.Version)
		return
	}
	for _, key := range keys {
		o, _ := w.get(key)
		node, data, err := plan.Convert(o.Node, o.Data)
		if err != nil {
			w.invalid(schema.RESTPathOfKey(from, key, nil, false, o.Node), "cannot migrate to %s %s: %v", to.Name, to.Version, err)
			return
		}
		w.del(key)
		w.put(&Object{Key: toRoot + strings.TrimPrefix(key, fromRoot), Node: node, Data: data, Created: w.index, Modified: w.index})
	}
	w.recordMigration(from, to)
	w.recheckReferrers(to)
}

// recheckReferrers has validation re-check every object of another set
// that refers (ampx:refers-to) into set: such references resolve in the
// newest loaded version, and the index holds them only where they
// resolved when last checked, so after objects move between versions
// each must resolve again (and be indexed) or the migration is refused
// naming it. Unchanged, they stay out of the transaction's record.
func (w *work) recheckReferrers(set *schema.ModelSet) {
	refLeaves := map[*schema.Node][]*schema.Node{} // object node → its leaves referring into set
	for _, ms := range w.e.schema.Sets {
		if ms.Name == set.Name {
			continue
		}
		ms.Root.Walk(func(n *schema.Node) {
			if n.Ref != nil && n.Ref.Set.Name == set.Name {
				o := n.ObjectNode()
				refLeaves[o] = append(refLeaves[o], n)
			}
		})
	}
	if len(refLeaves) == 0 {
		return
	}
	prefixes := map[string]bool{}
	for o := range refLeaves {
		prefixes[o.Set.Name+"/"+o.Set.Version+"/"] = true
	}
	for prefix := range prefixes {
		it := w.base.Objects.Root().Iterator()
		it.SeekPrefix([]byte(prefix))
		for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
			for _, leaf := range refLeaves[o.Node] {
				if _, set := schema.Lookup(o.Data, leaf.InObject()); set {
					w.touch(string(k))
					break
				}
			}
		}
	}
}

// anyUnder reports whether some object's key starts with prefix.
func (w *work) anyUnder(prefix string) bool {
	it := w.txn.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	_, _, ok := it.Next()
	return ok
}

func (w *work) exists(key string) bool {
	_, ok := w.get(key)
	return ok
}
