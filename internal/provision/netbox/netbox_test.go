package netbox_test

// The client is tested against a stand-in NetBox (netboxtest) serving
// answers in the shapes NetBox documents: docs/integrations/rest-api.md of
// netbox-community/netbox ("Pagination": count/next/previous/results and
// limit/offset; "Brief Format"; "Authenticating to the API": Token and
// Bearer nbt_) and its serializers (netbox/dcim/api/serializers_/
// devices.py, device_components.py, cables.py, sites.py, racks.py,
// devicetypes.py; netbox/ipam/api/serializers_/ip.py, vlans.py).

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/provision/netbox"
	"github.com/amp-edge/amp/internal/provision/netbox/netboxtest"
)

func fetch(t *testing.T, nb *netboxtest.Server, token string, pageSize int) (*netbox.Dump, error) {
	t.Helper()
	c := &netbox.Client{BaseURL: nb.URL, Token: token, PageSize: pageSize}
	return c.Fetch(context.Background())
}

// Paging by `next` reads every object once, whatever the page size: the
// dump equals the saved answers read whole.
func TestFetchFollowsNextAndAsksBrief(t *testing.T) {
	nb := netboxtest.New(t, netboxtest.Fixtures(), "0123456789abcdef")
	got, err := fetch(t, nb, "0123456789abcdef", 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := netbox.ReadDir(netboxtest.Fixtures())
	if err != nil {
		t.Fatal(err)
	}
	// As decoded JSON: the raw cable terminations differ in the order of
	// their members only.
	if !reflect.DeepEqual(asJSON(t, got), asJSON(t, want)) {
		t.Fatal("the paged dump differs from the saved answers")
	}
	if len(got.Devices) != 5 || len(got.Interfaces) != 14 {
		t.Fatalf("devices %d, interfaces %d; want 5 and 14", len(got.Devices), len(got.Interfaces))
	}
	qs := nb.Queries()
	for _, want := range []string{
		"/api/tenancy/tenants/?brief=true&limit=2&offset=0",
		"/api/dcim/manufacturers/?brief=true&limit=2&offset=0",
		"/api/dcim/devices/?exclude=config_context&limit=2&offset=0",
		"/api/dcim/devices/?exclude=config_context&limit=2&offset=2",
		"/api/dcim/devices/?exclude=config_context&limit=2&offset=4",
	} {
		if !slices.Contains(qs, want) {
			t.Errorf("no request %s among %v", want, qs)
		}
	}
	for _, q := range qs {
		if strings.HasPrefix(q, "/api/dcim/sites/") && strings.Contains(q, "brief") {
			t.Errorf("%s: sites are read whole (the brief shape has no tenant)", q)
		}
	}
}

func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A v2 token goes as Bearer, a v1 token as Token; a refused token is
// reported with NetBox's detail and never printed.
func TestTokens(t *testing.T) {
	v2 := "nbt_4F9DAouzURLb.zjebxBPzICiPbWz0Wtx0fTL7bCKXKGTYhNzkgC2S"
	nb := netboxtest.New(t, netboxtest.Fixtures(), v2)
	if _, err := fetch(t, nb, v2, 0); err != nil {
		t.Fatalf("v2 token: %v", err)
	}
	_, err := fetch(t, nb, "wrong-secret-token", 0)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Invalid v1 token") {
		t.Fatalf("a wrong token: %v; want the 403 and NetBox's detail", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-token") {
		t.Fatalf("the error shows the token: %v", err)
	}
	// Over plain http, a token goes to this machine only: nothing is sent.
	c := &netbox.Client{BaseURL: "http://netbox.example.com", Token: v2}
	if _, err := c.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "https://netbox.example.com") {
		t.Fatalf("a token over plain http to another host: %v", err)
	}
}

