package render

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/provision/render/rendertest"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fixtureLists is the order testdata/inventory.json's lists are created in.
var fixtureLists = []string{"organization", "manufacturer", "device-type", "site", "ip-address"}

// loadFixture writes testdata/inventory.json into eng as ONE transaction:
// the lists, then every device's primary address.
func loadFixture(t testing.TB, eng *config.Engine) {
	t.Helper()
	raw, err := os.ReadFile("testdata/inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var fx map[string]any
	if err := dec.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	set := inventory.Set(eng.Schema())
	edit := func(path []string, v any) config.Edit {
		loc, err := schema.Resolve(set, "", path)
		if err != nil {
			t.Fatal(err)
		}
		val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), len(path)%2 == 0, schema.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return config.Edit{Op: config.OpMerge, Loc: loc, Value: val}
	}
	var edits []config.Edit
	for _, l := range fixtureLists {
		edits = append(edits, edit([]string{l}, fx[l]))
	}
	for dev, ip := range fx["primary-ip"].(map[string]any) {
		edits = append(edits, edit([]string{"site", "stanford1", "device", dev}, map[string]any{"device-id": dev, "primary-ip": ip}))
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: edits, Principal: "test"}); err != nil {
		t.Fatalf("loading the fixture: %v", err)
	}
}

func renderFixture(t *testing.T) ([]Artifact, *config.Engine) {
	t.Helper()
	eng, _ := testenv.Engine(t, true)
	loadFixture(t, eng)
	inv, ok := inventory.LoadScope(eng.Snapshot(), inventory.Set(eng.Schema()), "stanford1")
	if !ok {
		t.Fatal("site stanford1 not found")
	}
	arts, err := Site(inv, inv.Sites["stanford1"])
	if err != nil {
		t.Fatal(err)
	}
	return arts, eng
}

// write puts the artifacts under dir as amp provision render does.
func write(t *testing.T, dir string, arts []Artifact) {
	t.Helper()
	for _, a := range arts {
		p := filepath.Join(dir, filepath.FromSlash(a.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, a.Content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func kinds(arts []Artifact, kind string) []Artifact {
	var out []Artifact
	for _, a := range arts {
		if strings.HasPrefix(a.Name, kind+"/") {
			out = append(out, a)
		}
	}
	return out
}

// TestGolden: the example site renders exactly the reviewed files under
// testdata/golden (go test -update rewrites them), and rendering again
// gives the same bytes.
func TestGolden(t *testing.T) {
	arts, eng := renderFixture(t)
	var names []string
	for _, a := range arts {
		names = append(names, a.Name)
	}
	want := []string{"netplan/mgmtserver1.yaml", "netplan/node1.yaml", "netplan/node2.yaml", "dhcp/kea-dhcp4.json",
		"dns/named.conf", "dns/stanford1.aetherproject.net.zone", "dns/0.0.10.in-addr.arpa.zone", "dns/0-25.0.0.10.in-addr.arpa.zone",
		"dns/128-25.0.0.10.in-addr.arpa.zone", "dns/1.0.10.in-addr.arpa.zone", "dns/0-25.1.0.10.in-addr.arpa.zone",
		"dns/admin.prod1.stanford1.aetherproject.net.zone", "dns/mgmt.prod1.stanford1.aetherproject.net.zone",
		"dns/fab1.prod1.stanford1.aetherproject.net.zone"}
	for _, w := range want {
		if !contains(names, w) {
			t.Errorf("no artifact %s among %v", w, names)
		}
	}
	golden := filepath.Join("testdata", "golden")
	if *update {
		os.RemoveAll(golden)
		write(t, golden, kinds(arts, "netplan"))
		write(t, golden, kinds(arts, "dhcp"))
		write(t, golden, kinds(arts, "dns"))
	}
	for _, kind := range []string{"netplan", "dhcp", "dns"} {
		for _, a := range kinds(arts, kind) {
			g, err := os.ReadFile(filepath.Join(golden, filepath.FromSlash(a.Name)))
			if err != nil {
				t.Errorf("%s: %v (go test -update writes the golden files)", a.Name, err)
				continue
			}
			if !bytes.Equal(g, a.Content) {
				t.Errorf("%s differs from its golden file:\n%s", a.Name, a.Content)
			}
		}
	}
	inv, _ := inventory.LoadScope(eng.Snapshot(), inventory.Set(eng.Schema()), "stanford1")
	again, err := Site(inv, inv.Sites["stanford1"])
	if err != nil {
		t.Fatal(err)
	}
	for i := range arts {
		if arts[i].Name != again[i].Name || !bytes.Equal(arts[i].Content, again[i].Content) {
			t.Errorf("%s: a second rendering differs", arts[i].Name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRealTools: netplan, Kea and BIND's checkers accept what the example
// site renders, and what they make of it is what the inventory says.
func TestRealTools(t *testing.T) {
	arts, _ := renderFixture(t)
	dir := t.TempDir()
	write(t, dir, arts)
	gen := rendertest.Netplan(t, dir)
	// node1: eth0 matched by its MAC, its address and the MGMT gateway.
	if nw := gen["node1.yaml:10-netplan-eth0.network"]; !strings.Contains(nw, "Address=10.0.0.132/25") ||
		!strings.Contains(nw, "Gateway=10.0.0.129") || !strings.Contains(nw, "DNS=10.0.0.129") {
		t.Errorf("node1's eth0 network file:\n%s", nw)
	}
	if l := gen["node1.yaml:10-netplan-eth0.link"]; !strings.Contains(l, "MACAddress=52:54:00:00:03:01") || !strings.Contains(l, "Name=eth0") {
		t.Errorf("node1's eth0 link file:\n%s", l)
	}
	// The management server's VLAN 800 on eno2.
	if nd := gen["mgmtserver1.yaml:10-netplan-mgmt800.netdev"]; !strings.Contains(nd, "Kind=vlan") || !strings.Contains(nd, "Id=800") {
		t.Errorf("mgmtserver1's mgmt800 netdev:\n%s\n(all: %v)", nd, keys(gen))
	}
	if nw := gen["mgmtserver1.yaml:10-netplan-eno2.network"]; !strings.Contains(nw, "VLAN=mgmt800") || !strings.Contains(nw, "VLAN=fab801") {
		t.Errorf("mgmtserver1's eno2 network file:\n%s", nw)
	}
	rendertest.Kea(t, dir)
	if zones := rendertest.Zones(t, dir); len(zones) != 9 {
		t.Errorf("named.conf lists %d zones, want 9: %v", len(zones), zones)
	}
}

func keys(m map[string]string) []string { return inventory.Sorted(m) }
