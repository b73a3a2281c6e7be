package openapi

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi.golden.json")

const golden = "testdata/openapi.golden.json"

func build(t *testing.T) (*openapi3.T, []byte) {
	t.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatalf("load models: %v", err)
	}
	doc, err := Build(sch, "dev")
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	b, err := JSON(doc)
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	return doc, b
}

func TestValidate(t *testing.T) {
	doc, b := build(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("kin-openapi validation of the built document: %v", err)
	}
	// The serialized form must load back and validate too.
	loaded, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("load generated JSON: %v", err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		t.Fatalf("kin-openapi validation of the serialized document: %v", err)
	}
	if _, err := YAML(doc); err != nil {
		t.Fatalf("YAML: %v", err)
	}
}

func TestDeterministic(t *testing.T) {
	_, a := build(t)
	_, b := build(t)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds gave different JSON")
	}
}

func TestGolden(t *testing.T) {
	_, b := build(t)
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/api/openapi -update)", err)
	}
	if !bytes.Equal(b, want) {
		al, bl := strings.Split(string(want), "\n"), strings.Split(string(b), "\n")
		for i := 0; i < len(al) && i < len(bl); i++ {
			if al[i] != bl[i] {
				t.Fatalf("document differs from %s at line %d:\nwant %s\ngot  %s\n(run go test ./internal/api/openapi -update if the change is intended)", golden, i+1, al[i], bl[i])
			}
		}
		t.Fatalf("document differs from %s in length (run go test ./internal/api/openapi -update if the change is intended)", golden)
	}
}

// repoRoot finds the module root from this file's location.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above " + file)
		}
		dir = parent
	}
}

// TestSwaggerCLI validates the document with an independent validator,
// @apidevtools/swagger-cli (swagger-parser: OpenAPI 3.0 JSON schema plus
// semantic checks), installed by scripts/test-deps.sh.
func TestSwaggerCLI(t *testing.T) {
	root := repoRoot(t)
	cli := filepath.Join(root, ".tmp", "node", "node_modules", ".bin", "swagger-cli")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("swagger-cli not installed at %s: run scripts/test-deps.sh (npm install --prefix .tmp/node @apidevtools/swagger-cli)", cli)
	}
	_, b := build(t)
	f := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cli, "validate", f).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("swagger-cli validate failed (exit %d):\n%s", ee.ExitCode(), out)
		}
		t.Fatalf("run swagger-cli: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "is valid") {
		t.Fatalf("unexpected swagger-cli output:\n%s", out)
	}
}

func methods(item *openapi3.PathItem) []string {
	var m []string
	for k := range item.Operations() {
		m = append(m, strings.ToLower(k))
	}
	sort.Strings(m)
	return m
}

func TestSpotChecks(t *testing.T) {
	doc, _ := build(t)
	const base = "/aether/v2.1.x/{enterprise-id}"
	dg := doc.Paths.Value(base + "/site/{site-id}/device-group/{device-group-id}")
	if dg == nil {
		t.Fatal("device-group entry path missing")
	}
	if got, want := methods(dg), []string{"delete", "get", "patch", "post", "put"}; !slices.Equal(got, want) {
		t.Errorf("device-group entry methods = %v, want %v", got, want)
	}
	st := doc.Paths.Value(base + "/site/{site-id}/device/{device-id}/state")
	if st == nil {
		t.Fatal("device state path missing")
	}
	if got := methods(st); !slices.Equal(got, []string{"get"}) {
		t.Errorf("device state methods = %v, want [get]", got)
	}
	if doc.Paths.Value(base+"/site/{site-id}/device-group/{device-group-id}/traffic-class/values") == nil {
		t.Error("leafref values path for device-group/traffic-class missing")
	}
	if doc.Paths.Value(base+"/site/{site-id}/device-group/{device-group-id}/display-name") != nil {
		t.Error("a plain leaf got a path")
	}
	coll := doc.Paths.Value(base + "/site/{site-id}/device-group")
	if coll == nil || coll.Get == nil || coll.Post != nil {
		t.Fatal("device-group collection path must exist with GET only")
	}
	for _, p := range []string{"limit", "continue", "filter", "at", "with-defaults"} {
		if coll.Get.Parameters.GetByInAndName("query", p) == nil {
			t.Errorf("collection GET lacks query parameter %s", p)
		}
	}

	sims := doc.Components.Schemas["Site_SimCard"]
	if sims == nil {
		t.Fatal("schema Site_SimCard missing")
	}
	if got := sims.Value.Properties["imsi"].Value.Pattern; got != "^(?:[0-9]{14,15})$" {
		t.Errorf("Site_SimCard imsi pattern = %q", got)
	}
	if sims.Value.Properties["additionalProperties"] == nil {
		t.Error("entry schema lacks the additionalProperties member")
	}
	slice := doc.Components.Schemas["Site_Slice"]
	if slice == nil {
		t.Fatal("schema Site_Slice missing")
	}
	for _, r := range []string{"slice-id", "default-behavior", "sst", "sd"} {
		if !slices.Contains(slice.Value.Required, r) {
			t.Errorf("Site_Slice required %v lacks %s", slice.Value.Required, r)
		}
	}
	if sst := slice.Value.Properties["sst"].Value; !sst.Type.Is("string") || len(sst.OneOf) != 0 || sst.Extensions["x-amp-legacy-decimal"] != true {
		t.Errorf("legacy-decimal sst should be a plain string marked x-amp-legacy-decimal, got %+v", sst)
	}
	if del := doc.Components.Schemas["Site_Slice_Delete"]; del == nil || !slices.Equal(del.Value.Required, []string{"slice-id"}) {
		t.Errorf("Site_Slice_Delete should require only the key")
	}
	if doc.Paths.Value("/aether-roc-api").Patch == nil {
		t.Error("PATCH /aether-roc-api missing")
	}
}
