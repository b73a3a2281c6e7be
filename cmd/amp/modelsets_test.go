package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

// fakeServer answers GET /models with Aether, lab (global) and workload
// (tenant) as amp serve describes them, keeps the lab racks the client
// writes with merge patches on /lab/v1.0.0, and counts the requests.
type fakeServer struct {
	*httptest.Server
	models atomic.Int32
	mu     sync.Mutex
	racks  map[string]map[string]any
	paths  []string // "METHOD path" of every request but GET /models
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	sch, err := schema.Load(models.FS, os.DirFS(filepath.Join("..", "..", "test", "testdata", "models")))
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Name     string                  `json:"name"`
		Versions []schema.SetDescription `json:"versions"`
	}
	var listed []entry
	for _, ms := range sch.Sets {
		listed = append(listed, entry{Name: ms.Name, Versions: []schema.SetDescription{ms.Describe(true)}})
	}
	f := &fakeServer{racks: map[string]map[string]any{"r1": {"rack-id": "r1", "height": 42}}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/models" {
			f.models.Add(1)
			json.NewEncoder(w).Encode(listed)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.paths = append(f.paths, r.Method+" "+r.URL.Path)
		switch {
		case r.Method == "GET" && r.URL.Path == "/lab/v1.0.0/rack":
			var out []any
			for _, id := range slices.Sorted(func(yield func(string) bool) {
				for k := range f.racks {
					if !yield(k) {
						return
					}
				}
			}) {
				out = append(out, f.racks[id])
			}
			json.NewEncoder(w).Encode(out)
		case r.Method == "PATCH" && strings.HasPrefix(r.URL.Path, "/lab/v1.0.0"):
			var patch map[string]any
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &patch)
			if r.URL.Path == "/lab/v1.0.0" {
				for _, it := range patch["rack"].([]any) {
					m := it.(map[string]any)
					f.racks[m["rack-id"].(string)] = m
				}
			} else if id, ok := strings.CutPrefix(r.URL.Path, "/lab/v1.0.0/rack/"); ok {
				if f.racks[id] == nil {
					f.racks[id] = map[string]any{"rack-id": id}
				}
				for k, v := range patch {
					f.racks[id][k] = v
				}
			}
			w.Header().Set("X-AMP-Transaction-Index", "7")
			w.Header().Set("X-AMP-Transaction-Id", "txn-7")
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode("txn-7")
		case r.Method == "GET" && r.URL.Path == "/transactions/7":
			json.NewEncoder(w).Encode(map[string]any{"index": 7, "id": "txn-7", "changes": []any{}})
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(404)
			json.NewEncoder(w).Encode(map[string]any{"title": "not found", "status": 404})
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// runCLI runs the amp command line in this process against srv.
func runCLI(t *testing.T, srv *fakeServer, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"--server", srv.URL, "--token", "t", "--enterprise", ""}, args...))
	err := root.Execute()
	return out.String(), err
}

