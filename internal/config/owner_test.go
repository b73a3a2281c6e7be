package config

import (
	"testing"

	"github.com/amp-edge/amp/internal/schema"
)

// TestOwner: a global object's owner is the tenant its ampx:tenant leaf
// names, as the snapshot holds it; nothing else has one.
func TestOwner(t *testing.T) {
	_, st := newTestStore(t)
	e, sch := xrefEngine(t, st, testModels)
	lab, wl := sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0")
	submit(t, e, &Request{Edits: []Edit{
		labEdit(t, lab, OpMerge, "rack/r1", `{"tenant":"acme"}`),
		labEdit(t, lab, OpMerge, "rack/r2", `{}`),
		labEdit(t, lab, OpMerge, "server/sv1", `{"rack":"r1"}`),
		edit(t, wl, OpMerge, "acme/deployment/d1", `{"image":"nginx"}`),
	}})
	before := e.Snapshot()
	loc := func(set *schema.ModelSet, tenant string, path ...string) *schema.Location {
		t.Helper()
		l, err := schema.Resolve(set, tenant, path)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, c := range []struct {
		loc  *schema.Location
		want string
	}{
		{loc(lab, "", "rack", "r1"), "acme"},
		{loc(lab, "", "rack", "r1", "height"), "acme"}, // a leaf of a tied rack
		{loc(lab, "", "rack", "r2"), ""},               // names no tenant
		{loc(lab, "", "rack", "r9"), ""},               // does not exist
		{loc(lab, "", "rack"), ""},                     // the list: its entries have owners
		{loc(lab, "", "server", "sv1"), ""},            // a server names no tenant of its own
		{loc(wl, "acme", "deployment", "d1"), ""},      // tenant sets have tenants, not owners
	} {
		if got := before.Owner(c.loc); got != c.want {
			t.Errorf("owner of %s = %q, want %q", c.loc.REST(), got, c.want)
		}
	}
	submit(t, e, &Request{Edits: []Edit{labEdit(t, lab, OpMerge, "rack/r1", `{"tenant":"starbucks"}`)}})
	if got := e.Snapshot().Owner(loc(lab, "", "rack", "r1")); got != "starbucks" {
		t.Errorf("owner of a retied rack = %q", got)
	}
	if got := before.Owner(loc(lab, "", "rack", "r1")); got != "acme" {
		t.Errorf("an older snapshot's owner changed to %q", got)
	}
}