// A malformed page stops the read, naming the page's URL and the field.
func TestMalformedPage(t *testing.T) {
	nb := netboxtest.New(t, netboxtest.Fixtures(), "tok")
	cases := []struct {
		name, path, field string
		offset            int
		brk               func(page map[string]any)
	}{
		{"a string position", "dcim/devices", "results[1].position", 2, func(p map[string]any) {
			p["results"].([]any)[1].(map[string]any)["position"] = "ten"
		}},
		{"a nested id", "dcim/interfaces", "results[0].device.id", 4, func(p map[string]any) {
			p["results"].([]any)[0].(map[string]any)["device"].(map[string]any)["id"] = "x"
		}},
		{"no results", "ipam/vlans", "results", 0, func(p map[string]any) { delete(p, "results") }},
		{"no id", "dcim/cables", "results[0].id", 2, func(p map[string]any) {
			delete(p["results"].([]any)[0].(map[string]any), "id")
		}},
		{"a loop", "ipam/prefixes", "next", 0, func(p map[string]any) {
			p["next"] = strings.Replace(p["next"].(string), "offset=2", "offset=0", 1)
		}},
		{"next to another list", "dcim/racks", "next", 0, func(p map[string]any) {
			p["next"] = "http://elsewhere.example/api/users/tokens/?limit=2&offset=2"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nb.Break(func(path string, offset int, page map[string]any) {
				if path == tc.path && offset == tc.offset {
					tc.brk(page)
				}
			})
			_, err := fetch(t, nb, "tok", 2)
			var pe *netbox.FieldError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v; want a FieldError", err)
			}
			wantURL := nb.URL + "/api/" + tc.path + "/"
			if !strings.HasPrefix(pe.URL, wantURL) || (tc.offset > 0 && !strings.Contains(pe.URL, "offset="+strconv.Itoa(tc.offset))) {
				t.Errorf("URL %s; want the page at offset %d of %s", pe.URL, tc.offset, wantURL)
			}
			if pe.Field != tc.field {
				t.Errorf("field %q; want %q (%v)", pe.Field, tc.field, err)
			}
		})
	}
}

// NetBox behind a proxy may name itself otherwise in `next`: the page is
// read from --url's host all the same, and the token goes nowhere else.
func TestNextFollowedOnTheGivenHost(t *testing.T) {
	nb := netboxtest.New(t, netboxtest.Fixtures(), "tok")
	nb.Break(func(path string, offset int, page map[string]any) {
		if next, ok := page["next"].(string); ok {
			page["next"] = strings.Replace(next, strings.TrimPrefix(nb.URL, "http://"), "netbox.internal:8000", 1)
		}
	})
	d, err := fetch(t, nb, "tok", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Devices) != 5 {
		t.Fatalf("%d devices; want 5", len(d.Devices))
	}
}

func mapFixture(t *testing.T, opt netbox.Options, edit func(d *netbox.Dump)) (*netbox.Result, error) {
	t.Helper()
	d, err := netbox.ReadDir(netboxtest.Fixtures())
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(d)
	}
	return netbox.Map(d, opt)
}

// find walks the mapped tree: list, key, list, key …
func find(t *testing.T, tree map[string]any, path ...string) map[string]any {
	t.Helper()
	cur := tree
	for i := 0; i+1 < len(path); i += 2 {
		var next map[string]any
		for _, e := range cur[path[i]].([]any) {
			em := e.(map[string]any)
			for k, v := range em {
				if strings.HasSuffix(k, "-id") || k == "name" || k == "address" {
					if v == path[i+1] {
						next = em
					}
				}
			}
		}
		if next == nil {
			t.Fatalf("no %s %s in the mapped tree", path[i], path[i+1])
		}
		cur = next
	}
	return cur
}

