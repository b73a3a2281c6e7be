package conventions

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func parseSpec(t *testing.T, y []byte) *Spec {
	t.Helper()
	raw, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	s, probs := Decode(raw)
	if probs != nil {
		t.Fatalf("decode: %v", probs)
	}
	return s
}

func readSpec(t *testing.T, path string) *Spec {
	t.Helper()
	y, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseSpec(t, y)
}

func newEngine(t *testing.T) (*config.Engine, *schema.ModelSet) {
	t.Helper()
	eng, _ := testenv.Engine(t, false)
	set := inventory.Set(eng.Schema())
	if set == nil {
		t.Fatal("the inventory set is not loaded")
	}
	return eng, set
}

// commit writes what Generate made as one transaction, as the provision
// layer does.
func commit(t *testing.T, eng *config.Engine, set *schema.ModelSet, g *Generated) {
	t.Helper()
	var edits []config.Edit
	add := func(list, key string, entry map[string]any) {
		loc, err := schema.Resolve(set, "", []string{list, schema.EscapeSegment(key)})
		if err != nil {
			t.Fatal(err)
		}
		val, err := schema.DecodeJSON(loc.Node, entry, loc.REST(), true, schema.DecodeOptions{})
		if err != nil {
			t.Fatalf("%s %s: %v", list, key, err)
		}
		edits = append(edits, config.Edit{Op: config.OpMerge, Loc: loc, Value: val})
	}
	add("organization", g.Organization["org-id"].(string), g.Organization)
	for _, m := range g.Manufacturers {
		add("manufacturer", m["manufacturer-id"].(string), m)
	}
	for _, m := range g.DeviceTypes {
		add("device-type", m["device-type-id"].(string), m)
	}
	add("site", g.Site["site-id"].(string), g.Site)
	for _, m := range g.IPs {
		add("ip-address", m["address"].(string), m)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: edits, Principal: "test"}); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func generate(t *testing.T, eng *config.Engine, set *schema.ModelSet, s *Spec) *Generated {
	t.Helper()
	g, probs := Generate(s, inventory.Load(eng.Snapshot(), set))
	if probs != nil {
		t.Fatalf("generate: %v", probs)
	}
	return g
}

// oneOfEach is the book's address list of section 3.1.1: one device of
// each role.
const oneOfEach = `
site: site1
organization: {id: org1}
domain: aetherproject.net
block: 10.0.0.0/22
deployments: [{name: prod1, kind: production}]
device-types:
  - {id: server, manufacturer: m, model: S, interfaces: [{name: eno1, type: 1000base-t}, {name: eno2, type: 1000base-t}, {name: bmc, type: 1000base-t}, {name: eth0, type: 1000base-t}, {name: qsfp0, type: 40gbase-x-qsfpp}, {name: qsfp1, type: 40gbase-x-qsfpp}]}
  - {id: switch, manufacturer: m, model: W, interfaces: [{name: gbe1, type: 1000base-t}, {name: eth0, type: 1000base-t}, {name: bmc, type: 1000base-t}]}
devices:
  - {devname: enb1, role: radio, type: server}
  - {devname: node1, role: compute-server, type: server}
  - {devname: leaf1, role: fabric-switch, type: switch}
  - {devname: mgmtswitch1, role: management-switch, type: switch}
  - {devname: mgmtserver1, role: management-server, type: server}
`