// TestGlobalSetShortPaths: short paths of a global set need no enterprise
// and have none in the REST path; a tenant set's do.
func TestGlobalSetShortPaths(t *testing.T) {
	srv := newFakeServer(t)
	g := &globalOpts{server: srv.URL, token: "t"}
	ctx := context.Background()
	for in, want := range map[string]string{
		"lab/rack/r1":            "/lab/v1.0.0/rack/r1",
		"rack":                   "/lab/v1.0.0/rack",
		"server/s1/rack":         "/lab/v1.0.0/server/s1/rack",
		"lab":                    "/lab/v1.0.0",
		"/lab/v1.0.0/rack/r1/":   "/lab/v1.0.0/rack/r1",
		"/aether/v2.1.x/acme/si": "/aether/v2.1.x/acme/si",
	} {
		got, err := g.restPath(ctx, in)
		if err != nil || got != want {
			t.Errorf("restPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"wl/deployment", "site", "."} {
		if _, err := g.restPath(ctx, in); err == nil || !isUsage(err) {
			t.Errorf("restPath(%q) without an enterprise: %v, want a usage error", in, err)
		}
	}
	// "site" is Aether's (per enterprise) and the inventory's (global):
	// without -e the error names both ways to say which.
	if _, err := g.restPath(ctx, "site/s1"); err == nil || !strings.Contains(err.Error(), "aether/site/s1 or inventory/site/s1") ||
		!strings.Contains(err.Error(), "with -e/--enterprise, aether's") {
		t.Errorf("restPath(site/s1) without an enterprise: %v", err)
	}
	if got, err := g.restPath(ctx, "inventory/site/s1"); err != nil || got != "/inventory/v1.0.0/site/s1" {
		t.Errorf("restPath(inventory/site/s1) = %q, %v", got, err)
	}
	g.enterprise = "acme"
	for in, want := range map[string]string{
		"wl/deployment/d1": "/workload/v1.0.0/acme/deployment/d1",
		"deployment":       "/workload/v1.0.0/acme/deployment",
		"site/s1":          "/aether/v2.1.x/acme/site/s1",
		"rack/r1":          "/lab/v1.0.0/rack/r1", // global: -e does not apply
	} {
		if got, err := g.restPath(ctx, in); err != nil || got != want {
			t.Errorf("restPath(%q) with -e acme = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := g.restPath(ctx, "nosuch/x"); err == nil || !strings.Contains(err.Error(), "wl") {
		t.Errorf("an unknown first segment should name the sets: %v", err)
	}
	// A server that cannot be asked: the embedded sets stand in, and a
	// path none of them has says why the server's are unknown.
	down := &globalOpts{server: "http://127.0.0.1:1", token: "t", enterprise: "acme"}
	if got, err := down.restPath(ctx, "site/s1"); err != nil || got != "/aether/v2.1.x/acme/site/s1" {
		t.Errorf("offline restPath(site/s1) = %q, %v", got, err)
	}
	if _, err := down.restPath(ctx, "wl/deployment"); err == nil || !strings.Contains(err.Error(), "could not be listed") {
		t.Errorf("offline restPath(wl/deployment): %v", err)
	}
	mp, err := g.catalog(ctx).parse("/lab/v1.0.0/rack/r1")
	if err != nil || mp.set.Name != "lab" || mp.enterprise != "" || !slices.Equal(mp.segs, []string{"rack", "r1"}) || mp.root() != "/lab/v1.0.0" {
		t.Errorf("parse: %+v %v", mp, err)
	}
	if _, err := g.catalog(ctx).parse("/workload/v1.0.0"); err == nil {
		t.Error("a tenant set's path without an enterprise parsed")
	}
	if n := srv.models.Load(); n != 1 {
		t.Errorf("GET /models asked %d times, want once", n)
	}
}

// TestGlobalSetVerbs: set, apply, get -o table and completion on a global
// set, through the command line, against a server that describes it.
func TestGlobalSetVerbs(t *testing.T) {
	srv := newFakeServer(t)
	if out, err := runCLI(t, srv, "set", "lab/rack/r2/height=40", "lab/rack/r2/display-name=Row 2"); err != nil {
		t.Fatalf("set: %v\n%s", err, out)
	}
	if got := srv.racks["r2"]; got["height"] != 40.0 || got["display-name"] != "Row 2" {
		t.Errorf("set wrote %v (height must be sent as a number)", got)
	}
	file := filepath.Join(t.TempDir(), "rack.yaml")
	os.WriteFile(file, []byte("path: rack/r3\nvalue:\n  height: 10\n"), 0o644)
	if out, err := runCLI(t, srv, "apply", "-f", file); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if got := srv.racks["r3"]; got["height"] != 10.0 {
		t.Errorf("apply wrote %v", srv.racks)
	}
	if !slices.Contains(srv.paths, "PATCH /lab/v1.0.0") || !slices.Contains(srv.paths, "PATCH /lab/v1.0.0/rack/r2") {
		t.Errorf("requests %v: want merge patches on the global set's paths", srv.paths)
	}
	out, err := runCLI(t, srv, "get", "rack", "-o", "table")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 4 || strings.Fields(lines[0])[0] != "RACK-ID" || strings.Contains(out, `\x09`) || !strings.HasPrefix(lines[1], "r1") {
		t.Errorf("get rack -o table: %v\n%s", err, out)
	}

	g := &globalOpts{server: srv.URL, token: "t"}
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	before := srv.models.Load()
	for typed, want := range map[string][]string{
		"ra":                {"rack/"},
		"lab/":              {"lab/rack/", "lab/server/"},
		"lab/rack/":         {"lab/rack/r1/", "lab/rack/r2/", "lab/rack/r3/"},
		"lab/rack/r1/he":    {"lab/rack/r1/height"},
		"/l":                {"/lab/"},
		"/lab/":             {"/lab/v1.0.0/"},
		"/lab/v1.0.0/r":     {"/lab/v1.0.0/rack/"},
		"/lab/v1.0.0/rack/": {"/lab/v1.0.0/rack/r1/", "/lab/v1.0.0/rack/r2/", "/lab/v1.0.0/rack/r3/"},
	} {
		got, _ := g.completePath(cmd, typed)
		if !slices.Equal(got, want) {
			t.Errorf("complete %q = %v, want %v", typed, got, want)
		}
	}
	// Without an enterprise, only the global sets complete: a tenant set's
	// paths would need one, and "site" (Aether's and the inventory's) needs
	// the set's name.
	if got, _ := g.completePath(cmd, ""); !slices.Equal(got, []string{"bundle/", "cluster-group/", "cluster/", "device-type/", "fleet/", "git-repo/", "inventory/", "ip-address/", "lab/", "manufacturer/", "organization/", "rack/", "rollout/", "sealing/", "server/"}) {
		t.Errorf("complete \"\" without -e = %v", got)
	}
	if n := srv.models.Load() - before; n != 1 {
		t.Errorf("completion asked GET /models %d times, want once per invocation", n)
	}
}