func TestMapping(t *testing.T) {
	res, err := mapFixture(t, netbox.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tree := res.Tree
	if org := find(t, tree, "organization", "stanford"); org["display-name"] != "Stanford University" {
		t.Errorf("organization: %v", org)
	}
	site := find(t, tree, "site", "stanford1")
	if site["organization"] != "stanford" || site["location"] != "Gates Building" {
		t.Errorf("site: %v", site)
	}
	checks := []struct {
		path []string
		leaf string
		want any
		why  string
	}{
		{[]string{"site", "stanford1", "device", "mgmtserver1"}, "role", "management-server", "role router"},
		{[]string{"site", "stanford1", "device", "mgmtswitch1"}, "role", "management-switch", "role mgmt-switch"},
		{[]string{"site", "stanford1", "device", "leaf1"}, "role", "fabric-switch", "role leaf"},
		{[]string{"site", "stanford1", "device", "leaf1"}, "deployment", "prod1", "custom field"},
		{[]string{"site", "stanford1", "device", "node2"}, "deployment", "prod1", "tag deployment-prod1"},
		{[]string{"site", "stanford1", "device", "node1"}, "position", 10, "position 10.0"},
		{[]string{"site", "stanford1", "device", "node1"}, "rack", "rack-1", "rack named Rack 1"},
		{[]string{"site", "stanford1", "device", "node1"}, "primary-ip", "10.32.4.130", "primary_ip4"},
		{[]string{"site", "stanford1", "device", "mgmtserver1", "interface", "eno1"}, "mac-address", "3c:ec:ef:00:00:02", "primary_mac_address, lower case"},
		{[]string{"site", "stanford1", "device", "mgmtserver1", "interface", "eno2"}, "mac-address", "3c:ec:ef:00:00:03", "mac_address before 4.2"},
		{[]string{"site", "stanford1", "device", "mgmtswitch1", "interface", "eth2"}, "tagged-vlan", []any{"MGMT"}, "tagged_vlans"},
		{[]string{"site", "stanford1", "device", "mgmtswitch1", "interface", "eth2"}, "untagged-vlan", "ADMIN", "untagged_vlan"},
		{[]string{"site", "stanford1", "prefix", "10.32.4.128-25"}, "vlan", "MGMT", "a pre-4.2 prefix with site"},
		{[]string{"site", "stanford1", "prefix", "10.32.4.0-25"}, "role", "admin", "a 4.2 prefix with scope"},
		{[]string{"site", "stanford1", "cable", "cable-1"}, "length", "2.50", "length 2.5 m"},
		{[]string{"site", "stanford1", "cable", "cable-3"}, "label", nil, "no label: cleared"},
		{[]string{"ip-address", "10.32.4.129"}, "interface", "eno1", "assigned_object"},
		{[]string{"ip-address", "10.32.4.129"}, "prefix-length", 25, "address/25"},
		{[]string{"device-type", "poweredge-r650"}, "u-height", 1, "u_height 1.0"},
	}
	for _, c := range checks {
		got := find(t, tree, c.path...)[c.leaf]
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s (%s): %#v, want %#v", strings.Join(c.path, "/"), c.leaf, c.why, got, c.want)
		}
	}
	if deps := site["deployment"].([]any); len(deps) != 1 || deps[0].(map[string]any)["kind"] != "production" {
		t.Errorf("deployments %v; want prod1, production", deps)
	}
	a := find(t, tree, "site", "stanford1", "cable", "cable-1")["a"]
	if !reflect.DeepEqual(a, map[string]any{"device": "mgmtswitch1", "interface": "eth1"}) {
		t.Errorf("cable-1 side A %v", a)
	}
	wantSkipped := []string{"/api/ipam/vlans/3/", "/api/ipam/prefixes/3/", "/api/dcim/cables/4/", "/api/ipam/ip-addresses/5/"}
	if len(res.Skipped) != len(wantSkipped) {
		t.Fatalf("skipped %v; want %v", res.Skipped, wantSkipped)
	}
	for i, w := range wantSkipped {
		if !strings.Contains(res.Skipped[i], w) {
			t.Errorf("skipped[%d] = %s; want %s", i, res.Skipped[i], w)
		}
	}
}

