package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/amp-edge/amp/internal/testenv"
)

// startThreeSets starts amp serve with the demo data and the test model
// sets lab (global) and workload (tenant) beside Aether.
func startThreeSets(t *testing.T) *testenv.Server {
	t.Helper()
	return testenv.Start(t, t.TempDir(), "--demo", "--models", filepath.Join(testenv.RepoRoot(), "test", "testdata", "models"))
}

// TestModelsListsLoadedSets: GET /models, through the real binary, lists
// the built-in sets (Aether, the inventory, the fleet) and the --models sets with
// their scopes, prefixes and modules.
func TestModelsListsLoadedSets(t *testing.T) {
	s := startThreeSets(t)
	var sets []struct {
		Name     string
		Versions []struct {
			Version, Scope string
			RESTPrefix     string `json:"rest-prefix"`
			CLIName        string `json:"cli-name"`
			OpenAPIPrefix  string `json:"openapi-prefix"`
			Modules        []struct{ Name, Revision string }
		}
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/models", ""), &sets); err != nil {
		t.Fatal(err)
	}
	type want struct{ version, scope, cli, openapi, module string }
	wants := map[string]want{
		"aether":    {"2.1.x", "tenant", "aether", "", "onf-site"},
		"inventory": {"1.0.0", "global", "inventory", "Inventory", "amp-inventory"},
		"fleet":     {"1.0.0", "global", "fleet", "Fleet", "amp-fleet"},
		"monitor":   {"1.0.0", "tenant", "monitor", "Monitor", "amp-monitor"},
		"lab":       {"1.0.0", "global", "lab", "Lab", "amp-lab"},
		"workload":  {"1.0.0", "tenant", "wl", "Workload", "amp-workload"},
	}
	if len(sets) != len(wants) {
		t.Fatalf("GET /models lists %d sets, want %d: %+v", len(sets), len(wants), sets)
	}
	for _, set := range sets {
		w, ok := wants[set.Name]
		if !ok || len(set.Versions) != 1 {
			t.Fatalf("unexpected set %+v", set)
		}
		v := set.Versions[0]
		hasModule := false
		for _, m := range v.Modules {
			hasModule = hasModule || m.Name == w.module && m.Revision != ""
		}
		if v.Version != w.version || v.Scope != w.scope || v.CLIName != w.cli || v.OpenAPIPrefix != w.openapi || v.RESTPrefix != set.Name || !hasModule {
			t.Errorf("%s: %+v, want %+v", set.Name, v, w)
		}
	}
}

// TestOpenAPIThreeSets: the document the binary serves with three sets
// validates (kin-openapi and swagger-cli), keeps Aether's bare names and
// paths, prefixes the others' names and gives the global set paths without
// an enterprise.
func TestOpenAPIThreeSets(t *testing.T) {
	s := startThreeSets(t)
	raw := s.Must(t, 200, "GET", "/spec", "")
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("kin-openapi: %v", err)
	}
	for _, name := range []string{"Site", "Site_DeviceGroup", "Application", "Workload_Deployment", "Lab_Rack", "Lab_Server", "ModelSet"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schema %s missing", name)
		}
	}
	for name := range doc.Components.Schemas {
		if strings.HasPrefix(name, "Aether") {
			t.Errorf("Aether schema renamed: %s", name)
		}
	}
	for _, p := range []string{"/aether/v2.1.x/{enterprise-id}/site/{site-id}", "/workload/v1.0.0/{enterprise-id}/deployment/{deployment-id}", "/lab/v1.0.0/rack/{rack-id}", "/models"} {
		if doc.Paths.Value(p) == nil {
			t.Errorf("path %s missing", p)
		}
	}
	// What GET /models answers, with and without the trees, fits the
	// document's ModelSet schema.
	doc.Servers = nil // match paths only, as in TestSpecMatchesServer
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	// So do a global set's object and its root (GET /lab/v1.0.0).
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r1", `{"display-name":"Row 1","height":40}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/server/sv1", `{"rack":"r1"}`)
	for _, p := range []string{"/models", "/models?tree=true", "/lab/v1.0.0/rack/r1", "/lab/v1.0.0"} {
		req, _ := http.NewRequest("GET", s.URL+p, nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("GET %s: not in the document: %v", p, err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("GET %s: request does not fit the document: %v", p, err)
		}
		code, body, hdr, err := s.Do(context.Background(), "GET", p, "")
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %d %v", p, code, err)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: code, Header: hdr,
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("GET %s: response does not fit the document: %v", p, err)
		}
	}

	cli := filepath.Join(testenv.RepoRoot(), ".tmp", "node", "node_modules", ".bin", "swagger-cli")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("swagger-cli not installed at %s: run scripts/test-deps.sh", cli)
	}
	f := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(f, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cli, "validate", f).CombinedOutput(); err != nil {
		t.Fatalf("swagger-cli validate: %v\n%s", err, out)
	}
}

