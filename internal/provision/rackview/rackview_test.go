package rackview

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// bookSite commits testdata/stanford1.json (the book's example site of
// Figures 5.2-5.4 in one 42 U rack, plus a rear-only console server, a
// 0 U PDU and a spare without a position) through the engine, so the
// views read what the model's defaults and canonical values make of it,
// and returns the site with the device types of its devices.
func bookSite(t *testing.T) (*inventory.Site, map[string]*inventory.DeviceType) {
	t.Helper()
	eng, _ := testenv.Engine(t, true) // the demo has enterprise acme, the site's tenant
	set := inventory.Set(eng.Schema())
	raw, err := os.ReadFile(filepath.Join("testdata", "stanford1.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	loc, err := schema.Resolve(set, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), false, schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}}, Principal: "test"}); err != nil {
		t.Fatal(err)
	}
	inv := inventory.Load(eng.Snapshot(), set)
	return inv.Sites["stanford1"], inv.DeviceTypes
}

// TestElevationGolden: both faces of the book's rack render to the same
// bytes every time, and to the reviewed drawings in testdata (go test
// -run TestElevationGolden -update rewrites them after a deliberate
// change; look at them in a browser before committing).
func TestElevationGolden(t *testing.T) {
	site, types := bookSite(t)
	for _, face := range []Face{Front, Rear} {
		got := Elevation(site, site.Racks["r1"], face, types)
		if again := Elevation(site, site.Racks["r1"], face, types); !bytes.Equal(got, again) {
			t.Fatalf("%s: two renders of one inventory differ", face)
		}
		golden := filepath.Join("testdata", "r1-"+string(face)+".svg")
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s elevation differs from %s:\n%s", face, golden, got)
		}
	}
}

// TestLayFaces: full-depth devices show on both faces, a half-depth one
// on its own face only; devices without a position or of 0 U are listed,
// not drawn; each box spans the units from its position up over its
// type's height.
func TestLayFaces(t *testing.T) {
	site, types := bookSite(t)
	drawn := func(l *Layout) map[string]Placed {
		m := map[string]Placed{}
		for _, p := range l.Devices {
			m[p.Device.ID] = p
		}
		return m
	}
	front, rear := Lay(site, site.Racks["r1"], Front, types), Lay(site, site.Racks["r1"], Rear, types)
	f, r := drawn(front), drawn(rear)
	if _, ok := f["console1"]; ok {
		t.Error("the rear-mounted half-depth console server is drawn on the front")
	}
	if _, ok := r["console1"]; !ok {
		t.Error("the rear-mounted console server is not drawn on the rear")
	}
	for id, d := range site.Devices {
		if id == "console1" || d.Position == 0 || types[d.DeviceType].UHeight == 0 {
			continue
		}
		if _, ok := f[id]; !ok {
			t.Errorf("full-depth %s is not on the front", id)
		}
		if _, ok := r[id]; !ok {
			t.Errorf("full-depth %s is not on the rear", id)
		}
	}
	if want := []string{"pdu1.stanford1", "spare1.stanford1"}; !reflect.DeepEqual(front.Unmounted, want) {
		t.Errorf("unmounted: %v, want %v", front.Unmounted, want)
	}
	// node4 is a 2 U R740 at U26: its box spans U26 and U27, so its top is
	// the top of U27 and it is two units high.
	n4 := f["node4"]
	if n4.Height != 2 || n4.Y != UnitY(42, 27) || n4.H != 2*UnitHeight || UnitY(42, 27)+2*UnitHeight != UnitY(42, 25) {
		t.Errorf("node4 at y %d height %d (%d U), want y %d height %d", n4.Y, n4.H, n4.Height, UnitY(42, 27), 2*UnitHeight)
	}
	if got := front.Deployments; !reflect.DeepEqual(got, []string{"prod1", "dev1"}) {
		t.Errorf("legend of the front: %v, want the deployments by ordinal and no entry for none (no such device in front)", got)
	}
	if got := rear.Deployments; !reflect.DeepEqual(got, []string{"prod1", "dev1", ""}) {
		t.Errorf("legend of the rear: %v, want the deployments by ordinal, then none (console1)", got)
	}
	if empty := Lay(site, site.Racks["r2"], Front, types); len(empty.Devices) != 0 || len(empty.Unmounted) != 0 {
		t.Errorf("rack r2 holds nothing, yet: %+v", empty)
	}
}

// TestLabelFits: a long name is cut to fit its box (the tooltip keeps it
// whole); a short one is devname.deployment.
func TestLabelFits(t *testing.T) {
	long := &inventory.Device{Devname: strings.Repeat("n", 40), Deployment: "prod1"}
	if got := label(long); len([]rune(got)) != maxLabel || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "nnnn") {
		t.Errorf("long label %q", got)
	}
	if got := label(&inventory.Device{Devname: "node1", Deployment: "prod1"}); got != "node1.prod1" {
		t.Errorf("label %q", got)
	}
	if got := label(&inventory.Device{Devname: "kvm1"}); got != "kvm1" {
		t.Errorf("label of a device of no deployment %q", got)
	}
}