// What NetBox holds that has no place in the inventory is refused with
// the object's URL and the field, unless a flag says what to do.
func TestMappingRefusals(t *testing.T) {
	setRole := func(d *netbox.Dump) { d.Devices[4].Role.Slug = "pdu" }
	_, err := mapFixture(t, netbox.Options{}, setRole)
	wantProblem(t, err, "http://netbox.example.com/api/dcim/devices/5/", "role", "pdu")
	for _, opt := range []netbox.Options{{Roles: map[string]string{"pdu": "other"}}, {DefaultRole: "other"}} {
		res, err := mapFixture(t, opt, setRole)
		if err != nil {
			t.Fatalf("%+v: %v", opt, err)
		}
		if r := find(t, res.Tree, "site", "stanford1", "device", "node2")["role"]; r != "other" {
			t.Errorf("%+v: role %v", opt, r)
		}
	}
	edge := func(d *netbox.Dump) { d.Devices[3].CustomFields["deployment"] = "edge1" }
	_, err = mapFixture(t, netbox.Options{}, edge)
	wantProblem(t, err, "http://netbox.example.com/api/dcim/devices/4/", "custom_fields.deployment", "edge1")
	if _, err := mapFixture(t, netbox.Options{DeploymentKinds: map[string]string{"edge1": "staging"}}, edge); err != nil {
		t.Fatal(err)
	}
	half := 10.5
	_, err = mapFixture(t, netbox.Options{}, func(d *netbox.Dump) { d.Devices[3].Position = &half })
	wantProblem(t, err, "http://netbox.example.com/api/dcim/devices/4/", "position", "10.5")
	_, err = mapFixture(t, netbox.Options{}, func(d *netbox.Dump) { d.Sites[0].Tenant = nil })
	wantProblem(t, err, "http://netbox.example.com/api/dcim/sites/1/", "tenant", "--default-organization")
}

func wantProblem(t *testing.T, err error, url, field, reason string) {
	t.Helper()
	var me *netbox.MapError
	if !errors.As(err, &me) {
		t.Fatalf("err %v; want a MapError", err)
	}
	for _, p := range me.Problems {
		if p.URL == url && p.Field == field && strings.Contains(p.Reason, reason) {
			return
		}
	}
	t.Fatalf("no problem %s %s (%s) in %v", url, field, reason, err)
}

func TestReadLibrary(t *testing.T) {
	res, err := netbox.ReadLibrary([]string{filepath.Join("testdata", "devicetype-library")})
	if err != nil {
		t.Fatal(err)
	}
	dt := find(t, res.Tree, "device-type", "dell-poweredge-r650")
	if dt["manufacturer"] != "dell" || dt["model"] != "PowerEdge R650" || dt["u-height"] != 1 || dt["full-depth"] != true || dt["part-number"] != "R650" {
		t.Errorf("device type %v", dt)
	}
	var names []string
	for _, it := range dt["interface-template"].([]any) {
		names = append(names, it.(map[string]any)["name"].(string))
	}
	if !reflect.DeepEqual(names, []string{"eno1", "eno2", "ens1f0", "iDRAC"}) {
		t.Errorf("interface templates %v", names)
	}
	if it := find(t, res.Tree, "device-type", "dell-poweredge-r650", "interface-template", "iDRAC"); it["mgmt-only"] != true {
		t.Errorf("iDRAC %v", it)
	}
	if dt := find(t, res.Tree, "device-type", "edgecore-as7712-32x"); dt["full-depth"] != false {
		t.Errorf("edgecore %v", dt)
	}
	if m := find(t, res.Tree, "manufacturer", "edgecore"); m["display-name"] != "Edgecore" {
		t.Errorf("manufacturer %v", m)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("manufacturer: Dell\nmodel: Half\nslug: half\nu_height: 0.5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = netbox.ReadLibrary([]string{bad})
	wantProblem(t, err, bad, "u_height", "0.5")
}
