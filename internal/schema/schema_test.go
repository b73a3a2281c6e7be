package schema_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

func aether(t testing.TB) *schema.ModelSet {
	t.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	set := sch.Set("aether", "2.1.x")
	if set == nil {
		t.Fatal("no aether 2.1.x")
	}
	return set
}

func node(t testing.TB, set *schema.ModelSet, path string) *schema.Node {
	n := set.Root
	for _, p := range strings.Split(strings.Trim(path, "/"), "/") {
		if n = n.Child(p); n == nil {
			t.Fatalf("no schema node %s", path)
		}
	}
	return n
}

func TestModelFacts(t *testing.T) {
	set := aether(t)
	if got := node(t, set, "site").Keys; len(got) != 1 || got[0] != "site-id" {
		t.Fatalf("site keys %v", got)
	}
	if !node(t, set, "site/slice/sst").Immutable || !node(t, set, "site/slice/sd").LegacyDecimal {
		t.Fatal("slice sst/sd extensions not loaded")
	}
	for path, kind := range map[string]string{"site/connectivity-service/core-5g/endpoint": "core",
		"site/connectivity-service/core-4g/endpoint": "core", "site/upf/config-endpoint": "upf", "site/upf/address": ""} {
		if got := node(t, set, path).Backend; got != kind {
			t.Fatalf("%s: backend kind %q, want %q", path, got, kind)
		}
	}
	if n := node(t, set, "site/device/state"); n.Config {
		t.Fatal("device state must be config false")
	}
	if u := node(t, set, "site/sim-card").Unique; len(u) != 1 || u[0][0] != "iccid" {
		t.Fatalf("sim-card unique %v", u)
	}
	if d := node(t, set, "site/ip-domain/mtu").Default; len(d) != 1 || d[0] != "1492" {
		t.Fatalf("mtu default %v", d)
	}
	if tgt := node(t, set, "site/device-group/device/device-id").Type.Target; tgt != node(t, set, "site/device/device-id") {
		t.Fatalf("leafref target %v", tgt)
	}
}

func TestLeafValues(t *testing.T) {
	set := aether(t)
	cases := []struct {
		leaf string
		in   any
		want any
		bad  string
	}{
		{leaf: "site/sim-card/imsi", in: "315010001000001", want: "315010001000001"},
		{leaf: "site/sim-card/imsi", in: "3150", bad: "pattern"},
		{leaf: "site/sim-card/iccid", in: "890000000000000000F", want: "890000000000000000F"},
		{leaf: "site/device/imei", in: "1234567890123", bad: "length"},
		{leaf: "site/slice/sd", in: json.Number("2973238"), want: "2D5E36"},
		{leaf: "site/slice/sst", in: json.Number("79"), want: "4F"},
		{leaf: "site/slice/sst", in: json.Number("256"), bad: "does not fit"},
		{leaf: "site/small-cell/tac", in: json.Number("1"), bad: "not a string"},
		{leaf: "traffic-class/qci", in: json.Number("33"), bad: "range"},
		{leaf: "traffic-class/pelr", in: json.Number("-1"), bad: "range"},
		{leaf: "site/device-group/mbr/uplink", in: json.Number("18446744073709551615"), want: uint64(18446744073709551615)},
		{leaf: "site/device-group/mbr/uplink", in: "1000", want: uint64(1000)},
		{leaf: "site/device-group/mbr/uplink", in: json.Number("-1"), bad: "unsigned"},
		{leaf: "site/ip-domain/admin-status", in: "ENABLE", want: "ENABLE"},
		{leaf: "site/ip-domain/admin-status", in: "ON", bad: "one of"},
		{leaf: "site/ip-domain/subnet", in: "10.0.0.0/24", want: "10.0.0.0/24"},
		{leaf: "site/ip-domain/subnet", in: "10.0.0.0", bad: "pattern"},
		{leaf: "site/small-cell/enable", in: "true", bad: "boolean"},
	}
	for _, c := range cases {
		n := node(t, set, c.leaf)
		got, err := n.Type.FromJSON(c.in, n.LegacyDecimal)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("%s %v: error %v, want one mentioning %q", c.leaf, c.in, err, c.bad)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %v: got %v (%T), %v; want %v", c.leaf, c.in, got, got, err, c.want)
		}
	}
}

func TestDecodeReportsEveryProblem(t *testing.T) {
	set := aether(t)
	var v any
	dec := json.NewDecoder(strings.NewReader(`{"site-id":"s1","bogus":1,"sim-card":[{"sim-id":"a","imsi":"1"},{"sim-id":"a"}],"upf":[{"port":1}]}`))
	dec.UseNumber()
	dec.Decode(&v)
	_, err := schema.DecodeJSON(node(t, set, "site"), v, "/x/site/s1", true, schema.DecodeOptions{})
	var se *schema.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v", err)
	}
	want := []string{"/x/site/s1/bogus", "/x/site/s1/sim-card/a/imsi", "/x/site/s1/sim-card/a", "/x/site/s1/upf[0]"}
	if len(se.Problems) != len(want) {
		t.Fatalf("problems %+v", se.Problems)
	}
	for i, p := range se.Problems {
		if p.Path != want[i] {
			t.Errorf("problem %d at %s, want %s (%s)", i, p.Path, want[i], p.Reason)
		}
	}
}

