package openapi

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/amp-edge/amp/internal/schema"
)

// A synthetic model using the YANG features the Aether models do not: every
// built-in type, leaf-lists, multiple patterns and ranges, a list nested in a
// list with the same key name, a name taken by a fixed schema, a state
// subtree with a list, and two versions of one model set.
const typesModule = `module t {
  yang-version 1.1;
  namespace "urn:t";
  prefix t;
  identity base-id;
  identity one { base base-id; }
  typedef ref2 { type leafref { path "/t:problem/t:name"; } }
  list problem {
    key name;
    leaf name { type string { pattern '[a-z]+'; pattern '.*z'; } }
    leaf e { type empty; }
    leaf u { type union { type int32; type string; } }
    leaf d { type decimal64 { fraction-digits 2; range "0..100"; } default "1.5"; }
    leaf b { type bits { bit a; bit b; } }
    leaf bin { type binary; }
    leaf id { type identityref { base base-id; } }
    leaf ii { type instance-identifier; }
    leaf mr { type int8 { range "1..3 | 5..7"; } default 2; }
    leaf i64 { type int64; default 5; }
    leaf u64 { type uint64 { range "1..max"; } }
    leaf flag { type boolean; default true; }
    leaf-list ll { type string; default "x"; default "y"; }
    leaf-list refs { type leafref { path "../../problem/name"; } }
    leaf r2 { type leafref { path "../../other/ref"; } }
    list problem {
      key name;
      leaf name { type uint16; }
    }
    container state {
      config false;
      list sample { key n; leaf n { type uint8; } leaf v { type string; } }
    }
    container p { presence "enabled"; leaf m { type string; mandatory true; } }
  }
  list other { key ref; leaf ref { type ref2; } }
}
`

func TestAllTypes(t *testing.T) {
	fsys := fstest.MapFS{
		"t/1.0/t.yang": {Data: []byte(typesModule)},
		"t/2.0/t.yang": {Data: []byte(typesModule)},
	}
	sch, err := schema.Load(fsys)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	doc, err := Build(sch, "test")
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	for _, name := range []string{"Problem", "T_v1.0_Problem", "T_v1.0_Problem_Problem", "T_Problem_State_Sample", "T_v1.0_Problem_Delete", "T_Problem"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schema %s missing", name)
		}
	}
	if doc.Components.Schemas["T_v1.0_Problem_State_Delete"] != nil {
		t.Error("state subtree got a Deletes variant")
	}
	if doc.Paths.Value("/t/v1.0/{enterprise-id}/problem/{name}/problem/{name-2}") == nil {
		t.Error("nested key with the same name should be {name-2}")
	}
	p := doc.Components.Schemas["T_v1.0_Problem"].Value
	if got := p.Properties["name"].Value; got.Pattern != "^(?:[a-z]+)$" || len(got.AllOf) != 1 || got.AllOf[0].Value.Pattern != "^(?:.*z)$" {
		t.Errorf("two patterns: %+v", got)
	}
	if got := p.Properties["u"].Value; len(got.AnyOf) != 2 {
		t.Errorf("int/string union should be anyOf, got %+v", got)
	}
	if got := p.Properties["mr"].Value; *got.Min != 1 || *got.Max != 7 || got.Default != 2.0 {
		t.Errorf("int8 with two ranges: %+v", got)
	}
	if got := p.Properties["d"].Value; got.Default != 1.5 || *got.Max != 100 {
		t.Errorf("decimal64: %+v", got)
	}
	if got := p.Properties["u64"].Value; got.Max != nil || *got.Min != 1 || got.Format != "int64" {
		t.Errorf("uint64 1..max: %+v", got)
	}
	if doc.Paths.Value("/t/v1.0/{enterprise-id}/problem/{name}/r2/values") == nil {
		t.Error("values path for a leafref to a leafref missing")
	}
	// aether-roc-api's rules are not in t's descriptor: no bulk PATCH,
	// no additionalProperties member.
	if doc.Paths.Value("/aether-roc-api") != nil || doc.Components.Schemas["Elements"] != nil || p.Properties["additionalProperties"] != nil {
		t.Error("PATCH /aether-roc-api documented for a set without the aether-roc-api compat rules")
	}

	// The independent validator must accept it too.
	cli := filepath.Join(repoRoot(t), ".tmp", "node", "node_modules", ".bin", "swagger-cli")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("swagger-cli not installed at %s: run scripts/test-deps.sh", cli)
	}
	b, err := JSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "types.json")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cli, "validate", f).CombinedOutput(); err != nil {
		t.Fatalf("swagger-cli validate: %v\n%s", err, out)
	}
}
