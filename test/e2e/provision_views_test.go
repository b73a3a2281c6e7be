package e2e

// Rack elevation, cable report and cable trace (issue 11, "What to build"
// 5) through the real binary: the SVG parsed and rendered by Debian's
// Chromium, the report through REST (JSON, CSV) and the CLI, the trace
// through both, refusals naming what is missing, and the one policy (the
// site's tenant reads, another tenant does not).

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
)

// viewsSite starts a server with the demo enterprises and the book's
// example site (internal/provision/rackview/testdata/stanford1.json:
// Figures 5.2-5.4 in rack r1, tenant acme), committed in one POST.
func viewsSite(t *testing.T) *testenv.Server {
	t.Helper()
	s := testenv.Start(t, t.TempDir(), "--demo")
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "internal", "provision", "rackview", "testdata", "stanford1.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.Must(t, 201, "POST", "/inventory/v1.0.0/", string(doc))
	return s
}

// svgNode is any element of an SVG document.
type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []svgNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *svgNode) num(t *testing.T, name string) int {
	t.Helper()
	v, err := strconv.Atoi(n.attr(name))
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.XMLName.Local, name, n.attr(name), err)
	}
	return v
}

// child is n's first child element called name.
func (n *svgNode) child(t *testing.T, name string) *svgNode {
	t.Helper()
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			return &n.Nodes[i]
		}
	}
	t.Fatalf("<%s class=%q> has no <%s>", n.XMLName.Local, n.attr("class"), name)
	return nil
}

// groups are the SVG's top-level <g> of a class, by their data-key.
func (n *svgNode) groups(class, key string) map[string]*svgNode {
	out := map[string]*svgNode{}
	for i := range n.Nodes {
		if g := &n.Nodes[i]; g.XMLName.Local == "g" && g.attr("class") == class {
			out[g.attr(key)] = g
		}
	}
	return out
}

// box is a device as the elevation must draw it: from position over the
// type's height (testdata/stanford1.json).
type box struct{ position, height int }

var rackR1 = map[string]box{
	"mgmtswitch1": {42, 1}, "mgmtserver1": {41, 1}, "spine1": {40, 1}, "spine2": {39, 1}, "leaf1": {38, 1}, "leaf2": {37, 1},
	"node1": {30, 1}, "node2": {29, 1}, "node3": {28, 1}, "node4": {26, 2}, "node5": {24, 2},
	"devswitch1": {20, 1}, "devnode1": {18, 1}, "devnode2": {17, 1},
}