func TestResolve(t *testing.T) {
	set := aether(t)
	loc, err := schema.Resolve(set, "acme", schema.SplitPath("site/s1/monitoring/edge-device/pi-1"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.ObjectKey != "aether/2.1.x/acme/site/s1/monitoring/edge-device/pi-1" || loc.REST() != "/aether/v2.1.x/acme/site/s1/monitoring/edge-device/pi-1" {
		t.Fatalf("%+v %s", loc, loc.REST())
	}
	loc, err = schema.Resolve(set, "acme", schema.SplitPath("site/s1/monitoring/edge-device"))
	if err != nil || !loc.Collection || loc.REST() != "/aether/v2.1.x/acme/site/s1/monitoring/edge-device" {
		t.Fatalf("%+v %v", loc, err)
	}
	for _, bad := range []string{"nope", "site/S1", "site/s1/imsi-definition/mcc/x", "site/s1/device/d%zz"} {
		if _, err := schema.Resolve(set, "acme", schema.SplitPath(bad)); err == nil {
			t.Errorf("%s resolved", bad)
		}
	}
}

func TestXPathCompile(t *testing.T) {
	for _, ok := range []string{
		"count(../../slice/device-group[device-group = current()/device-group]) = 1",
		"not(port-end) or port-start <= port-end",
		"count(/app:application[app:application-id = current()/filter/application]/app:endpoint) <= 5",
		"../a - 1 > 2 * 3 div 4",
	} {
		if _, err := schema.Compile(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"//a", "a[", "foo(", "set-contains(a, b)", "@x", "a::b"} {
		if _, err := schema.Compile(bad); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}

func TestExtraModelsDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "inventory", "0.1.x"), 0o755); err != nil {
		t.Fatal(err)
	}
	yang := `module amp-rack {
  yang-version 1.1;
  namespace "urn:amp:rack";
  prefix rack;
  list rack {
    key "rack-id";
    leaf rack-id { type string; }
    leaf units { type uint8 { range "1..52"; } default 42; }
  }
}`
	if err := os.WriteFile(filepath.Join(dir, "inventory", "0.1.x", "amp-rack.yang"), []byte(yang), 0o644); err != nil {
		t.Fatal(err)
	}
	extra, err := schema.DirFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	sch, err := schema.Load(models.FS, extra)
	if err != nil {
		t.Fatal(err)
	}
	set := sch.Set("inventory", "0.1.x")
	if set == nil || set.Root.Child("rack").Child("units").Default[0] != "42" || sch.Set("aether", "2.1.x") == nil {
		t.Fatal("extra model set not loaded beside the embedded ones")
	}
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "x", "1"), 0o755)
	os.WriteFile(filepath.Join(bad, "x", "1", "broken.yang"), []byte("module broken { leaf"), 0o644)
	badFS, _ := schema.DirFS(bad)
	if _, err := schema.Load(models.FS, badFS); err == nil {
		t.Fatal("a broken module loaded")
	}
}

func TestGNMIPaths(t *testing.T) {
	set := aether(t)
	for _, c := range []struct{ gnmi, rest string }{
		{"/site[site-id=s1]/device[device-id=d1]/imei", "/aether/v2.1.x/acme/site/s1/device/d1/imei"},
		{"/onf-site:site[site-id=s1]/monitoring/edge-device[edge-device-id=pi-1]", "/aether/v2.1.x/acme/site/s1/monitoring/edge-device/pi-1"},
		{"/site[site-id=s1]/slice", "/aether/v2.1.x/acme/site/s1/slice"},
		{"/application[application-id=x]/endpoint[endpoint-id=e]/mbr", "/aether/v2.1.x/acme/application/x/endpoint/e/mbr"},
	} {
		loc, err := schema.ParseGNMIPath(set, "acme", c.gnmi)
		if err != nil {
			t.Fatalf("%s: %v", c.gnmi, err)
		}
		if loc.REST() != c.rest {
			t.Errorf("%s -> %s, want %s", c.gnmi, loc.REST(), c.rest)
		}
		back, err := schema.ParseGNMIPath(set, "acme", loc.GNMIPath())
		if err != nil || back.ObjectKey != loc.ObjectKey || back.Node != loc.Node {
			t.Errorf("%s does not round-trip through %s: %v", c.gnmi, loc.GNMIPath(), err)
		}
	}
	for _, bad := range []string{"/site/device", "/site[site-id=s1", "/site[x=1]", "/nope", "/site[site-id=s1]/imsi-definition[k=v]"} {
		if _, err := schema.ParseGNMIPath(set, "acme", bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
