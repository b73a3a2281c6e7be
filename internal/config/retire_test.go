package config

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
)

func targetProblem(t *testing.T, err error, kind schema.Kind, path, reason string) {
	t.Helper()
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != kind || len(se.Problems) != 1 || se.Problems[0].Path != path || !strings.Contains(se.Problems[0].Reason, reason) {
		t.Fatalf("got %v, want a %v problem at %s saying %q", err, kind, path, reason)
	}
}

func TestDeletedEnterpriseIDIsRetired(t *testing.T) {
	e, _ := newTestEngine(t)
	ctx := context.Background()
	create := &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "gone"}}}
	if _, err := e.Submit(ctx, create); err != nil {
		t.Fatal(err)
	}
	del := func(dry bool) (*Result, error) {
		return e.Submit(ctx, &Request{DryRun: dry, Targets: []TargetEdit{{Op: OpDelete, Name: "gone"}}})
	}
	if _, err := del(true); err != nil {
		t.Fatal(err)
	}
	if _, retired := e.Retired("gone"); retired {
		t.Fatal("a dry-run deletion retired the id")
	}
	res, err := del(false)
	if err != nil {
		t.Fatal(err)
	}
	r, retired := e.Retired("gone")
	if !retired || r.Index != res.Index {
		t.Fatalf("retired %v at %d, want at %d", retired, r.Index, res.Index)
	}
	for _, op := range []Op{OpCreate, OpMerge} {
		_, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: op, Name: "gone"}}})
		targetProblem(t, err, schema.KindConflict, "/enterprises/gone", "ids are never reused")
	}
	if e.Snapshot().TargetExists("gone") {
		t.Fatal("the refused creation changed the configuration")
	}
	if _, retired := e.Retired("never-was"); retired {
		t.Fatal("an id never used is retired")
	}
}

func TestReservedEnterpriseIDsRefused(t *testing.T) {
	e, _ := newTestEngine(t)
	ctx := context.Background()
	for id, rule := range map[string]string{"acme-admin": `ending in "-admin"`, "amp-state-writer": `starting with "amp-"`, "amp-suspended": `starting with "amp-"`} {
		_, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: id}}})
		targetProblem(t, err, schema.KindInvalid, "/enterprises/"+id, rule)
	}
	if _, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "admin-acme"}}}); err != nil {
		t.Fatalf("an id that only contains a reserved word: %v", err)
	}
}

// An enterprise deleted by a version that did not retire ids is retired
// when the store is next opened, from the retained history.
func TestDeletionsBeforeUpgradeRetired(t *testing.T) {
	sch, st := newTestStore(t)
	e, err := Open(sch, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, te := range []TargetEdit{{Op: OpCreate, Name: "old"}, {Op: OpDelete, Name: "old"}, {Op: OpCreate, Name: "kept"}} {
		if _, err := e.Submit(ctx, &Request{Targets: []TargetEdit{te}}); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	// What the old version left: no retirement, no scan marker.
	for _, k := range []string{retiredMetaPrefix + "old", historyScannedMeta} {
		if err := st.DeleteMeta(k); err != nil {
			t.Fatal(err)
		}
	}
	e, err = Open(sch, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if r, ok := e.Retired("old"); !ok || r.Index != 2 {
		t.Fatalf("old: retired %v at %d, want at 2", ok, r.Index)
	}
	if _, ok := e.Retired("kept"); ok {
		t.Fatal("an enterprise that exists is retired")
	}
	_, err = e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "old"}}})
	targetProblem(t, err, schema.KindConflict, "/enterprises/old", "deleted by transaction 2")
}