// TestProvisionRackElevation: GET …/racks/r1/elevation.svg is an SVG of
// the rack whose every device is a box over exactly the units it occupies
// (the numbered unit rows of the drawing), full-depth devices on both
// faces and the rear-mounted half-depth console on the rear only,
// coloured as the legend says for its deployment; Chromium renders it
// with those colours where the boxes are. The server answers the reviewed
// golden drawing, and amp provision elevation writes the same bytes.
func TestProvisionRackElevation(t *testing.T) {
	s := viewsSite(t)
	ctx := context.Background()
	for _, face := range []string{"front", "rear"} {
		code, body, hdr, err := s.Do(ctx, "GET", "/provision/stanford1/racks/r1/elevation.svg?face="+face, "")
		if err != nil || code != 200 {
			t.Fatalf("%s: %d %v %s", face, code, err, body)
		}
		if ct := hdr.Get("Content-Type"); ct != "image/svg+xml" {
			t.Errorf("Content-Type %q", ct)
		}
		golden, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "internal", "provision", "rackview", "testdata", "r1-"+face+".svg"))
		if err != nil || !bytes.Equal(body, golden) {
			t.Errorf("%s: the served elevation is not the reviewed drawing (rackview's golden file): %v", face, err)
		}
		var doc svgNode
		if err := xml.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%s: not XML: %v\n%s", face, err, body)
		}
		if doc.XMLName.Space != "http://www.w3.org/2000/svg" || doc.XMLName.Local != "svg" {
			t.Fatalf("root element %v", doc.XMLName)
		}
		units := doc.groups("unit", "data-unit")
		if len(units) != 42 {
			t.Fatalf("%s: %d unit rows, want 42", face, len(units))
		}
		unitRect := func(u int) *svgNode { return units[strconv.Itoa(u)].child(t, "rect") }
		for u := 1; u <= 42; u++ {
			if label := strings.TrimSpace(units[strconv.Itoa(u)].child(t, "text").Text); label != strconv.Itoa(u) {
				t.Errorf("unit %d is labelled %q", u, label)
			}
			if u > 1 && unitRect(u).num(t, "y") >= unitRect(u-1).num(t, "y") {
				t.Errorf("unit %d is not above unit %d", u, u-1)
			}
		}
		legend := map[string]string{}
		for dep, g := range doc.groups("legend-entry", "data-deployment") {
			legend[dep] = g.child(t, "rect").attr("fill")
		}
		if legend["prod1"] == "" || legend["dev1"] == "" || legend["prod1"] == legend["dev1"] {
			t.Fatalf("%s legend: %v", face, legend)
		}
		devices := doc.groups("device", "data-device")
		want := map[string]box{}
		for id, b := range rackR1 {
			want[id] = b
		}
		if face == "rear" {
			want["console1"] = box{35, 1}
		}
		if len(devices) != len(want) {
			t.Errorf("%s: %d devices drawn, want %d", face, len(devices), len(want))
		}
		var shot []probe
		for id, b := range want {
			g, ok := devices[id]
			if !ok {
				t.Errorf("%s: %s is not drawn", face, id)
				continue
			}
			r := g.child(t, "rect")
			top, bottom := unitRect(b.position+b.height-1), unitRect(b.position)
			y, h := r.num(t, "y"), r.num(t, "height")
			if y != top.num(t, "y") || y+h != bottom.num(t, "y")+bottom.num(t, "height") {
				t.Errorf("%s: %s spans y %d..%d, want U%d..U%d = %d..%d", face, id, y, y+h, b.position, b.position+b.height-1,
					top.num(t, "y"), bottom.num(t, "y")+bottom.num(t, "height"))
			}
			dep := g.attr("data-deployment")
			if fill := r.attr("fill"); fill != legend[dep] {
				t.Errorf("%s: %s (deployment %q) is %s, the legend says %s", face, id, dep, fill, legend[dep])
			}
			label := id // devname = device-id in the fixture
			if dep != "" {
				label += "." + dep
			}
			if got := g.child(t, "text").Text; got != label {
				t.Errorf("%s: %s is labelled %q, want %q", face, id, got, label)
			}
			shot = append(shot, probe{id, r.num(t, "x") + r.num(t, "width")/2, y + 3, r.attr("fill")})
		}
		// An empty unit (U10 is free) shows the empty fill.
		u10 := unitRect(10)
		shot = append(shot, probe{"empty U10", u10.num(t, "x") + u10.num(t, "width")/2, u10.num(t, "y") + 3, u10.attr("fill")})
		screenshot(t, body, doc.num(t, "width"), doc.num(t, "height"), shot)

		out, err := viewsCLI(t, s, "provision", "elevation", "stanford1", "r1", "--face", face)
		if err != nil || out != string(body) {
			t.Errorf("amp provision elevation --face %s: %v\n%s", face, err, out)
		}
	}
}

// probe is a pixel a screenshot must show in a colour.
type probe struct {
	what  string
	x, y  int
	color string // #rrggbb
}