// TestBookAddressList: the addresses of the book's list, in its order
// whatever the order of the spec, with the two departures the book's own
// prefix definitions call for: qsfp1 is in the second FABRIC /25
// (10.0.1.128/25, whose first address the management server takes), so
// the eNB follows qsfp0 in the first.
func TestBookAddressList(t *testing.T) {
	eng, set := newEngine(t)
	g := generate(t, eng, set, parseSpec(t, []byte(oneOfEach)))
	want := []string{
		"mgmtserver1.prod1 eno2 10.0.0.1/25 primary mgmtserver1.prod1.site1.aetherproject.net",
		"mgmtserver1.prod1 bmc 10.0.0.2/25 mgmtserver1.admin.prod1.site1.aetherproject.net",
		"mgmtserver1.prod1 mgmt800 10.0.0.129/25 mgmtserver1.mgmt.prod1.site1.aetherproject.net",
		"mgmtserver1.prod1 fab801 10.0.1.1/25 mgmtserver1.fab1.prod1.site1.aetherproject.net",
		"mgmtserver1.prod1 fab801 10.0.1.129/25 mgmtserver1.fab2.prod1.site1.aetherproject.net",
		"mgmtswitch1.prod1 gbe1 10.0.0.3/25 primary mgmtswitch1.prod1.site1.aetherproject.net",
		"leaf1.prod1 eth0 10.0.0.130/25 primary leaf1.prod1.site1.aetherproject.net",
		"leaf1.prod1 bmc 10.0.0.131/25 leaf1.mgmt.prod1.site1.aetherproject.net",
		"node1.prod1 eth0 10.0.0.132/25 primary node1.prod1.site1.aetherproject.net",
		"node1.prod1 bmc 10.0.0.4/25 node1.admin.prod1.site1.aetherproject.net",
		"node1.prod1 qsfp0 10.0.1.2/25 node1.fab1.prod1.site1.aetherproject.net",
		"node1.prod1 qsfp1 10.0.1.130/25 node1.fab2.prod1.site1.aetherproject.net", // the book: 10.0.1.3
		"enb1.prod1 eth0 10.0.1.3/25 primary enb1.prod1.site1.aetherproject.net",   // the book: 10.0.1.4
	}
	got := addrLines(g.Plan)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("address plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func addrLines(p *Plan) []string {
	var out []string
	for _, a := range p.Addrs {
		pri := ""
		if a.Primary {
			pri = " primary"
		}
		out = append(out, fmt.Sprintf("%s %s %s/%d%s %s", a.Device, a.Interface, a.Address, a.Length, pri, a.DNSName))
	}
	return out
}

// TestBookExample: the book's example site (Figure 5.2) generated from its
// spec matches the golden plan address by address, commits as one
// transaction, checks clean, and generating it again changes nothing.
func TestBookExample(t *testing.T) {
	eng, set := newEngine(t)
	spec := readSpec(t, "testdata/book-example.yaml")
	g := generate(t, eng, set, spec)

	var b strings.Builder
	for _, v := range g.Plan.VLANs {
		fmt.Fprintf(&b, "vlan %s %d %s %s\n", v.Name, v.VID, v.Role, v.Deployment)
	}
	for _, p := range g.Plan.Prefixes {
		fmt.Fprintf(&b, "prefix %s %s %s %s %s\n", p.ID, p.Prefix, p.Role, p.VLAN, p.Domain)
	}
	for _, l := range addrLines(g.Plan) {
		fmt.Fprintf(&b, "ip %s\n", l)
	}
	golden := "testdata/book-example.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("plan differs from %s (go test -update after checking it):\n%s", golden, b.String())
	}

	commit(t, eng, set, g)
	snap := eng.Snapshot()
	s, ok := inventory.LoadSite(snap, set, "stanford1")
	if !ok {
		t.Fatal("site not written")
	}
	inv := inventory.Load(snap, set)
	if n := len(s.Devices); n != 15 {
		t.Errorf("%d devices, want 15", n)
	}
	ms := s.Devices["mgmtserver1.prod1"]
	if ms.PrimaryIP != "10.0.0.1" || ms.Interfaces["mgmt810"] == nil || ms.Interfaces["mgmt810"].Label != "eno2" ||
		ms.Interfaces["mgmt810"].UntaggedVLAN != "DEV1MGMT" {
		t.Errorf("management server = %+v, mgmt810 = %+v", ms, ms.Interfaces["mgmt810"])
	}
	if c := s.Cables["mgmtswitch1.prod1_gbe3"]; c == nil || c.B != (inventory.End{Device: "node1.prod1", Interface: "bmc"}) || c.Length != "2.00" {
		t.Errorf("cable of figure 5.4 = %+v", c)
	}
	if probs := Check(s, inv.IPs, schema.RESTBase(set)); len(probs) != 0 {
		t.Errorf("the generated site departs from the conventions: %v", probs)
	}

	again := generate(t, eng, set, spec)
	before := eng.Snapshot().Index
	commit(t, eng, set, again)
	if after := eng.Snapshot().Index; after != before {
		t.Errorf("generating again recorded a transaction (%d → %d)", before, after)
	}
}

