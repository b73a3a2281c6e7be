package schema_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

// routeSchema loads Aether, the test sets lab (global) and workload
// (tenant) and a second version of lab, so that an unknown version has two
// loaded ones to name.
func routeSchema(t testing.TB) *schema.Schema {
	t.Helper()
	lab2 := fstest.MapFS{
		"lab/2.0.0/lab-rack.yang": {Data: []byte(strings.ReplaceAll(rackModule, "lab-rack", "lab-rack2"))},
		"lab/2.0.0/modelset.yaml": {Data: []byte("name: lab\nversion: 2.0.0\nscope: global\n")},
	}
	sch, err := schema.Load(models.FS, os.DirFS("../../test/testdata/models"), lab2)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestParseRoute(t *testing.T) {
	sch := routeSchema(t)
	aether, lab, wl := sch.Set("aether", "2.1.x"), sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0")
	if aether == nil || lab == nil || wl == nil || !lab.Global() || wl.Global() {
		t.Fatal("test sets not loaded as expected")
	}
	type want struct {
		kind   string
		set    *schema.ModelSet
		tenant string
		data   []string
		canon  bool
	}
	for _, tc := range []struct {
		path string
		want want
	}{
		{"/aether/v2.1.x/acme/site/s1", want{"model", aether, "acme", []string{"site", "s1"}, true}},
		{"/aether/v2.1.x/acme", want{"model", aether, "acme", []string{}, true}},
		{"/aether/v2.1.x/acme/site/s1/", want{"model", aether, "acme", []string{"site", "s1"}, true}},
		// Escapes: the tenant is unescaped, the data stays as sent (Resolve unescapes).
		{"/aether/v2.1.x/ac%2Fme/ip-domain/10.0.0.0%2F8", want{"model", aether, "ac/me", []string{"ip-domain", "10.0.0.0%2F8"}, true}},
		{"/workload/v1.0.0/acme/app/a1", want{"model", wl, "acme", []string{"app", "a1"}, true}},
		// A global set: no tenant, the third segment is data.
		{"/lab/v1.0.0/rack/r1", want{"model", lab, "", []string{"rack", "r1"}, true}},
		{"/lab/v1.0.0", want{"model", lab, "", []string{}, true}},
		{"/lab/v1.0.0/acme/rack", want{"model", lab, "", []string{"acme", "rack"}, true}},
		{"/state/aether/v2.1.x/acme/upf/u1", want{"state", aether, "acme", []string{"upf", "u1"}, true}},
		{"/state/lab/v1.0.0/rack/r1", want{"state", lab, "", []string{"rack", "r1"}, true}},
		{"/state", want{"state", nil, "", nil, true}},
		{"/enterprises/acme", want{"enterprise", nil, "acme", nil, true}},
		{"/enterprises/ac%20me", want{"enterprise", nil, "ac me", nil, true}},
		{"/enterprises", want{"enterprises", nil, "", nil, true}},
		{"/transactions/12", want{"transactions", nil, "", nil, true}},
		{"/sync-status", want{"sync-status", nil, "", nil, true}},
		{"/audit", want{"audit", nil, "", nil, true}},
		{"/admin/log-level", want{"admin", nil, "", nil, true}},
		{"/targets", want{"targets", nil, "", nil, true}},
		{"/spec", want{"spec", nil, "", nil, true}},
		{"/diff", want{"diff", nil, "", nil, true}},
		{"/watch", want{"watch", nil, "", nil, true}},
		{"/search", want{"search", nil, "", nil, true}},
		{"/metrics", want{"metrics", nil, "", nil, true}},
		{"/aether-roc-api", want{"aether-roc-api", nil, "", nil, true}},
		{"/tokens", want{"other", nil, "", nil, true}},
		{"/nosuchset/v1/acme", want{"other", nil, "", nil, true}},
		{"/", want{"other", nil, "", nil, true}},
		{"/aether/v2.1.x/acme/../starbucks", want{"model", aether, "acme", []string{"..", "starbucks"}, false}},
		{"/aether/v2.1.x/./acme", want{"model", aether, ".", []string{"acme"}, false}},
	} {
		rt, err := sch.ParseRoute(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		got := want{rt.Kind, rt.Set, rt.Tenant, rt.Data, rt.Canonical}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

func TestParseRouteErrors(t *testing.T) {
	sch := routeSchema(t)
	for _, tc := range []struct {
		path string
		kind schema.Kind
		says []string
	}{
		{"/lab/v3.0.0/rack", schema.KindNotFound, []string{"/lab/v3.0.0/rack", `no version "3.0.0"`, "v1.0.0", "v2.0.0"}},
		{"/aether/2.1.x/acme", schema.KindNotFound, []string{"/aether/2.1.x/acme", "v2.1.x"}},
		{"/aether", schema.KindNotFound, []string{"missing version", "v2.1.x"}},
		{"/state/aether/v9/acme", schema.KindNotFound, []string{"/state/aether/v9/acme", "v2.1.x"}},
		{"/aether/v2.1.x", schema.KindNotFound, []string{"/aether/v2.1.x", "missing tenant", "tenant set"}},
		{"/workload/v1.0.0/", schema.KindNotFound, []string{"missing tenant"}},
		{"/aether/v2.1.x/ac%zzme/site", schema.KindInvalid, []string{"bad escape", "ac%zzme"}},
	} {
		_, err := sch.ParseRoute(tc.path)
		if err == nil {
			t.Errorf("%s: accepted", tc.path)
			continue
		}
		if schema.KindOf(err) != tc.kind {
			t.Errorf("%s: kind %v, want %v (%v)", tc.path, schema.KindOf(err), tc.kind, err)
		}
		for _, s := range tc.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", tc.path, err, s)
			}
		}
	}
}

func TestRouteResolve(t *testing.T) {
	sch := routeSchema(t)
	rt, err := sch.ParseRoute("/aether/v2.1.x/acme/site/s1")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := rt.Resolve()
	if err != nil || loc.REST() != "/aether/v2.1.x/acme/site/s1" || loc.ObjectKey != "aether/2.1.x/acme/site/s1" {
		t.Fatalf("resolved %+v, %v", loc, err)
	}
	rt, _ = sch.ParseRoute("/transactions")
	if _, err := rt.Resolve(); err == nil {
		t.Fatal("a transactions route resolved")
	}
}

func TestLookup(t *testing.T) {
	m := map[string]any{"a": map[string]any{"b": "x", "l": []any{1}}}
	for _, tc := range []struct {
		path []string
		v    any
		ok   bool
	}{
		{nil, m, true},
		{[]string{"a", "b"}, "x", true},
		{[]string{"a", "c"}, nil, false},
		{[]string{"a", "b", "c"}, nil, false},
		{[]string{"a", "l", "0"}, nil, false},
	} {
		v, ok := schema.Lookup(m, tc.path)
		if ok != tc.ok || !reflect.DeepEqual(v, tc.v) {
			t.Errorf("Lookup %v = %v, %v; want %v, %v", tc.path, v, ok, tc.v, tc.ok)
		}
	}
}
