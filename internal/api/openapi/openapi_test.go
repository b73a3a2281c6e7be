package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"maps"
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

var update = flag.Bool("update", false, "rewrite the golden documents in testdata")

// The goldens: the document of the embedded models (Aether alone) and of
// Aether with the test sets lab (global) and workload (tenant).
const (
	golden      = "testdata/openapi.golden.json"
	goldenThree = "testdata/openapi-three-sets.golden.json"
)

func build(t *testing.T) (*openapi3.T, []byte) {
	t.Helper()
	return buildFrom(t, models.FS)
}

// buildThree builds the document of Aether, lab and workload.
func buildThree(t *testing.T) (*openapi3.T, []byte) {
	t.Helper()
	return buildFrom(t, models.FS, os.DirFS(filepath.Join(repoRoot(t), "test", "testdata", "models")))
}

func buildFrom(t *testing.T, sources ...fs.FS) (*openapi3.T, []byte) {
	t.Helper()
	sch, err := schema.Load(sources...)
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
	for name, b := range map[string]func(*testing.T) (*openapi3.T, []byte){"aether": build, "three sets": buildThree} {
		doc, raw := b(t)
		if err := doc.Validate(context.Background()); err != nil {
			t.Fatalf("%s: kin-openapi validation of the built document: %v", name, err)
		}
		// The serialized form must load back and validate too.
		loaded, err := openapi3.NewLoader().LoadFromData(raw)
		if err != nil {
			t.Fatalf("%s: load generated JSON: %v", name, err)
		}
		if err := loaded.Validate(context.Background()); err != nil {
			t.Fatalf("%s: kin-openapi validation of the serialized document: %v", name, err)
		}
		if _, err := YAML(doc); err != nil {
			t.Fatalf("%s: YAML: %v", name, err)
		}
	}
}

func TestDeterministic(t *testing.T) {
	_, a := buildThree(t)
	_, b := buildThree(t)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds gave different JSON")
	}
}

func TestGolden(t *testing.T) {
	_, one := build(t)
	checkGolden(t, golden, one)
	_, three := buildThree(t)
	checkGolden(t, goldenThree, three)
}

func checkGolden(t *testing.T, file string, b []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/api/openapi -update)", err)
	}
	if !bytes.Equal(b, want) {
		al, bl := strings.Split(string(want), "\n"), strings.Split(string(b), "\n")
		for i := 0; i < len(al) && i < len(bl); i++ {
			if al[i] != bl[i] {
				t.Fatalf("document differs from %s at line %d:\nwant %s\ngot  %s\n(run go test ./internal/api/openapi -update if the change is intended)", file, i+1, al[i], bl[i])
			}
		}
		t.Fatalf("document differs from %s in length (run go test ./internal/api/openapi -update if the change is intended)", file)
	}
}

// TestOtherSetsLeaveAetherAlone: loading a global and a tenant set beside
// Aether changes none of Aether's schema names, schemas, paths or
// operations; the new sets get prefixed names, the global one paths
// without an enterprise, and only Aether is in PATCH /aether-roc-api.
func TestOtherSetsLeaveAetherAlone(t *testing.T) {
	one, _ := build(t)
	three, _ := buildThree(t)
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for name, s := range one.Components.Schemas {
		if name == schemaElements || name == schemaDeleteElements {
			continue // their descriptions list the sets' elements; checked below
		}
		if got := three.Components.Schemas[name]; got == nil || js(got) != js(s) {
			t.Errorf("schema %s changed when other sets were loaded", name)
		}
	}
	for p, item := range one.Paths.Map() {
		if got := three.Paths.Value(p); got == nil || js(got) != js(item) {
			t.Errorf("path %s changed when other sets were loaded", p)
		}
	}
	for _, name := range []string{"Workload_Deployment", "Workload_Deployment_Delete", "Lab_Rack", "Lab_Server"} {
		if three.Components.Schemas[name] == nil {
			t.Errorf("schema %s missing", name)
		}
	}
	for _, p := range []string{"/lab/v1.0.0", "/lab/v1.0.0/rack", "/lab/v1.0.0/rack/{rack-id}", "/lab/v1.0.0/server/{server-id}/rack/values",
		"/workload/v1.0.0/{enterprise-id}", "/workload/v1.0.0/{enterprise-id}/deployment/{deployment-id}"} {
		if three.Paths.Value(p) == nil {
			t.Errorf("path %s missing", p)
		}
	}
	for p, item := range three.Paths.Map() {
		if strings.HasPrefix(p, "/lab/") && (strings.Contains(p, "{enterprise-id}") || len(item.Parameters) > 0 && item.Parameters[0].Value.Name == ParamEnterpriseID) {
			t.Errorf("global set path %s takes an enterprise", p)
		}
	}
	if three.Components.Schemas["Lab_Rack"].Value.Properties["additionalProperties"] != nil {
		t.Error("a set without the aether-roc-api rules got the additionalProperties member")
	}
	upd := three.Components.Schemas[schemaElements].Value.Properties
	if upd["site-2.1.0"] == nil || upd["deployment-1.0.0"] != nil || upd["rack-1.0.0"] != nil {
		t.Errorf("PATCH /aether-roc-api elements: want Aether's only, got %v", slices.Sorted(maps.Keys(upd)))
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
	_, one := build(t)
	swaggerValidate(t, one)
	_, three := buildThree(t)
	swaggerValidate(t, three)
}

func swaggerValidate(t *testing.T, b []byte) {
	t.Helper()
	root := repoRoot(t)
	cli := filepath.Join(root, ".tmp", "node", "node_modules", ".bin", "swagger-cli")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("swagger-cli not installed at %s: run scripts/test-deps.sh (npm install --prefix .tmp/node @apidevtools/swagger-cli)", cli)
	}
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
	for _, p := range []string{"limit", "continue", "filter", "sort", "at", "with-defaults"} {
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
