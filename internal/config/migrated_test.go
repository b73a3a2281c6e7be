package config

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/schema/migrate"
)

// TestMigratedVersionRefusesWrites: after a migration the old version is
// marked migrated (in the same transaction), writes to it are refused
// naming the path and the new version, and a rollback of the migration
// clears the mark so the old version is writable again.
func TestMigratedVersionRefusesWrites(t *testing.T) {
	e, sch := labStore(t, map[string]string{"r1": `{"height":40}`})
	old, next := sch.Set("lab", "1.0.0"), sch.Set("lab", "1.1.0")
	if _, ok := e.Snapshot().MigratedTo(old); ok {
		t.Fatal("lab 1.0.0 marked migrated before any migration")
	}
	plan, err := migrate.For(sch, "lab", "1.0.0", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Submit(context.Background(), &Request{Migrate: plan})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := e.Snapshot().MigratedTo(old)
	if !ok || m.To != "1.1.0" || m.Index != res.Index {
		t.Fatalf("lab 1.0.0 after the migration: %+v, %v; want to 1.1.0 by %d", m, ok, res.Index)
	}
	if _, ok := e.Snapshot().MigratedTo(next); ok {
		t.Fatal("lab 1.1.0 marked migrated")
	}
	// Read through the migration: 1.0.0 shows 1.1.0's rack as 1.0.0's.
	loc := labLoc(t, old, "rack/r1/height")
	snap := e.Snapshot()
	if o, ok := snap.Object(loc); ok {
		t.Fatalf("lab 1.0.0 still stores rack r1: %v", o)
	}
	back, err := snap.ReadThrough(loc)
	if err != nil {
		t.Fatal(err)
	}
	r1, ok := back.Object(loc)
	if !ok || r1.Node != old.Root.Child("rack") || r1.Data["height"] != uint64(40) || r1.Data["units"] != nil {
		t.Fatalf("lab 1.0.0 rack r1 read through the migration: %v, %v", r1, ok)
	}
	if again, _ := snap.ReadThrough(loc); again != back {
		t.Fatal("a second read of the same snapshot converted again")
	}
	if same, _ := snap.ReadThrough(labLoc(t, next, "rack/r1")); same != snap {
		t.Fatal("a read of lab 1.1.0 was converted")
	}
	before := e.Snapshot()
	_, err = e.Submit(context.Background(), &Request{Edits: []Edit{labEdit(t, old, OpMerge, "rack/r9", `{"height":2}`)}})
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindConflict || len(se.Problems) != 1 ||
		se.Problems[0].Path != "/lab/v1.0.0/rack/r9" || !strings.Contains(se.Problems[0].Reason, "migrated to 1.1.0") {
		t.Fatalf("a write to the migrated version: %v", err)
	}
	if e.Snapshot() != before {
		t.Fatal("a refused write changed the store")
	}
	// The new version takes writes as usual.
	submit(t, e, &Request{Edits: []Edit{labEdit(t, next, OpMerge, "rack/r9", `{"units":2}`)}})
	// The migration's history shows the mark beside the moved objects.
	rec, err := e.Transaction(res.Index)
	if err != nil {
		t.Fatal(err)
	}
	var marked bool
	for _, c := range e.Changes(rec) {
		marked = marked || c.Path == "/models/lab/1.0.0" && c.Op == "create"
	}
	if !marked {
		t.Fatal("the migration's changes do not show /models/lab/1.0.0 created")
	}
	// Roll the migration back (the deployment's reference into 1.1.0 goes
	// first): the mark goes with it, and 1.0.0 takes writes again.
	submit(t, e, &Request{Edits: []Edit{edit(t, sch.Set("workload", "1.0.0"), OpDelete, "acme/deployment/d1/rack", "")}})
	submit(t, e, &Request{Rollback: res.Index})
	if m, ok := e.Snapshot().MigratedTo(old); ok {
		t.Fatalf("lab 1.0.0 still marked after the rollback: %+v", m)
	}
	submit(t, e, &Request{Edits: []Edit{labEdit(t, old, OpMerge, "rack/r9", `{"height":2}`)}})
	snap = e.Snapshot()
	if back, err := snap.ReadThrough(loc); err != nil || back != snap {
		t.Fatalf("lab 1.0.0 after the rollback reads through a conversion: %v", err)
	}
}

func labLoc(t *testing.T, set *schema.ModelSet, path string) *schema.Location {
	t.Helper()
	loc, err := schema.Resolve(set, "", schema.SplitPath(path))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
