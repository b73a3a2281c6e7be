package config

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// testModels are the test model sets (lab: global, workload: tenant) that
// refer to each other and to Aether with ampx:refers-to.
var testModels = os.DirFS("../../test/testdata/models")

const xrefSite = `{"imsi-definition":{"mcc":"001","mnc":"01","enterprise":1,"format":"CCCNNNEEESSSSSS"}}`

// xrefEngine opens an engine with Aether and the test sets on st, with
// enterprises acme and starbucks (on a fresh store).
func xrefEngine(t *testing.T, st store.Store, sources ...fs.FS) (*Engine, *schema.Schema) {
	t.Helper()
	sch, err := schema.Load(append([]fs.FS{models.FS}, sources...)...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(sch, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if !e.Snapshot().TargetExists("acme") {
		submit(t, e, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}, {Op: OpCreate, Name: "starbucks"}}})
	}
	return e, sch
}

func submit(t *testing.T, e *Engine, req *Request) {
	t.Helper()
	if _, err := e.Submit(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

// refused submits edits that must fail with a conflict and returns the
// error's text, checking that nothing changed.
func refused(t *testing.T, e *Engine, edits ...Edit) string {
	t.Helper()
	before := e.Snapshot().Index
	_, err := e.Submit(context.Background(), &Request{Edits: edits})
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindConflict {
		t.Fatalf("want a conflict, got %v", err)
	}
	if e.Snapshot().Index != before {
		t.Fatal("a refused transaction changed the store")
	}
	return err.Error()
}

// TestRefAcrossSets: a workload deployment (tenant set) names an Aether
// site of its own enterprise. Dangling references are refused naming the
// path and where they looked; deleting a referenced site is refused naming
// every referrer; changing the reference releases the old site.
func TestRefAcrossSets(t *testing.T) {
	_, st := newTestStore(t)
	e, sch := xrefEngine(t, st, testModels)
	aether, wl := sch.Set("aether", "2.1.x"), sch.Set("workload", "1.0.0")
	submit(t, e, &Request{Edits: []Edit{
		edit(t, aether, OpMerge, "acme/site/s1", xrefSite),
		edit(t, aether, OpMerge, "acme/site/s2", xrefSite),
		edit(t, wl, OpMerge, "acme/deployment/d1", `{"image":"nginx","site":"s1"}`),
		edit(t, wl, OpMerge, "acme/deployment/d2", `{"image":"nginx","site":"s1"}`),
	}})

	msg := refused(t, e, edit(t, wl, OpMerge, "acme/deployment/d3", `{"image":"nginx","site":"s404"}`))
	for _, want := range []string{"/workload/v1.0.0/acme/deployment/d3/site", `"site" refers to site "s404", which does not exist in /aether/v2.1.x/acme/site (model set aether 2.1.x)`} {
		if !strings.Contains(msg, want) {
			t.Errorf("dangling reference: %s\nwant %q", msg, want)
		}
	}

	// Both referrers are named; the site stays.
	msg = refused(t, e, edit(t, aether, OpDelete, "acme/site/s1", ""))
	for _, want := range []string{"/workload/v1.0.0/acme/deployment/d1/site", "/workload/v1.0.0/acme/deployment/d2/site", "refers to /aether/v2.1.x/acme/site/s1, which this change deletes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("delete of a referenced site: %s\nwant %q", msg, want)
		}
	}

	// Moving both deployments to s2 drops their references to s1.
	submit(t, e, &Request{Edits: []Edit{
		edit(t, wl, OpMerge, "acme/deployment/d1", `{"site":"s2"}`),
		edit(t, wl, OpMerge, "acme/deployment/d2", `{"site":"s2"}`),
	}})
	submit(t, e, &Request{Edits: []Edit{edit(t, aether, OpDelete, "acme/site/s1", "")}})
	refused(t, e, edit(t, aether, OpDelete, "acme/site/s2", ""))
	// Deleting the referrer and the referred in one transaction is fine.
	submit(t, e, &Request{Edits: []Edit{
		edit(t, wl, OpDelete, "acme/deployment/d1", ""),
		edit(t, wl, OpDelete, "acme/deployment/d2", ""),
		edit(t, aether, OpDelete, "acme/site/s2", ""),
	}})
}

// TestRefNeverCrossesTenants: acme cannot name starbucks' site, and the
// refusal reads exactly as for a site that exists nowhere, so it does not
// tell acme whether starbucks has one.
func TestRefNeverCrossesTenants(t *testing.T) {
	_, st := newTestStore(t)
	e, sch := xrefEngine(t, st, testModels)
	aether, wl := sch.Set("aether", "2.1.x"), sch.Set("workload", "1.0.0")
	submit(t, e, &Request{Edits: []Edit{edit(t, aether, OpMerge, "starbucks/site/s9", xrefSite)}})

	theirs := refused(t, e, edit(t, wl, OpMerge, "acme/deployment/d1", `{"image":"nginx","site":"s9"}`))
	nowhere := refused(t, e, edit(t, wl, OpMerge, "acme/deployment/d1", `{"image":"nginx","site":"s8"}`))
	if strings.Contains(theirs, "starbucks") || strings.ReplaceAll(nowhere, `"s8"`, `"s9"`) != theirs {
		t.Fatalf("the refusal depends on starbucks' sites:\n%s\n%s", theirs, nowhere)
	}
	// starbucks itself may name it, and acme's deletion of its own
	// (nonexistent) site cannot touch starbucks' reference.
	submit(t, e, &Request{Edits: []Edit{edit(t, wl, OpMerge, "starbucks/deployment/d1", `{"image":"nginx","site":"s9"}`)}})
	refused(t, e, edit(t, aether, OpDelete, "starbucks/site/s9", ""))
}

// TestRefCheckIsIncremental: a transaction checks the references of the
// objects it touches, not every reference in the store. A deployment whose
// site went missing while references were not declared (the store was
// written by a schema without ampx:refers-to) does not block unrelated
// changes, and is refused as soon as it is touched.
func TestRefCheckIsIncremental(t *testing.T) {
	plain := fstest.MapFS{}
	err := fs.WalkDir(testModels, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(testModels, p)
		var kept []string
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "ampx:refers-to") {
				kept = append(kept, line)
			}
		}
		plain[p] = &fstest.MapFile{Data: []byte(strings.Join(kept, "\n"))}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, sch := xrefEngine(t, st, plain)
	submit(t, e, &Request{Edits: []Edit{edit(t, sch.Set("workload", "1.0.0"), OpMerge, "acme/deployment/d1", `{"image":"nginx","site":"gone"}`)}})
	e.Close()
	st.Close()

	st, err = store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, sch = xrefEngine(t, st, testModels)
	aether, wl := sch.Set("aether", "2.1.x"), sch.Set("workload", "1.0.0")
	submit(t, e, &Request{Edits: []Edit{
		edit(t, aether, OpMerge, "acme/site/s1", xrefSite),
		edit(t, wl, OpMerge, "acme/deployment/d2", `{"image":"nginx","site":"s1"}`),
	}})
	msg := refused(t, e, edit(t, wl, OpMerge, "acme/deployment/d1", `{"replicas":2}`))
	if !strings.Contains(msg, `"site" refers to site "gone"`) {
		t.Fatalf("touching the stale deployment: %s", msg)
	}
	// The references of the stored objects were indexed at start-up.
	refused(t, e, edit(t, aether, OpDelete, "acme/site/s1", ""))
}