// screenshot renders svg in Debian's Chromium (headless, at scale 1) and
// checks the picture is not blank and shows each probe's colour at its
// pixel. The test fails when Chromium is missing: scripts/test-deps.sh
// installs it.
func screenshot(t *testing.T, svg []byte, w, h int, probes []probe) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Debian's chromium is needed to render the elevation (scripts/test-deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	file, pngFile := filepath.Join(dir, "r1.svg"), filepath.Join(dir, "r1.png")
	if err := os.WriteFile(file, svg, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// --no-sandbox: Chromium's sandbox refuses to start as root (CI
	// containers); the page is the server's own SVG, with no script.
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--force-device-scale-factor=1", "--user-data-dir="+filepath.Join(dir, "profile"),
		fmt.Sprintf("--window-size=%d,%d", w, h), "--screenshot="+pngFile, "file://"+file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(pngFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("screenshot is %v, want %dx%d", b, w, h)
	}
	colours := map[[3]uint8]bool{}
	for y := 0; y < h; y += 4 {
		for x := 0; x < w; x += 4 {
			colours[rgb(img, x, y)] = true
		}
	}
	if len(colours) < 4 {
		t.Fatalf("the rendered elevation is blank: %d colours", len(colours))
	}
	for _, p := range probes {
		want, err := strconv.ParseUint(strings.TrimPrefix(p.color, "#"), 16, 32)
		if err != nil {
			t.Fatalf("%s: colour %q", p.what, p.color)
		}
		got := rgb(img, p.x, p.y)
		exp := [3]uint8{uint8(want >> 16), uint8(want >> 8), uint8(want)}
		for i := range got {
			if d := int(got[i]) - int(exp[i]); d < -3 || d > 3 {
				t.Errorf("%s: pixel (%d,%d) is #%02x%02x%02x, want %s", p.what, p.x, p.y, got[0], got[1], got[2], p.color)
				break
			}
		}
	}
}