// TestDeploymentColors: each deployment has its own colour, fixed by its
// ordinal, and devices of none are grey.
func TestDeploymentColors(t *testing.T) {
	site, _ := bookSite(t)
	prod, dev := DeploymentColor(site, "prod1"), DeploymentColor(site, "dev1")
	if prod == dev || prod == NoDeployment || dev == NoDeployment {
		t.Fatalf("prod1 %s, dev1 %s, none %s: not distinct", prod, dev, NoDeployment)
	}
	if DeploymentColor(site, "") != NoDeployment {
		t.Error("a device of no deployment is not grey")
	}
	site.Deployments["dev1"].Ordinal = 0
	if DeploymentColor(site, "dev1") != prod {
		t.Error("the colour does not follow the ordinal")
	}
}

// TestCablesReport: the book's Figure 5.4 rows (side names
// <devname>.<deployment>.<site>, lengths with units), natural order, and
// CSV that reads back field for field, quotes and commas included.
func TestCablesReport(t *testing.T) {
	site, _ := bookSite(t)
	rows := Cables(site)
	if len(rows) != 17 {
		t.Fatalf("%d rows, want 17", len(rows))
	}
	first := rows[0]
	want := CableRow{Cable: Cable{ID: "165", Status: "connected", Type: "cat6", Length: "2", LengthUnit: "ft"},
		SideA: "mgmtswitch1.prod1.stanford1", DeviceA: "mgmtswitch1", TerminationA: "gbe3",
		SideB: "node1.prod1.stanford1", DeviceB: "node1", TerminationB: "bmc"}
	if first != want {
		t.Errorf("first row %+v\nwant %+v", first, want)
	}
	if rows[14].ID != "179" || rows[14].Length != "2.5" || rows[14].LengthText() != "2.5 ft" {
		t.Errorf("row 15: %+v", rows[14])
	}
	if l := rows[16]; l.ID != "181" || l.LengthText() != "0.75 m" || l.Color != "f44336" || l.Label != `N1-L1, "fabric"` {
		t.Errorf("last row: %+v", l)
	}
	text := string(CSV(rows))
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 18 || lines[0] != "ID,Label,Side A,Termination A,Side B,Termination B,Status,Type,Length,Color" {
		t.Fatalf("CSV:\n%s", text)
	}
	if lines[1] != "165,,mgmtswitch1.prod1.stanford1,gbe3,node1.prod1.stanford1,bmc,connected,cat6,2 ft," {
		t.Errorf("CSV row 1: %s", lines[1])
	}
	if lines[17] != `181,"N1-L1, ""fabric""",node1.prod1.stanford1,qsfp0,leaf1.prod1.stanford1,qsfp2,connected,dac-passive,0.75 m,f44336` {
		t.Errorf("CSV row 17: %s", lines[17])
	}
	// A label is free text: a spreadsheet must not run it as a formula.
	site.Cables["165"].Label = `=HYPERLINK("http://evil.example","x")`
	if row := strings.Split(string(CSV(Cables(site))), "\n")[1]; !strings.HasPrefix(row, `165,"'=HYPERLINK(""http://evil.example"",""x"")",`) {
		t.Errorf("a formula label reaches the CSV as a formula: %s", row)
	}
}

// TestTrace: a cabled interface is one hop, from either end of its cable;
// a VLAN interface is traced from the interface it rides on; an interface
// without a cable has no hop.
func TestTrace(t *testing.T) {
	site, _ := bookSite(t)
	tr := TraceFrom(site, site.Devices["node1"], "gbe0")
	if len(tr.Hops) != 1 || len(tr.Via) != 0 {
		t.Fatalf("trace from node1 gbe0: %+v", tr)
	}
	h := tr.Hops[0]
	if h.Near != (Endpoint{"node1", "node1.prod1.stanford1", "gbe0"}) || h.Far != (Endpoint{"mgmtswitch1", "mgmtswitch1.prod1.stanford1", "gbe15"}) ||
		h.Cable.ID != "174" || h.Cable.Length != "2" || h.Cable.LengthUnit != "ft" {
		t.Errorf("hop: %+v", h)
	}
	back := TraceFrom(site, site.Devices["mgmtswitch1"], "gbe15")
	if len(back.Hops) != 1 || back.Hops[0].Far != h.Near || back.Hops[0].Near != h.Far {
		t.Errorf("trace back from the switch: %+v", back)
	}
	vlan := TraceFrom(site, site.Devices["node1"], "mgmt800")
	if !reflect.DeepEqual(vlan.Via, []string{"gbe0"}) || len(vlan.Hops) != 1 || vlan.Hops[0] != h || vlan.Origin.Interface != "mgmt800" {
		t.Errorf("trace from the VLAN interface: %+v", vlan)
	}
	none := TraceFrom(site, site.Devices["node1"], "qsfp1")
	if len(none.Hops) != 0 || len(none.Via) != 0 {
		t.Errorf("trace from an uncabled interface: %+v", none)
	}
}