// TestRefGlobalSets: references into and out of a global set. A tenant
// object refers to a global rack (looked up in the set, no tenant); a
// global rack refers to an Aether site in the tenant its ampx:tenant leaf
// names, and without one is refused; deletions are refused naming the
// referrers across scopes; changing the tenant moves the reference.
func TestRefGlobalSets(t *testing.T) {
	_, st := newTestStore(t)
	e, sch := xrefEngine(t, st, testModels)
	aether, lab, wl := sch.Set("aether", "2.1.x"), sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0")
	submit(t, e, &Request{Edits: []Edit{
		edit(t, aether, OpMerge, "acme/site/s1", xrefSite),
		edit(t, aether, OpMerge, "starbucks/site/s1", xrefSite),
	}})

	// Tenant → global.
	msg := refused(t, e, edit(t, wl, OpMerge, "acme/deployment/d1", `{"image":"nginx","rack":"r1"}`))
	if want := `"rack" refers to rack "r1", which does not exist in /lab/v1.0.0/rack (model set lab 1.0.0)`; !strings.Contains(msg, want) {
		t.Errorf("dangling reference to a rack: %s\nwant %q", msg, want)
	}
	submit(t, e, &Request{Edits: []Edit{labEdit(t, lab, OpMerge, "rack/r1", `{}`)}})
	submit(t, e, &Request{Edits: []Edit{
		edit(t, wl, OpMerge, "acme/deployment/d1", `{"image":"nginx","rack":"r1"}`),
		edit(t, wl, OpMerge, "starbucks/deployment/d1", `{"image":"nginx","rack":"r1"}`),
	}})
	msg = refused(t, e, labEdit(t, lab, OpDelete, "rack/r1", ""))
	for _, want := range []string{"/workload/v1.0.0/acme/deployment/d1/rack", "/workload/v1.0.0/starbucks/deployment/d1/rack"} {
		if !strings.Contains(msg, want) {
			t.Errorf("delete of a referenced rack: %s\nwant %q", msg, want)
		}
	}

	// Global → tenant: the rack's tenant says where its site is.
	_, err := e.Submit(context.Background(), &Request{Edits: []Edit{labEdit(t, lab, OpMerge, "rack/r2", `{"aether-site":"s1"}`)}})
	if schema.KindOf(err) != schema.KindInvalid || !strings.Contains(err.Error(), `/lab/v1.0.0/rack/r2/aether-site: "aether-site" refers to a site of model set aether, which is per tenant: set "tenant" to name the enterprise it is in`) {
		t.Errorf("a rack's site without its tenant: %v", err)
	}
	msg = refused(t, e, labEdit(t, lab, OpMerge, "rack/r2", `{"tenant":"nobody","aether-site":"s1"}`))
	if want := "does not exist in /aether/v2.1.x/nobody/site (model set aether 2.1.x)"; !strings.Contains(msg, want) {
		t.Errorf("a rack naming an unknown enterprise: %s\nwant %q", msg, want)
	}
	submit(t, e, &Request{Edits: []Edit{labEdit(t, lab, OpMerge, "rack/r2", `{"tenant":"acme","aether-site":"s1"}`)}})
	msg = refused(t, e, edit(t, aether, OpDelete, "acme/site/s1", ""))
	if want := "/lab/v1.0.0/rack/r2/aether-site"; !strings.Contains(msg, want) {
		t.Errorf("delete of a site a rack names: %s\nwant %q", msg, want)
	}
	// Moving the rack to starbucks releases acme's site and holds theirs.
	submit(t, e, &Request{Edits: []Edit{labEdit(t, lab, OpMerge, "rack/r2", `{"tenant":"starbucks"}`)}})
	submit(t, e, &Request{Edits: []Edit{edit(t, aether, OpDelete, "acme/site/s1", "")}})
	refused(t, e, edit(t, aether, OpDelete, "starbucks/site/s1", ""))
	// Deleting starbucks deletes its site, which the global rack still
	// names: refused (deletes do not cascade into the global set).
	_, err = e.Submit(context.Background(), &Request{Targets: []TargetEdit{{Op: OpDelete, Name: "starbucks"}}})
	if schema.KindOf(err) != schema.KindConflict || !strings.Contains(err.Error(), "/lab/v1.0.0/rack/r2/aether-site") {
		t.Errorf("deleting the enterprise a rack's site is in: %v", err)
	}
}