// TestSpecRefusals: every bad spec is refused with the spec's path and
// the reason, and nothing is made.
func TestSpecRefusals(t *testing.T) {
	eng, set := newEngine(t)
	base := string(mustRead(t, "testdata/book-example.yaml"))
	cases := []struct {
		name, from, to, path, reason string
	}{
		{"not a /22", "block: 10.0.0.0/22", "block: 10.0.0.0/24", "/block", "is a /24, not a /22"},
		{"not the network address", "block: 10.0.0.0/22", "block: 10.0.1.0/22", "/block", "did you mean 10.0.0.0/22"},
		{"not a prefix", "block: 10.0.0.0/22", "block: ten", "/block", "not an IPv4 prefix"},
		{"unknown role", "{devname: enb1, role: radio", "{devname: enb1, role: router", "/devices/11/role", `unknown role "router"`},
		{"overlapping position", "{devname: spine2, role: fabric-switch, type: fabric-switch, rack: r1, position: 39", "{devname: spine2, role: fabric-switch, type: fabric-switch, rack: r1, position: 40", "/devices/3/position", "unit 40 of rack r1 (front) is taken by /devices/2 (spine1)"},
		{"position beyond the rack", "rack: r1, position: 40", "rack: r1, position: 43", "/devices/2/position", "do not fit rack r1"},
		{"MAC twice", "eth0: '3c:ec:ef:00:04:01'", "eth0: '3C:EC:EF:00:03:01'", "/devices/3/macs/eth0", "MAC 3c:ec:ef:00:03:01 is also /devices/2/macs/eth0's"},
		{"bad MAC", "eth0: '3c:ec:ef:00:04:01'", "eth0: 'nope'", "/devices/3/macs/eth0", "not a MAC address"},
		{"three deployments", "  - {name: dev1, kind: development}", "  - {name: dev1, kind: development}\n  - {name: stage1, kind: staging}", "/deployments", "holds 2"},
		{"unknown type", "{devname: enb1, role: radio, type: enb", "{devname: enb1, role: radio, type: enb9", "/devices/11/type", `no device type "enb9"`},
		{"interface cabled twice", "b: 'node2.prod1:bmc'", "b: 'node1.prod1:bmc'", "/cables/1/b", "already on /cables/0"},
		{"cable to no interface", "b: 'node2.prod1:bmc'", "b: 'node2.prod1:eth9'", "/cables/1/b", `has no interface "eth9"`},
		{"role's interface missing", "      - {name: qsfp1, type: 40gbase-x-qsfpp}\n", "", "/devices/6/type", "has no interface qsfp1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := strings.Replace(base, c.from, c.to, 1)
			if y == base && c.from != c.to {
				t.Fatalf("%q is not in the example", c.from)
			}
			g, probs := Generate(parseSpec(t, []byte(y)), inventory.Load(eng.Snapshot(), set))
			if g != nil {
				t.Fatal("generated despite the problem")
			}
			for _, p := range probs {
				if p.Path == c.path && strings.Contains(p.Reason, c.reason) {
					return
				}
			}
			t.Errorf("problems %v: want %s: …%s…", probs, c.path, c.reason)
		})
	}
	if _, probs := Decode([]byte(`{"site":"s","devices":[{"devname":"a","colour":"red"}]}`)); len(probs) != 1 || !strings.Contains(probs[0].Reason, `unknown field "colour"`) {
		t.Errorf("unknown field: %v", probs)
	}
	if _, probs := Decode([]byte(`{"site":"s","devices":[{"devname":"a","position":"top"}]}`)); len(probs) != 1 || probs[0].Path != "/devices/position" {
		t.Errorf("wrong type: %v", probs)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// merge writes one entry through the engine, as a hand edit would.
func merge(t *testing.T, eng *config.Engine, set *schema.ModelSet, op config.Op, segs []string, entry map[string]any) {
	t.Helper()
	loc, err := schema.Resolve(set, "", segs)
	if err != nil {
		t.Fatal(err)
	}
	var val any
	if entry != nil {
		if val, err = schema.DecodeJSON(loc.Node, entry, loc.REST(), loc.Node.Kind == schema.List, schema.DecodeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: op, Loc: loc, Value: val}}, Principal: "test"}); err != nil {
		t.Fatalf("%v: %v", segs, err)
	}
}

