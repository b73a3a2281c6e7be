package config

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// scopeEngine opens an engine with the repository's test model sets beside
// Aether: lab/1.0.0 (global) and workload/1.0.0 (per tenant).
func scopeEngine(t *testing.T) (*Engine, *schema.ModelSet, *schema.ModelSet, *store.Bolt) {
	t.Helper()
	sch, err := schema.Load(models.FS, os.DirFS("../../test/testdata/models"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := Open(sch, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0"), st
}

// labEdit is edit for a global set: the path has no tenant.
func labEdit(t *testing.T, set *schema.ModelSet, op Op, path, body string) Edit {
	t.Helper()
	loc, err := schema.Resolve(set, "", schema.SplitPath(path))
	if err != nil {
		t.Fatal(err)
	}
	return withValue(t, Edit{Op: op, Loc: loc}, body)
}

func TestGlobalSetObjects(t *testing.T) {
	e, lab, wl, _ := scopeEngine(t)
	ctx := context.Background()
	submit := func(req *Request) (*Result, error) { return e.Submit(ctx, req) }
	must := func(req *Request) *Result {
		t.Helper()
		res, err := submit(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// A global object needs no tenant record; a tenant object still does.
	first := must(&Request{Edits: []Edit{labEdit(t, lab, OpMerge, "rack/r1", `{"display-name":"Rack 1"}`)}})
	if _, ok := e.Snapshot().Get("lab/1.0.0/rack/r1"); !ok {
		t.Fatal("rack r1 is not stored under lab/1.0.0/rack/r1")
	}
	if _, err := submit(&Request{Edits: []Edit{edit(t, wl, OpMerge, "acme/deployment/d1", `{"image":"nginx"}`)}}); schema.KindOf(err) != schema.KindNotFound {
		t.Fatalf("a tenant object of no enterprise: %v", err)
	}
	must(&Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}})

	// One transaction over both scopes: its summary names both sets and
	// the one tenant (the global object adds none).
	both := must(&Request{Edits: []Edit{
		labEdit(t, lab, OpMerge, "rack/r2", `{"height":40}`),
		edit(t, wl, OpMerge, "acme/deployment/d1", `{"image":"nginx","rack":"r2"}`),
	}})
	rec, err := e.Transaction(both.Index)
	if err != nil {
		t.Fatal(err)
	}
	info := rec.Info(e.Schema())
	if !slices.Equal(info.Sets, []string{"lab/1.0.0", "workload/1.0.0"}) || !slices.Equal(info.Targets, []string{"acme"}) {
		t.Fatalf("summary of a cross-set transaction: %+v", info)
	}
	listed, err := e.ListTransactions(0, 10, "")
	if err != nil || len(listed) == 0 || !slices.Equal(listed[0].Sets, info.Sets) || !slices.Equal(listed[0].Targets, info.Targets) {
		t.Fatalf("listed: %+v %v", listed, err)
	}
	rec, _ = e.Transaction(first.Index)
	if info := rec.Info(e.Schema()); len(info.Targets) != 0 || !slices.Equal(info.Sets, []string{"lab/1.0.0"}) {
		t.Fatalf("summary of a global transaction: %+v", info)
	}

	// Point-in-time reads of a global set's prefix.
	at, err := e.At(first.Index, schema.RootKey(lab, "")+"/")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := at.Get("lab/1.0.0/rack/r2"); ok {
		t.Error("rack r2 exists at the index before it was created")
	}
	if _, ok := at.Get("lab/1.0.0/rack/r1"); !ok {
		t.Error("rack r1 is missing at the index it was created")
	}

	// Leafrefs inside the global set are checked as in a tenant's.
	if _, err := submit(&Request{Edits: []Edit{labEdit(t, lab, OpMerge, "server/s1", `{"rack":"r9"}`)}}); schema.KindOf(err) != schema.KindConflict {
		t.Fatalf("a dangling reference: %v", err)
	}
	must(&Request{Edits: []Edit{labEdit(t, lab, OpMerge, "server/s1", `{"rack":"r1"}`)}})
	if _, err := submit(&Request{Edits: []Edit{labEdit(t, lab, OpDelete, "rack/r1", "")}}); schema.KindOf(err) != schema.KindConflict {
		t.Fatalf("deleting a referenced rack: %v", err)
	}

	// Rolling back the cross-set transaction undoes both sets at once.
	must(&Request{Rollback: both.Index})
	for _, k := range []string{"lab/1.0.0/rack/r2", "workload/1.0.0/acme/deployment/d1"} {
		if _, ok := e.Snapshot().Get(k); ok {
			t.Errorf("%s survived the rollback", k)
		}
	}

	// Deleting a tenant deletes its objects in every tenant set, never the
	// operator's global ones.
	must(&Request{Edits: []Edit{edit(t, wl, OpMerge, "acme/deployment/d2", `{"image":"redis"}`)}})
	must(&Request{Targets: []TargetEdit{{Op: OpDelete, Name: "acme"}}})
	if _, ok := e.Snapshot().Get("workload/1.0.0/acme/deployment/d2"); ok {
		t.Error("the deleted enterprise's deployment survived")
	}
	for _, k := range []string{"lab/1.0.0/rack/r1", "lab/1.0.0/server/s1"} {
		if _, ok := e.Snapshot().Get(k); !ok {
			t.Errorf("%s went with an enterprise", k)
		}
	}
}

// TestGlobalSetBackupRestore: global objects and their history survive a
// backup and a restore into a fresh store.
func TestGlobalSetBackupRestore(t *testing.T) {
	e, lab, _, _ := scopeEngine(t)
	ctx := context.Background()
	res, err := e.Submit(ctx, &Request{Edits: []Edit{labEdit(t, lab, OpMerge, "rack/r1", `{"height":12}`)}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, _, err := e.Backup(&buf, backup.Header{Source: "bbolt"}); err != nil {
		t.Fatal(err)
	}
	dst, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := backup.Restore(dst, &buf); err != nil {
		t.Fatal(err)
	}
	r, err := Open(e.Schema(), dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o, ok := r.Snapshot().Get("lab/1.0.0/rack/r1")
	if !ok || schema.Format(o.Data["height"]) != "12" {
		t.Fatalf("restored rack: %v %v", o, ok)
	}
	rec, err := r.Transaction(res.Index)
	if err != nil {
		t.Fatal(err)
	}
	if ch := r.Changes(rec); len(ch) != 1 || ch[0].Path != "/lab/v1.0.0/rack/r1" {
		t.Fatalf("restored history: %+v", ch)
	}
}
