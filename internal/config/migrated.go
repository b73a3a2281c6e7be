package config

import (
	"strings"

	"github.com/amp-edge/amp/internal/schema"
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
