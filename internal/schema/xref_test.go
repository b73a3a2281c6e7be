package schema_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

// TestRefsAcrossSets: the test sets' references resolve to the lists they
// name, in the newest loaded version of the other set, with the tenant
// leaf of a global referrer into a tenant set.
func TestRefsAcrossSets(t *testing.T) {
	sch, err := schema.Load(models.FS, os.DirFS("../../test/testdata/models"))
	if err != nil {
		t.Fatal(err)
	}
	aether, lab, wl := sch.Set("aether", ""), sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0")
	dep := wl.Root.Child("deployment")
	rack := lab.Root.Child("rack")
	for _, c := range []struct {
		leaf       *schema.Node
		set        *schema.ModelSet
		list       string
		global     bool
		tenantLeaf []string
	}{
		{dep.Child("site"), aether, "site", false, nil},
		{dep.Child("rack"), lab, "rack", true, nil},
		{rack.Child("aether-site"), aether, "site", false, []string{"tenant"}},
	} {
		r := c.leaf.Ref
		if r == nil || r.Set != c.set || r.List != c.set.Root.Child(c.list) || r.Key != r.List.Child(r.List.Keys[0]) ||
			r.Global() != c.global || !slices.Equal(r.TenantLeaf, c.tenantLeaf) || len(r.Containers) != 0 {
			t.Errorf("%s: ref %+v", c.leaf.SchemaPath(), r)
		}
	}
	if !rack.Child("tenant").TenantLeaf || dep.Child("image").Ref != nil {
		t.Error("extensions marked the wrong leaves")
	}
}

// TestRefLoadErrors: a reference that cannot be resolved fails loading,
// naming the set, the module, the leaf and the reason.
func TestRefLoadErrors(t *testing.T) {
	const head = `module amp-t {
  yang-version 1.1;
  namespace "urn:amp:t";
  prefix t;
  import amp-extensions { prefix ampx; }
`
	load := func(scope, body string) error {
		_, err := schema.Load(models.FS, fstest.MapFS{
			"t/1.0.0/amp-t.yang":      {Data: []byte(head + body + "\n}")},
			"t/1.0.0/modelset.yaml":   {Data: []byte("name: t\nversion: 1.0.0\nscope: " + scope + "\n")},
			"lab/1.0.0/lab-rack.yang": {Data: []byte(rackModule)},
			"lab/1.0.0/modelset.yaml": {Data: []byte("name: lab\nversion: 1.0.0\nscope: global\n")},
		})
		return err
	}
	leaf := func(ext string) string {
		return `list x { key id; leaf id { type string; } leaf r { type string; ` + ext + ` } }`
	}
	for _, c := range []struct{ scope, body, want string }{
		{"tenant", leaf(`ampx:refers-to "fleetx:/site/site-id";`), `module amp-t: /x/r: ampx:refers-to "fleetx:/site/site-id": no model set "fleetx" is loaded`},
		{"tenant", leaf(`ampx:refers-to "aether:/site/display-name";`), "/site/display-name is not the key leaf of a list"},
		{"tenant", leaf(`ampx:refers-to "aether:/site";`), "/site is not the key leaf of a list"},
		{"tenant", leaf(`ampx:refers-to "aether:/site/device/device-id";`), "/site is a list: only containers may lie above the list referred to"},
		{"tenant", leaf(`ampx:refers-to "aether:/nowhere/x";`), `no "nowhere" in the aether 2.1.x root`},
		{"tenant", leaf(`ampx:refers-to "/site/site-id";`), "want <set>:<absolute schema path"},
		{"tenant", `list x { key id; leaf id { type string; } leaf r { type uint8; ampx:refers-to "lab:/rack/rack-id"; } }`, "only a leaf or leaf-list of a string type"},
		{"global", leaf(`ampx:refers-to "aether:/site/site-id";`), "model set t 1.0.0: module amp-t: /x/r: ampx:refers-to \"aether:/site/site-id\": model set aether is per tenant: a global object referring into it needs a leaf marked ampx:tenant"},
		{"tenant", `list x { key id; leaf id { type string; } leaf owner { type string; ampx:tenant; } }`, "/x/owner: ampx:tenant: model set t is per tenant"},
		{"global", `list x { key id; leaf id { type string; } leaf owner { type uint8; ampx:tenant; } }`, "only a leaf of a string type can name a tenant"},
	} {
		if err := load(c.scope, c.body); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s set, %s:\nerror %v\nwant %q", c.scope, c.body, err, c.want)
		}
	}
	// The same shapes load when the reference is well formed: into a
	// global set from a tenant set, into a tenant set from a global object
	// that names its tenant (inside a container), into its own set.
	for _, c := range []struct{ scope, body string }{
		{"tenant", leaf(`ampx:refers-to "lab:/rack/rack-id";`)},
		{"global", `list x { key id; leaf id { type string; } container o { leaf owner { type string; ampx:tenant; } } leaf-list r { type string; ampx:refers-to "aether:/site/site-id"; } }`},
		{"tenant", leaf(`ampx:refers-to "t:/x/id";`)},
	} {
		if err := load(c.scope, c.body); err != nil {
			t.Errorf("%s set, %s: %v", c.scope, c.body, err)
		}
	}
}