func rgb(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

// viewsCLI runs the amp CLI against s.
func viewsCLI(t *testing.T, s *testenv.Server, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Env = s.Env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

// TestProvisionCables: the cable report of the book's Figure 5.4 as JSON,
// as CSV (?format=csv and Accept: text/csv), and through amp provision
// cables -o table|csv|json.
func TestProvisionCables(t *testing.T) {
	s := viewsSite(t)
	ctx := context.Background()
	var rows []map[string]any
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/provision/stanford1/cables", ""), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 17 {
		t.Fatalf("%d cables, want 17", len(rows))
	}
	first := rows[0]
	for k, v := range map[string]string{"cable-id": "165", "side-a": "mgmtswitch1.prod1.stanford1", "termination-a": "gbe3",
		"side-b": "node1.prod1.stanford1", "termination-b": "bmc", "status": "connected", "type": "cat6", "length": "2", "length-unit": "ft"} {
		if first[k] != v {
			t.Errorf("first cable %s = %v, want %q (%v)", k, first[k], v, first)
		}
	}
	viaQuery := s.Must(t, 200, "GET", "/provision/stanford1/cables?format=csv", "")
	code, viaAccept, hdr, err := s.Do(ctx, "GET", "/provision/stanford1/cables", "", "Accept", "text/csv")
	if err != nil || code != 200 || !bytes.Equal(viaQuery, viaAccept) || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("Accept: text/csv: %d %v %q\n%s", code, err, hdr.Get("Content-Type"), viaAccept)
	}
	recs, err := csv.NewReader(bytes.NewReader(viaQuery)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 18 || strings.Join(recs[0], "|") != "ID|Label|Side A|Termination A|Side B|Termination B|Status|Type|Length|Color" {
		t.Fatalf("CSV: %q", recs)
	}
	if got := strings.Join(recs[16], "|"); got != "180|L1-S1|leaf1.prod1.stanford1|qsfp1|spine1.prod1.stanford1|qsfp1|planned|dac-passive|1 m|2196f3" {
		t.Errorf("CSV row of cable 180: %s", got)
	}

	table, err := viewsCLI(t, s, "provision", "cables", "stanford1")
	if err != nil {
		t.Fatalf("amp provision cables: %v\n%s", err, table)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 18 || strings.Join(strings.Fields(lines[0]), " ") != "ID LABEL SIDE-A TERMINATION-A SIDE-B TERMINATION-B STATUS TYPE LENGTH COLOR" {
		t.Fatalf("table:\n%s", table)
	}
	if got := strings.Join(strings.Fields(lines[1]), " "); got != "165 mgmtswitch1.prod1.stanford1 gbe3 node1.prod1.stanford1 bmc connected cat6 2 ft" {
		t.Errorf("table row 1: %q", got)
	}
	if got := strings.Join(strings.Fields(lines[16]), " "); got != "180 L1-S1 leaf1.prod1.stanford1 qsfp1 spine1.prod1.stanford1 qsfp1 planned dac-passive 1 m 2196f3" {
		t.Errorf("table row of cable 180: %q", got)
	}
	if out, err := viewsCLI(t, s, "provision", "cables", "stanford1", "-o", "csv"); err != nil || out != string(viaQuery) {
		t.Errorf("amp provision cables -o csv: %v\n%s", err, out)
	}
	out, err := viewsCLI(t, s, "provision", "cables", "stanford1", "-o", "json")
	var cliRows []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &cliRows) != nil || len(cliRows) != 17 || cliRows[16]["cable-id"] != "181" {
		t.Errorf("amp provision cables -o json: %v\n%s", err, out)
	}
}

// TestProvisionTrace: a trace from either end of a cable is the one hop
// between them (direct cables only); a VLAN interface is traced from its
// parent; an uncabled interface has no hop; the CLI shows the same.
func TestProvisionTrace(t *testing.T) {
	s := viewsSite(t)
	type end struct{ Device, Name, Interface string }
	type trace struct {
		Origin end
		Via    []string
		Hops   []struct {
			Near, Far end
			Cable     map[string]any
		}
	}
	get := func(path string) trace {
		var tr trace
		if err := json.Unmarshal(s.Must(t, 200, "GET", path, ""), &tr); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	tr := get("/provision/stanford1/devices/node1/interfaces/gbe0/trace")
	if len(tr.Hops) != 1 || tr.Hops[0].Near != (end{"node1", "node1.prod1.stanford1", "gbe0"}) ||
		tr.Hops[0].Far != (end{"mgmtswitch1", "mgmtswitch1.prod1.stanford1", "gbe15"}) || tr.Hops[0].Cable["cable-id"] != "174" {
		t.Errorf("trace from node1 gbe0: %+v", tr)
	}
	back := get("/provision/stanford1/devices/mgmtswitch1/interfaces/gbe15/trace")
	if len(back.Hops) != 1 || back.Hops[0].Far != tr.Hops[0].Near {
		t.Errorf("trace back from mgmtswitch1 gbe15: %+v", back)
	}
	vlan := get("/provision/stanford1/devices/node1/interfaces/mgmt800/trace")
	if len(vlan.Via) != 1 || vlan.Via[0] != "gbe0" || len(vlan.Hops) != 1 || vlan.Hops[0].Far.Interface != "gbe15" {
		t.Errorf("trace from the VLAN interface mgmt800: %+v", vlan)
	}
	if none := get("/provision/stanford1/devices/node1/interfaces/qsfp1/trace"); len(none.Hops) != 0 || none.Origin.Interface != "qsfp1" {
		t.Errorf("trace from the uncabled qsfp1: %+v", none)
	}

	out, err := viewsCLI(t, s, "provision", "trace", "stanford1", "node1", "mgmt800")
	if err != nil || !strings.HasPrefix(out, "node1.prod1.stanford1 mgmt800 (via gbe0):\n") ||
		!strings.Contains(strings.Join(strings.Fields(out), " "), "1 node1.prod1.stanford1 gbe0 174 connected cat6 2 ft mgmtswitch1.prod1.stanford1 gbe15") {
		t.Errorf("amp provision trace: %v\n%s", err, out)
	}
	if out, err := viewsCLI(t, s, "provision", "trace", "stanford1", "node1", "qsfp1"); err != nil || out != "node1.prod1.stanford1 qsfp1: not cabled\n" {
		t.Errorf("amp provision trace of an uncabled interface: %v\n%q", err, out)
	}
}

// TestProvisionViewsRefusals: an unknown site, rack, device or interface
// is 404 naming its inventory path; a bad face or format is 400 naming
// the parameter; the site's tenant (acme) reads the views, another
// tenant's admin (starbucks) is refused all of them, exactly as for a
// site that does not exist, so it learns nothing; the CLI says why.
func TestProvisionViewsRefusals(t *testing.T) {
	s := viewsSite(t)
	ctx := context.Background()
	refused := func(hdr []string, wantCode int, path, wantPath, wantReason string) {
		t.Helper()
		code, body, _, err := s.Do(ctx, "GET", path, "", hdr...)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Errors []struct{ Path, Reason string }
		}
		if code != wantCode || json.Unmarshal(body, &p) != nil || len(p.Errors) != 1 ||
			p.Errors[0].Path != wantPath || !strings.Contains(p.Errors[0].Reason, wantReason) {
			t.Errorf("GET %s: %d %s, want %d naming %s (%q)", path, code, body, wantCode, wantPath, wantReason)
		}
	}
	inv := "/inventory/v1.0.0/site/"
	refused(nil, 404, "/provision/nowhere/cables", inv+"nowhere", `site "nowhere" does not exist`)
	refused(nil, 404, "/provision/nowhere/racks/r1/elevation.svg", inv+"nowhere", `site "nowhere" does not exist`)
	refused(nil, 404, "/provision/stanford1/racks/r9/elevation.svg", inv+"stanford1/rack/r9", `site "stanford1" has no rack "r9"`)
	refused(nil, 404, "/provision/stanford1/devices/node9/interfaces/gbe0/trace", inv+"stanford1/device/node9", `no device "node9"`)
	refused(nil, 404, "/provision/stanford1/devices/node1/interfaces/eth7/trace", inv+"stanford1/device/node1/interface/eth7", `no interface "eth7"`)
	refused(nil, 404, "/provision/stanford1/devices/node1/interfaces/Ethernet1%2F1/trace", inv+"stanford1/device/node1/interface/Ethernet1%2F1", `no interface "Ethernet1/1"`)
	refused(nil, 400, "/provision/stanford1/racks/r1/elevation.svg?face=top", "?face", `"top" is not a rack face`)
	refused(nil, 400, "/provision/stanford1/cables?format=xml", "?format", `"xml" is not a format`)
	// The empty rack r2 is a drawing of 24 empty units.
	if svg := s.Must(t, 200, "GET", "/provision/stanford1/racks/r2/elevation.svg", ""); bytes.Count(svg, []byte(`class="unit"`)) != 24 || bytes.Contains(svg, []byte(`class="device"`)) {
		t.Errorf("the empty rack r2:\n%s", svg)
	}

	acme, _ := apiToken(t, s, "acme-views", "enterprise-admin", "acme")
	sb, _ := apiToken(t, s, "starbucks-views", "enterprise-admin", "starbucks")
	views := []string{"/provision/stanford1/racks/r1/elevation.svg", "/provision/stanford1/cables",
		"/provision/stanford1/devices/node1/interfaces/gbe0/trace"}
	for _, p := range views {
		if code, body, _, err := s.Do(ctx, "GET", p, "", "Authorization", "Bearer "+acme); err != nil || code != 200 {
			t.Errorf("acme's admin, GET %s: %d %v %s", p, code, err, body)
		}
		refused([]string{"Authorization", "Bearer " + sb}, 403, p, inv+"stanford1", "")
		refused([]string{"Authorization", "Bearer " + sb}, 403, strings.Replace(p, "stanford1", "nowhere", 1), inv+"nowhere", "")
	}
	out, err := viewsCLI(t, s, "provision", "cables", "nowhere")
	if err == nil || !strings.Contains(out, inv+"nowhere") || !strings.Contains(out, "does not exist") {
		t.Errorf("amp provision cables nowhere: %v\n%s", err, out)
	}
}
