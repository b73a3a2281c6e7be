package schema_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

// scopes loads Aether beside the repository's test sets: lab/1.0.0
// (global) and workload/1.0.0 (per tenant).
func scopes(t testing.TB) *schema.Schema {
	t.Helper()
	sch, err := schema.Load(models.FS, os.DirFS("../../test/testdata/models"))
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestGlobalKeysAndPaths(t *testing.T) {
	sch := scopes(t)
	lab, wl := sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0")
	if !lab.Global() || wl.Global() {
		t.Fatalf("scopes: lab %s, workload %s", lab.Scope, wl.Scope)
	}
	if k := schema.RootKey(lab, ""); k != "lab/1.0.0" {
		t.Errorf("lab's root key %q", k)
	}
	if p := schema.RESTPrefix(lab, ""); p != "/lab/v1.0.0" {
		t.Errorf("lab's REST prefix %q", p)
	}
	loc, err := schema.Resolve(lab, "", schema.SplitPath("server/sv1/rack"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.Tenant != "" || loc.ObjectKey != "lab/1.0.0/server/sv1" || loc.REST() != "/lab/v1.0.0/server/sv1/rack" || loc.GNMIPath() != "/server[server-id=sv1]/rack" {
		t.Fatalf("resolved: tenant %q key %q rest %q gnmi %q", loc.Tenant, loc.ObjectKey, loc.REST(), loc.GNMIPath())
	}
	back, err := schema.ParseGNMIPath(lab, "", loc.GNMIPath())
	if err != nil || back.REST() != loc.REST() {
		t.Fatalf("gNMI round trip: %v %v", back, err)
	}
	for key, want := range map[string]string{
		"lab/1.0.0/rack/r1":                  "/lab/v1.0.0/rack/r1",
		"lab/1.0.0":                          "/lab/v1.0.0",
		"workload/1.0.0/acme/deployment/d1":  "/workload/v1.0.0/acme/deployment/d1",
		"aether/2.1.x/acme/site/s1/device/d": "/aether/v2.1.x/acme/site/s1/device/d",
	} {
		l, err := sch.ParseObjectKey(key)
		if err != nil {
			t.Errorf("ParseObjectKey(%q): %v", key, err)
			continue
		}
		if l.REST() != want || l.ObjectKey != key {
			t.Errorf("ParseObjectKey(%q): REST %q key %q, want %q", key, l.REST(), l.ObjectKey, want)
		}
	}
	for key, want := range map[string]string{
		"lab/1.0.0/rack/r1":                 "",
		"lab/1.0.0":                         "",
		"workload/1.0.0/acme/deployment/d1": "acme",
		"workload/1.0.0/acme":               "acme",
		"aether/2.1.x/a%2Db/site/s1":        "a-b",
		"unloaded/1.0.0/acme/x/y":           "",
	} {
		if got := sch.TenantOfKey(key); got != want {
			t.Errorf("TenantOfKey(%q) = %q, want %q", key, got, want)
		}
	}
	// It runs for every validated leaf: no allocation for a plain tenant.
	if n := testing.AllocsPerRun(100, func() { _ = sch.TenantOfKey("workload/1.0.0/acme/deployment/d1") }); n != 0 {
		t.Errorf("TenantOfKey allocates %v times", n)
	}
}

// TestResolveScope: a tenant for a global set, or none for a tenant set,
// is refused with a typed error naming the path.
func TestResolveScope(t *testing.T) {
	sch := scopes(t)
	lab, wl := sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0")
	for _, c := range []struct {
		set          *schema.ModelSet
		tenant, path string
		kind         schema.Kind
		wantPath     string
		why          string
	}{
		{lab, "acme", "rack", schema.KindInvalid, "/lab/v1.0.0/acme", "no tenant segment"},
		{wl, "", "deployment", schema.KindInvalid, "/workload/v1.0.0", "start with the tenant"},
		// A REST path with a tenant segment on a global set reaches
		// Resolve as a first segment that is no top-level node.
		{lab, "", "acme/rack", schema.KindNotFound, "/lab/v1.0.0/acme", "no tenant segment"},
	} {
		_, err := schema.Resolve(c.set, c.tenant, schema.SplitPath(c.path))
		var se *schema.Error
		if !errors.As(err, &se) || se.Kind != c.kind || len(se.Problems) != 1 || se.Problems[0].Path != c.wantPath || !strings.Contains(se.Problems[0].Reason, c.why) {
			t.Errorf("Resolve(%s, %q, %q): %#v", c.set.Name, c.tenant, c.path, err)
		}
	}
	if l, err := schema.Resolve(wl, "acme", schema.SplitPath("deployment/d1")); err != nil || l.Tenant != "acme" || l.ObjectKey != "workload/1.0.0/acme/deployment/d1" {
		t.Fatalf("a tenant path: %+v %v", l, err)
	}
}

func BenchmarkTenantOfKey(b *testing.B) {
	sch := scopes(b)
	for b.Loop() {
		_ = sch.TenantOfKey("workload/1.0.0/acme/deployment/d1")
	}
}
