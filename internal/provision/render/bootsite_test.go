package render

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

// bootSiteFile is the inventory the iPXE, Ansible, Terraform and
// Prometheus tests render: the book's site stanford1 in small (a
// production deployment with a management server, a management switch, a
// leaf, two compute servers, a planned one, a failed one and a radio; a development
// deployment with one compute server) and two clusters, one with a node
// that is no device. test/e2e posts the same file through the REST API.
const bootSiteFile = "testdata/boot-site/inventory.json"

// loadBootSite writes the boot site's inventory through the engine, as ONE
// transaction (the devices' primary addresses and the addresses' devices
// refer to each other), and reads it back.
func loadBootSite(t testing.TB) (*inventory.Inventory, *inventory.Site) {
	t.Helper()
	eng, _ := testenv.Engine(t, false)
	set := inventory.Set(eng.Schema())
	body, err := os.ReadFile(bootSiteFile)
	if err != nil {
		t.Fatal(err)
	}
	submitTree(t, eng, set, body)
	// As the server reads a site to render it: the site's scope only.
	inv, ok := inventory.LoadScope(eng.Snapshot(), set, "stanford1")
	if !ok {
		t.Fatal("site stanford1 not loaded")
	}
	return inv, inv.Sites["stanford1"]
}

// submitTree merges a JSON tree of the whole set at its root.
func submitTree(t testing.TB, eng *config.Engine, set *schema.ModelSet, body []byte) {
	t.Helper()
	loc, err := schema.Resolve(set, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), false, schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}}, Principal: "test"}); err != nil {
		t.Fatal(err)
	}
}

// renderKind renders one kind for site, by name.
func renderKind(t testing.TB, kind string, inv *inventory.Inventory, site *inventory.Site) map[string][]byte {
	t.Helper()
	for _, r := range renderers {
		if r.Kind != kind {
			continue
		}
		arts, err := r.Render(inv, site)
		if err != nil {
			t.Fatalf("render %s: %v", kind, err)
		}
		out := map[string][]byte{}
		for _, a := range arts {
			out[a.Name] = a.Content
		}
		return out
	}
	t.Fatalf("no renderer of kind %s", kind)
	return nil
}

// writeArtifacts writes arts under dir as amp provision render would.
func writeArtifacts(t testing.TB, dir string, arts map[string][]byte) {
	t.Helper()
	for name, content := range arts {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBootKindsGolden: the four kinds render the boot site byte for byte
// as the golden files under testdata/boot-site/golden hold (review a
// change there like code; go test -update rewrites them), every
// registered kind of the four is in Site's output, and rendering twice
// gives the same bytes.
func TestBootKindsGolden(t *testing.T) {
	inv, site := loadBootSite(t)
	all, err := Site(inv, site)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, a := range all {
		kind, _, _ := strings.Cut(a.Name, "/")
		switch kind {
		case ipxeKind, ansibleKind, tfvarsKind, promKind:
			got[a.Name] = a.Content
		}
	}
	again, err := Site(inv, site)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range again {
		if want, ok := got[a.Name]; ok && !bytes.Equal(want, a.Content) {
			t.Errorf("%s differs between two renders of the same inventory", a.Name)
		}
	}
	goldenDir := filepath.Join("testdata", "boot-site", "golden")
	if *update {
		if err := os.RemoveAll(goldenDir); err != nil {
			t.Fatal(err)
		}
		writeArtifacts(t, goldenDir, got)
	}
	onDisk := map[string]bool{}
	err = filepath.WalkDir(goldenDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(goldenDir, p)
		name := filepath.ToSlash(rel)
		onDisk[name] = true
		want, _ := os.ReadFile(p)
		if g, ok := got[name]; !ok {
			t.Errorf("%s: golden file, but not rendered", name)
		} else if !bytes.Equal(g, want) {
			t.Errorf("%s differs from its golden file:\n--- got\n%s\n--- want\n%s", name, g, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range got {
		if !onDisk[name] {
			t.Errorf("%s: rendered, but no golden file", name)
		}
	}
	if len(got) == 0 {
		t.Fatal("nothing rendered")
	}
}
