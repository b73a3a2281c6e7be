package config

import (
	"strings"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/schema/migrate"
)

// migratedPrefix keys the record that a version of a model set was
// migrated into another ("@migrated/lab/1.0.0" → to: 1.1.0). It is an
// object of the migration's own transaction, so a restart, a replica and
// a backup keep it, and rolling the migration back removes it with the
// moved objects.
const migratedPrefix = "@migrated/"

// reservedKey reports whether key holds one of the engine's own records
// (an enterprise, a migration) rather than an object of a model set.
func reservedKey(key string) bool { return strings.HasPrefix(key, "@") }

func migratedKey(set *schema.ModelSet) string {
	return migratedPrefix + set.Name + "/" + set.Version
}

// Migration says that a version of a model set was migrated.
type Migration struct {
	To    string // the version its objects moved to
	Index uint64 // the migration's transaction
}

// MigratedTo returns the migration of set's version, if it was migrated
// (and not rolled back since).
func (s *Snapshot) MigratedTo(set *schema.ModelSet) (Migration, bool) {
	o, ok := s.Get(migratedKey(set))
	if !ok {
		return Migration{}, false
	}
	to, _ := o.Data["to"].(string)
	return Migration{To: to, Index: o.Created}, true
}

// recordMigration marks from as migrated to to within the migration's
// transaction; a version migrated into again is no longer marked.
func (w *work) recordMigration(from, to *schema.ModelSet) {
	if w.exists(migratedKey(to)) {
		w.del(migratedKey(to))
	}
	w.put(&Object{Key: migratedKey(from), Data: map[string]any{"to": to.Version}, Created: w.index, Modified: w.index})
}

// refuseMigratedWrites refuses a transaction that leaves an object in a
// version whose objects were migrated away: they would be written where
// nothing reads them any more. Deleting is moot (the version holds
// nothing), and a rollback of the migration itself removes the mark in
// the same transaction, so it passes.
func (w *work) refuseMigratedWrites() {
	if !w.anyUnder(migratedPrefix) { // no version migrated: nothing to look up per key
		return
	}
	marks := map[*schema.ModelSet]*Object{}
	for _, key := range w.order {
		if reservedKey(key) {
			continue
		}
		set := w.e.schema.SetOfKey(key)
		if set == nil {
			continue
		}
		mark, seen := marks[set]
		if !seen {
			mark, _ = w.get(migratedKey(set))
			marks[set] = mark
		}
		if mark == nil {
			continue
		}
		if o, ok := w.get(key); ok {
			w.conflict(restPath(o, nil), "%s %s was migrated to %s by transaction %d: write to %s %s instead (or roll the migration back)",
				set.Name, set.Version, mark.Data["to"], mark.Created, set.Name, mark.Data["to"])
		}
	}
}

// ReadThrough returns the snapshot a read of loc sees: s itself, unless
// loc's version was migrated; then s with that version's objects read
// back through the conversion from the version they moved to (the
// declared renames reversed, or a Go conversion registered back), so the
// old version reads as it would hold the migrated data until it is
// unloaded. Each snapshot converts once per version, on its first read.
// A snapshot of an index before the migration (?at=) holds no mark and
// reads the stored objects of the time.
func (s *Snapshot) ReadThrough(loc *schema.Location) (*Snapshot, error) {
	set := loc.Set
	m, ok := s.MigratedTo(set)
	if !ok {
		return s, nil
	}
	if s.back != nil {
		if b, ok := s.back.Load(set); ok {
			return b.(*Snapshot).withState(s.State), nil
		}
	}
	refuse := func(format string, args ...any) error {
		return schema.Errorf(schema.KindConflict, loc.REST(), "%s %s was migrated to %s by transaction %d: "+format,
			append([]any{set.Name, set.Version, m.To, m.Index}, args...)...)
	}
	to := s.schema.Set(set.Name, m.To)
	if to == nil {
		return nil, refuse("%s %s is not loaded, so there is nothing to read it through", set.Name, m.To)
	}
	plan, err := migrate.Back(s.schema, set.Name, set.Version, m.To)
	if err != nil {
		return nil, refuse("%v", err)
	}
	fromRoot, toRoot := set.Name+"/"+set.Version, set.Name+"/"+m.To
	txn := s.Objects.Txn()
	convert := func(o *Object) error {
		node, data, err := plan.Convert(o.Node, o.Data)
		if err != nil {
			return refuse("%s cannot be read back: %v", schema.RESTPathOfKey(to, o.Key, nil, false, o.Node), err)
		}
		if node != nil { // else an object the older version has no place for
			key := fromRoot + strings.TrimPrefix(o.Key, toRoot)
			txn.Insert([]byte(key), &Object{Key: key, Node: node, Data: data, Created: o.Created, Modified: o.Modified})
		}
		return nil
	}
	if o, ok := s.Get(toRoot); ok { // a global set's root object
		if err := convert(o); err != nil {
			return nil, err
		}
	}
	it := s.Objects.Root().Iterator()
	it.SeekPrefix([]byte(toRoot + "/"))
	for _, o, ok := it.Next(); ok; _, o, ok = it.Next() {
		if err := convert(o); err != nil {
			return nil, err
		}
	}
	b := &Snapshot{Index: s.Index, Objects: txn.CommitOnly(), Refs: s.Refs, Uniq: s.Uniq, State: s.State, schema: s.schema}
	if s.back != nil {
		s.back.Store(set, b)
	}
	return b, nil
}

// withState returns the converted snapshot with the state of the
// snapshot it was converted from now (state changes do not touch the
// objects, so the conversion stands).
func (s *Snapshot) withState(state *iradix.Tree[map[string]any]) *Snapshot {
	if s.State == state {
		return s
	}
	return &Snapshot{Index: s.Index, Objects: s.Objects, Refs: s.Refs, Uniq: s.Uniq, State: state, schema: s.schema}
}