// TestCLIWorkloadSet: the CLI learns the workload set (CLI name wl) from
// the server and sets, applies, gets (-o table, json) and completes its
// deployments with short paths under the current enterprise, as it does
// Aether's sites.
func TestCLIWorkloadSet(t *testing.T) {
	s := startThreeSets(t)
	env := append(s.Env(), "AMP_ENTERPRISE=acme")
	amp := func(args ...string) string {
		t.Helper()
		out, err := ampCLI(t, env, args...)
		if err != nil {
			t.Fatalf("amp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	out := amp("set", "wl/deployment/web/image=nginx:1.27", "wl/deployment/web/replicas=3")
	if !strings.Contains(out, "committed transaction") {
		t.Fatalf("set: %s", out)
	}
	// A top-level node that only one set has is a short path too.
	if got := strings.TrimSpace(amp("get", "deployment/web/replicas")); got != "3" {
		t.Errorf("get deployment/web/replicas = %q, want 3 (a number, typed by the model)", got)
	}
	// The REST API holds what the CLI wrote, under the enterprise.
	var dep map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/workload/v1.0.0/acme/deployment/web", ""), &dep)
	if dep["image"] != "nginx:1.27" || dep["replicas"] != 3.0 {
		t.Errorf("GET /workload/v1.0.0/acme/deployment/web = %v", dep)
	}

	file := filepath.Join(t.TempDir(), "wl.yaml")
	os.WriteFile(file, []byte("path: wl/deployment/db\nvalue:\n  image: postgres:16\n  replicas: 1\n"), 0o644)
	if out := amp("apply", "-f", file, "--dry-run"); !strings.Contains(out, "dry run") {
		t.Fatalf("apply --dry-run: %s", out)
	}
	s.Must(t, 404, "GET", "/workload/v1.0.0/acme/deployment/db", "")
	if out := amp("apply", "-f", file); !strings.Contains(out, "committed transaction") {
		t.Fatalf("apply: %s", out)
	}

	table := amp("get", "wl/deployment", "-o", "table")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "DEPLOYMENT-ID") || !strings.HasPrefix(lines[1], "db") || !strings.HasPrefix(lines[2], "web") {
		t.Errorf("get wl/deployment -o table:\n%s", table)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(amp("get", "wl/deployment", "-o", "json")), &list); err != nil || len(list) != 2 {
		t.Errorf("get -o json: %v %v", list, err)
	}

	// Completion: the set's name, its nodes and the server's keys.
	for _, c := range []struct{ typed, want string }{
		{"w", "wl/"},
		{"wl/dep", "wl/deployment/"},
		{"wl/deployment/", "wl/deployment/web/"},
		{"wl/deployment/web/re", "wl/deployment/web/replicas"},
		{"dep", "deployment/"},
		{"/workload/v1.0.0/acme/deployment/", "/workload/v1.0.0/acme/deployment/db/"},
		{"si", "site/"},
	} {
		if out := amp("__complete", "get", c.typed); !strings.Contains(out, c.want+"\n") {
			t.Errorf("completing %q: want %q in\n%s", c.typed, c.want, out)
		}
	}

	// Across enterprises, assignments are PATCH /aether-roc-api, which
	// takes Aether's entries only: refused, naming the set, nothing sent.
	out, err := ampCLI(t, env, "set", "wl/deployment/web/replicas=4", "/workload/v1.0.0/starbucks/deployment/x/image=y")
	if err == nil || !strings.Contains(out, "workload") {
		t.Errorf("set across enterprises in workload: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(amp("get", "deployment/web/replicas")); got != "3" {
		t.Errorf("after the refused set, replicas = %q", got)
	}
}

// TestCLILabSet: the CLI drives the global lab set (no enterprise, none
// configured) with short paths: set, get -o table, apply, completion.
func TestCLILabSet(t *testing.T) {
	s := startThreeSets(t)
	env := s.Env()
	amp := func(args ...string) string {
		t.Helper()
		out, err := ampCLI(t, env, args...)
		if err != nil {
			t.Fatalf("amp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	if out := amp("set", "lab/rack/r1/height=40", "lab/rack/r1/display-name=Row1"); !strings.Contains(out, "committed transaction") {
		t.Fatalf("set: %s", out)
	}
	var rack map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r1", ""), &rack)
	if rack["height"] != 40.0 || rack["display-name"] != "Row1" {
		t.Errorf("GET /lab/v1.0.0/rack/r1 = %v", rack)
	}

	table := amp("get", "rack", "-o", "table")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "RACK-ID") || !strings.HasPrefix(lines[1], "r1 ") {
		t.Errorf("get rack -o table:\n%s", table)
	}

	file := filepath.Join(t.TempDir(), "lab.yaml")
	os.WriteFile(file, []byte("path: rack/r2\nvalue:\n  height: 10\n"), 0o644)
	if out := amp("apply", "-f", file); !strings.Contains(out, "committed transaction") {
		t.Fatalf("apply: %s", out)
	}
	json.Unmarshal(s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r2", ""), &rack)
	if rack["height"] != 10.0 {
		t.Errorf("GET /lab/v1.0.0/rack/r2 after apply = %v", rack)
	}

	for _, c := range []struct{ typed, want, not string }{
		{"lab/rack/", "lab/rack/r1/", ""},
		{"/lab/v1.0.0/r", "/lab/v1.0.0/rack/", ""},
		{"", "rack/", "site/"},
	} {
		out := amp("__complete", "get", c.typed)
		if !strings.Contains(out, c.want+"\n") {
			t.Errorf("completing %q: want %q in\n%s", c.typed, c.want, out)
		}
		if c.not != "" && strings.Contains(out, c.not+"\n") {
			t.Errorf("completing %q without an enterprise offers %q:\n%s", c.typed, c.not, out)
		}
	}
}
