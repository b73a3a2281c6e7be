package schema_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

const rackModule = `module lab-rack {
  yang-version 1.1;
  namespace "urn:amp:lab-rack";
  prefix rack;
  list rack { key "rack-id"; leaf rack-id { type string; } }
}`

func TestDescriptor(t *testing.T) {
	a := aether(t)
	if a.Scope != schema.ScopeTenant || a.RESTPrefix != "aether" || a.GNMIOrigin != "aether" || a.OpenAPIPrefix != "" || a.CLIName != "aether" || !a.HasCompat("aether-roc-api") || a.Global() {
		t.Fatalf("aether's descriptor: %+v", a.Descriptor)
	}

	load := func(desc string) (*schema.Schema, error) {
		files := fstest.MapFS{"lab-inventory/1.0.0/lab-rack.yang": {Data: []byte(rackModule)}}
		if desc != "" {
			files["lab-inventory/1.0.0/modelset.yaml"] = &fstest.MapFile{Data: []byte(desc)}
		}
		return schema.Load(models.FS, files)
	}
	sch, err := load("name: lab-inventory\nversion: 1.0.0\nscope: global\ncli-name: lab\n")
	if err != nil {
		t.Fatal(err)
	}
	lab := sch.Set("lab-inventory", "1.0.0")
	if !lab.Global() || lab.RESTPrefix != "lab-inventory" || lab.GNMIOrigin != "lab-inventory" || lab.OpenAPIPrefix != "LabInventory" || lab.CLIName != "lab" || lab.HasCompat("aether-roc-api") {
		t.Fatalf("defaults not filled in: %+v", lab.Descriptor)
	}
	// Without a descriptor a set loads as before descriptors: tenant scope.
	sch, err = load("")
	if err != nil {
		t.Fatal(err)
	}
	if lab := sch.Set("lab-inventory", "1.0.0"); lab.Scope != schema.ScopeTenant {
		t.Fatalf("no descriptor: scope %q", lab.Scope)
	}

	for _, c := range []struct{ desc, want string }{
		{"name: other\nversion: 1.0.0\n", "declares other 1.0.0 but lies in lab-inventory/1.0.0"},
		{"name: lab-inventory\nversion: 1.0.0\nscope: site\n", `scope "site"`},
		{"name: lab-inventory\nversion: 1.0.0\nscopes: global\n", "unknown field"},
		{"name: lab-inventory\nversion: 1.0.0\nrest-prefix: Lab/x\n", "rest-prefix"},
	} {
		if _, err := load(c.desc); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.desc, err, c.want)
		}
	}
	if _, err := schema.Load(fstest.MapFS{"lab/v1/x.yang": {Data: []byte(rackModule)}}); err == nil || !strings.Contains(err.Error(), "must start with a digit") {
		t.Errorf("version v1: %v", err)
	}
}

// A pattern with "modifier invert-match" is refused when the set loads,
// naming where: goyang drops the modifier, and the pattern would be
// enforced the wrong way round.
func TestInvertMatchRefused(t *testing.T) {
	mod := strings.Replace(rackModule, `leaf rack-id { type string; }`,
		`leaf rack-id { type string; } leaf label { type string { pattern "x.*" { modifier invert-match; } } }`, 1)
	_, err := schema.Load(fstest.MapFS{"lab/1.0.0/lab-rack.yang": {Data: []byte(mod)}})
	if err == nil || !strings.Contains(err.Error(), "lab-rack.yang:5") || !strings.Contains(err.Error(), "modifier invert-match is not supported") {
		t.Fatalf("a pattern with modifier invert-match loaded: %v", err)
	}
	if _, err := schema.Load(fstest.MapFS{"lab/1.0.0/lab-rack.yang": {Data: []byte(rackModule)}}); err != nil {
		t.Fatal(err)
	}
}
