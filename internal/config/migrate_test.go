package config

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/schema/migrate"
	"github.com/amp-edge/amp/internal/store"
)

// nextModels holds lab 1.1.0, the second version of the lab test set
// (rack height renamed units, at most 48; migrate-from 1.0.0 declared).
var nextModels = os.DirFS("../../test/testdata/models-next")

// labStore writes racks and servers of lab 1.0.0 and an acme deployment
// pinned to rack r1 with only lab 1.0.0 loaded, as a store written before
// lab 1.1.0 was installed, and reopens it with both versions loaded.
func labStore(t *testing.T, racks map[string]string) (*Engine, *schema.Schema) {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, sch := xrefEngine(t, st, testModels)
	lab, wl := sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0")
	var edits []Edit
	for id, body := range racks {
		edits = append(edits, labEdit(t, lab, OpMerge, "rack/"+id, body))
	}
	edits = append(edits, labEdit(t, lab, OpMerge, "server/s1", `{"rack":"r1","position":3,"tag":["gpu","a"]}`),
		edit(t, wl, OpMerge, "acme/deployment/d1", `{"image":"nginx","rack":"r1"}`))
	submit(t, e, &Request{Edits: edits})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return xrefEngine(t, st, testModels, nextModels)
}

func TestMigrateMovesOneTransaction(t *testing.T) {
	e, sch := labStore(t, map[string]string{"r1": `{"height":40,"display-name":"one"}`, "r2": `{}`})
	plan, err := migrate.For(sch, "lab", "1.0.0", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	before := e.Snapshot()
	dry, err := e.Submit(context.Background(), &Request{Migrate: plan, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Changes) == 0 || e.Snapshot() != before {
		t.Fatalf("dry run: %d changes, store changed %v", len(dry.Changes), e.Snapshot() != before)
	}
	res, err := e.Submit(context.Background(), &Request{Migrate: plan})
	if err != nil {
		t.Fatal(err)
	}
	if res.Index != before.Index+1 {
		t.Fatalf("migration committed as index %d, want one transaction (%d)", res.Index, before.Index+1)
	}
	snap := e.Snapshot()
	r1, ok := snap.Get("lab/1.1.0/rack/r1")
	if !ok || r1.Data["units"] != uint64(40) || r1.Data["height"] != nil || r1.Data["display-name"] != "one" {
		t.Fatalf("rack r1 in 1.1.0: %v", r1)
	}
	if s1, ok := snap.Get("lab/1.1.0/server/s1"); !ok || len(s1.Data["tag"].([]any)) != 2 {
		t.Fatalf("server s1 in 1.1.0: %v", s1)
	}
	for _, k := range []string{"lab/1.0.0/rack/r1", "lab/1.0.0/rack/r2", "lab/1.0.0/server/s1"} {
		if _, ok := snap.Get(k); ok {
			t.Fatalf("%s still stored after the migration", k)
		}
	}
	// Again: nothing left to move, refused.
	if _, err := e.Submit(context.Background(), &Request{Migrate: plan}); err == nil || !strings.Contains(err.Error(), "lab 1.0.0 holds no objects") {
		t.Fatalf("a second migration: %v", err)
	}
	// The deployment's reference resolves in the newest version: the moved
	// rack is referenced, so deleting it is refused naming the deployment.
	msg := refused(t, e, labEdit(t, sch.Set("lab", "1.1.0"), OpDelete, "rack/r2", ""),
		labEdit(t, sch.Set("lab", "1.1.0"), OpDelete, "rack/r1", ""), labEdit(t, sch.Set("lab", "1.1.0"), OpDelete, "server/s1", ""))
	if !strings.Contains(msg, "/workload/v1.0.0/acme/deployment/d1/rack: refers to /lab/v1.1.0/rack/r1") {
		t.Fatalf("delete of a migrated, referenced rack: %s", msg)
	}
	// Rolling the migration back would leave the deployment's reference
	// (into the newest version) dangling: refused, naming it, until the
	// deployment no longer names the rack.
	if _, err := e.Submit(context.Background(), &Request{Rollback: res.Index}); err == nil || !strings.Contains(err.Error(), "/workload/v1.0.0/acme/deployment/d1") {
		t.Fatalf("rollback with a referrer into 1.1.0: %v", err)
	}
	submit(t, e, &Request{Edits: []Edit{edit(t, sch.Set("workload", "1.0.0"), OpDelete, "acme/deployment/d1/rack", "")}})
	// Now rolling the one transaction back restores 1.0.0 as it was.
	submit(t, e, &Request{Rollback: res.Index})
	snap = e.Snapshot()
	if r1, ok := snap.Get("lab/1.0.0/rack/r1"); !ok || r1.Data["height"] != uint64(40) {
		t.Fatalf("rack r1 after rollback: %v", r1)
	}
	if _, ok := snap.Get("lab/1.1.0/rack/r1"); ok {
		t.Fatal("rack r1 still in 1.1.0 after rollback")
	}
}

func TestMigrateRefusesWhole(t *testing.T) {
	racks := map[string]string{}
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		racks[id] = `{"height":42}`
	}
	racks["r3"] = `{"height":52}` // 1.1.0 allows at most 48 units
	e, sch := labStore(t, racks)
	plan, err := migrate.For(sch, "lab", "1.0.0", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	before := e.Snapshot()
	_, err = e.Submit(context.Background(), &Request{Migrate: plan})
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindInvalid || len(se.Problems) != 1 ||
		se.Problems[0].Path != "/lab/v1.0.0/rack/r3" || !strings.Contains(se.Problems[0].Reason, "units") {
		t.Fatalf("want the unconvertible rack named, got %v", err)
	}
	if e.Snapshot() != before {
		t.Fatal("a refused migration changed the store")
	}
	// Into a version that already holds objects: refused.
	submit(t, e, &Request{Edits: []Edit{labEdit(t, sch.Set("lab", "1.1.0"), OpMerge, "rack/x", `{}`)}})
	if _, err := e.Submit(context.Background(), &Request{Migrate: plan}); err == nil || !strings.Contains(err.Error(), "already holds objects") {
		t.Fatalf("migration into a version with objects: %v", err)
	}
}

func init() {
	// The way back, in Go (a declaration lives in the newer version).
	migrate.Register("lab", "1.1.0", "1.0.0", func(o *migrate.Object) error {
		if v, ok := o.Data["units"]; ok {
			o.Data["height"] = v
			delete(o.Data, "units")
		}
		return nil
	})
}

// TestMigrateKeepsReferencesValid: moving lab back from 1.1.0 to 1.0.0
// would leave the deployment's reference (which resolves in the newest
// version, 1.1.0) dangling: the engine refuses it naming the referrer.
func TestMigrateKeepsReferencesValid(t *testing.T) {
	e, sch := labStore(t, map[string]string{"r1": `{}`})
	up, err := migrate.For(sch, "lab", "1.0.0", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	submit(t, e, &Request{Migrate: up})
	down, err := migrate.For(sch, "lab", "1.1.0", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Submit(context.Background(), &Request{Migrate: down})
	if err == nil || !strings.Contains(err.Error(), "/workload/v1.0.0/acme/deployment/d1") {
		t.Fatalf("a migration leaving a reference dangling: %v", err)
	}
}