// TestCheckDepartures: a site edited by hand away from the conventions is
// reported departure by departure, each with its path and reason.
func TestCheckDepartures(t *testing.T) {
	eng, set := newEngine(t)
	commit(t, eng, set, generate(t, eng, set, readSpec(t, "testdata/book-example.yaml")))
	site := []string{"site", "stanford1"}
	// A wrong VID, a prefix that is no /25 of the block, a domain off the
	// pattern, two addresses swapped, a primary IP gone, a DNS name off.
	merge(t, eng, set, config.OpMerge, append(site, "vlan", "DEV1FABRIC"), map[string]any{"name": "DEV1FABRIC", "vid": "812"})
	merge(t, eng, set, config.OpMerge, append(site, "prefix", "dev1-fab2"), map[string]any{"prefix-id": "dev1-fab2", "prefix": "10.0.3.128/26"})
	merge(t, eng, set, config.OpMerge, append(site, "prefix", "prod1-mgmt"), map[string]any{"prefix-id": "prod1-mgmt", "dns-domain": "mgmt.stanford1.aetherproject.net"})
	merge(t, eng, set, config.OpMerge, []string{"ip-address", "10.0.0.5"}, map[string]any{"address": "10.0.0.5", "device": "node3.prod1"})
	merge(t, eng, set, config.OpMerge, []string{"ip-address", "10.0.0.6"}, map[string]any{"address": "10.0.0.6", "device": "node2.prod1"})
	merge(t, eng, set, config.OpRemove, append(site, "device", "node4.prod1", "primary-ip"), nil)
	merge(t, eng, set, config.OpMerge, []string{"ip-address", "10.0.1.2"}, map[string]any{"address": "10.0.1.2", "dns-name": "node1.stanford1.aetherproject.net"})

	snap := eng.Snapshot()
	s, _ := inventory.LoadSite(snap, set, "stanford1")
	got := Check(s, inventory.Load(snap, set).IPs, "/inventory/v1.0.0")
	sp := "/inventory/v1.0.0/site/stanford1"
	want := []Problem{
		{"/inventory/v1.0.0/ip-address/10.0.0.5", "address out of order: it is on device node3.prod1 interface bmc, the conventions give it to device node2.prod1 interface bmc"},
		{"/inventory/v1.0.0/ip-address/10.0.0.6", "address out of order: it is on device node2.prod1 interface bmc, the conventions give it to device node3.prod1 interface bmc"},
		{"/inventory/v1.0.0/ip-address/10.0.1.2/dns-name", `"node1.stanford1.aetherproject.net" does not follow the pattern: node1.fab1.prod1.stanford1.aetherproject.net`},
		{sp + "/device/node4.prod1/primary-ip", "no primary IP: the conventions make 10.0.0.141 (interface eth0) primary"},
		{sp + "/prefix", "no prefix 10.0.3.128/25: the conventions give deployment dev1 its FAB2 /25"},
		{sp + "/prefix/dev1-fab2/prefix", "10.0.3.128/26 is not one of the conventions' /25s of block 10.0.0.0/22"},
		{sp + "/prefix/prod1-mgmt/dns-domain", `"mgmt.stanford1.aetherproject.net" does not follow the pattern mgmt.<deployment>.<site>.<domain>: mgmt.prod1.stanford1.aetherproject.net`},
		{sp + "/vlan", "no VLAN 811: the conventions give deployment dev1 a fabric VLAN DEV1FABRIC with VID 811"},
		{sp + "/vlan/DEV1FABRIC/vid", "VID 812 is not one of the conventions'"},
	}
	if len(got) != len(want) {
		t.Errorf("%d departures, want %d:", len(got), len(want))
	}
	for i, w := range want {
		if i >= len(got) || got[i].Path != w.Path || !strings.HasPrefix(got[i].Reason, w.Reason) {
			t.Errorf("departure %d = %v, want %s: %s…", i, got[min(i, len(got)-1)], w.Path, w.Reason)
		}
	}

	// Running the spec again puts the conventions' values back.
	commit(t, eng, set, generate(t, eng, set, readSpec(t, "testdata/book-example.yaml")))
	snap = eng.Snapshot()
	s, _ = inventory.LoadSite(snap, set, "stanford1")
	if probs := Check(s, inventory.Load(snap, set).IPs, "/inventory/v1.0.0"); len(probs) != 0 {
		t.Errorf("after running the spec again: %v", probs)
	}
}

// TestMACInUse: a MAC another site's interface has is refused with the
// spec's path; the site's own MACs, generated before, are not.
func TestMACInUse(t *testing.T) {
	eng, set := newEngine(t)
	spec := readSpec(t, "testdata/book-example.yaml")
	commit(t, eng, set, generate(t, eng, set, spec))
	generate(t, eng, set, spec) // its own MACs again: no refusal
	other := parseSpec(t, []byte(strings.Replace(strings.Replace(oneOfEach, "devname: enb1, role: radio, type: server", "devname: enb1, role: radio, type: server, macs: {eth0: '3C:EC:EF:00:07:01'}", 1), "block: 10.0.0.0/22", "block: 10.1.0.0/22", 1)))
	_, probs := Generate(other, inventory.Load(eng.Snapshot(), set))
	if len(probs) != 1 || probs[0].Path != "/devices/0/macs/eth0" || !strings.Contains(probs[0].Reason, "stanford1/node1.prod1/eth0") {
		t.Errorf("problems %v", probs)
	}
}
