package e2e

// `amp provision import netbox|device-types` through the built binary into
// a running amp serve. The NetBox is a stand-in (internal/provision/
// netbox/netboxtest) serving answers in the shapes NetBox documents:
// docs/integrations/rest-api.md of netbox-community/netbox (Pagination:
// count/next/previous/results with limit/offset; Brief Format; Generic
// Relations; Authenticating to the API: "Token" and "Bearer nbt_") and its
// serializers (netbox/dcim/api/serializers_/devices.py,
// device_components.py, cables.py, sites.py, racks.py, devicetypes.py,
// netbox/ipam/api/serializers_/ip.py, vlans.py,
// netbox/tenancy/api/serializers_/tenants.py). Device types also come in
// the devicetype-library's YAML format (its schema/devicetype.json).

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/provision/netbox/netboxtest"
	"github.com/amp-edge/amp/internal/testenv"
)

const nbToken = "nbt_4F9DAouzURLb.zjebxBPzICiPbWz0Wtx0fTL7bCKXKGTYhNzkgC2S"

// nbRun runs the amp CLI against s and returns stdout, stderr and the exit
// status; the NetBox token must never show in either.
func nbRun(t *testing.T, s *testenv.Server, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Env = append(s.Env(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String()+errb.String(), "zjebxBPzICiPbWz0Wtx0fTL7bCKXKGTYhNzkgC2S") {
		t.Fatalf("amp %s printed the NetBox token", strings.Join(args, " "))
	}
	return out.String(), errb.String(), code
}

// nbChanges is the paths a transaction changed, with their operations.
func nbChanges(t *testing.T, s *testenv.Server, index uint64) []string {
	t.Helper()
	var tx struct {
		Changes []struct{ Path, Op string }
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/transactions/"+strconv.FormatUint(index, 10), ""), &tx); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range tx.Changes {
		out = append(out, c.Op+" "+c.Path)
	}
	sort.Strings(out)
	return out
}

func nbGet(t *testing.T, s *testenv.Server, path string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/"+path, ""), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProvisionImportNetBox(t *testing.T) {
	s := testenv.Start(t, t.TempDir())
	nb := netboxtest.New(t, netboxtest.Fixtures(), nbToken)
	saved := filepath.Join(t.TempDir(), "nb")
	live := []string{"provision", "import", "netbox", "--url", nb.URL, "--page-size", "2"}

	// --dry-run shows the diff and commits nothing.
	out, errOut, code := nbRun(t, s, nil, append(live, "--token", nbToken, "--dry-run")...)
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{
		"+ /inventory/v1.0.0/site/stanford1/device/node1 = ",
		"+ /inventory/v1.0.0/site/stanford1/cable/cable-1 = ",
		"+ /inventory/v1.0.0/ip-address/10.32.4.130 = ",
		"dry run: 47 changes (47 created); nothing was committed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if idx := lastIndex(t, s); idx != 0 {
		t.Fatalf("the dry run committed transaction %d", idx)
	}

	// The import: the token from $NETBOX_TOKEN, every page read, one
	// transaction; what has no place in the inventory is listed.
	out, errOut, code = nbRun(t, s, []string{"NETBOX_TOKEN=" + nbToken}, append(live, "--save", saved)...)
	if code != 0 || !strings.Contains(out, "imported: 47 objects changed (transaction 1)") {
		t.Fatalf("import: exit %d:\n%s%s", code, out, errOut)
	}
	for _, url := range []string{"/api/ipam/vlans/3/", "/api/ipam/prefixes/3/", "/api/dcim/cables/4/", "/api/ipam/ip-addresses/5/"} {
		if !strings.Contains(errOut, "skipped: http://netbox.example.com"+url) {
			t.Errorf("stderr does not list %s as skipped:\n%s", url, errOut)
		}
	}
	node2 := nbGet(t, s, "site/stanford1/device/node2")
	for leaf, want := range map[string]any{"deployment": "prod1", "role": "compute-server", "primary-ip": "10.32.4.131", "rack": "rack-1", "position": 11.0, "serial": "SRV-0003"} {
		if node2[leaf] != want {
			t.Errorf("node2 %s = %v, want %v", leaf, node2[leaf], want)
		}
	}
	if d := nbGet(t, s, "site/stanford1/deployment/prod1"); d["kind"] != "production" || d["ordinal"] != 0.0 {
		t.Errorf("deployment prod1 %v", d)
	}
	if ip := nbGet(t, s, "ip-address/10.32.4.130"); ip["device"] != "node1" || ip["interface"] != "eno1" || ip["dns-name"] != "node1.mgmt.prod1.stanford1.aetherproject.net" {
		t.Errorf("address %v", ip)
	}
	if s := nbGet(t, s, "site/stanford1"); s["organization"] != "stanford" {
		t.Errorf("site %v", s)
	}

	// A second import, live or from the saved answers, changes nothing.
	out, errOut, code = nbRun(t, s, nil, append(live, "--token", nbToken)...)
	if code != 0 || !strings.Contains(out, "no changes, nothing recorded") {
		t.Fatalf("second import: exit %d:\n%s%s", code, out, errOut)
	}
	out, errOut, code = nbRun(t, s, nil, "provision", "import", "netbox", "--from", saved, "-o", "json")
	var rep struct {
		Mapped    map[string]int
		Skipped   []string
		Unchanged bool
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("--from %s: exit %d, %v:\n%s%s", saved, code, err, out, errOut)
	}
	if !rep.Unchanged || rep.Mapped["devices"] != 5 || rep.Mapped["interfaces"] != 14 || len(rep.Skipped) != 4 {
		t.Fatalf("--from %s -o json: %+v", saved, rep)
	}
	if idx := lastIndex(t, s); idx != 1 {
		t.Fatalf("the repeated imports recorded transaction %d", idx)
	}

	// A changed NetBox changes only what changed.
	nb.Edit("dcim/devices", func(rs []map[string]any) []map[string]any {
		rs[4]["serial"] = "SRV-0099"
		return rs
	})
	nb.Edit("dcim/cables", func(rs []map[string]any) []map[string]any {
		rs[0]["label"] = "C-101"
		return rs
	})
	out, errOut, code = nbRun(t, s, nil, append(live, "--token", nbToken)...)
	if code != 0 || !strings.Contains(out, "imported: 2 objects changed (transaction 2)") {
		t.Fatalf("changed NetBox: exit %d:\n%s%s", code, out, errOut)
	}
	want := []string{"update /inventory/v1.0.0/site/stanford1/cable/cable-1/label", "update /inventory/v1.0.0/site/stanford1/device/node2/serial"}
	if got := nbChanges(t, s, 2); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("transaction 2 changed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A cable gone from NetBox stays unless --prune, which removes it alone.
	nb.Edit("dcim/cables", func(rs []map[string]any) []map[string]any { return append(rs[:1:1], rs[2:]...) })
	out, _, _ = nbRun(t, s, nil, append(live, "--token", nbToken)...)
	if !strings.Contains(out, "no changes, nothing recorded") {
		t.Fatalf("without --prune:\n%s", out)
	}
	out, errOut, code = nbRun(t, s, nil, append(live, "--token", nbToken, "--prune")...)
	if code != 0 || !strings.Contains(out, "imported: 1 object changed (transaction 3)") {
		t.Fatalf("--prune: exit %d:\n%s%s", code, out, errOut)
	}
	if got := nbChanges(t, s, 3); len(got) != 1 || got[0] != "delete /inventory/v1.0.0/site/stanford1/cable/cable-2" {
		t.Fatalf("--prune changed %v", got)
	}

	// A malformed page stops the import with its URL and the field, and
	// nothing is written.
	nb.Edit("dcim/devices", func(rs []map[string]any) []map[string]any {
		rs[4]["serial"] = "SRV-0100" // a change the import would make
		return rs
	})
	nb.Break(func(path string, offset int, page map[string]any) {
		if path == "dcim/devices" && offset == 2 {
			page["results"].([]any)[1].(map[string]any)["position"] = "ten"
		}
	})
	out, errOut, code = nbRun(t, s, nil, append(live, "--token", nbToken)...)
	if code != 1 || !strings.Contains(errOut, nb.URL+"/api/dcim/devices/?exclude=config_context&limit=2&offset=2: results[1].position: want a number, got a JSON string") {
		t.Fatalf("malformed page: exit %d:\n%s%s", code, out, errOut)
	}
	nb.Break(nil)

	// What the inventory does not know is refused with the NetBox URL and
	// the field, unless a flag maps it.
	nb.Edit("dcim/devices", func(rs []map[string]any) []map[string]any {
		rs[4]["role"].(map[string]any)["slug"] = "pdu"
		return rs
	})
	out, errOut, code = nbRun(t, s, nil, append(live, "--token", nbToken)...)
	if code != 1 || !strings.Contains(errOut, "http://netbox.example.com/api/dcim/devices/5/: role: role \"pdu\" maps to no AMP role") {
		t.Fatalf("unknown role: exit %d:\n%s%s", code, out, errOut)
	}
	if idx := lastIndex(t, s); idx != 3 {
		t.Fatalf("a refused import recorded transaction %d", idx)
	}

	// What the server refuses (a VID twice at a site) is refused at
	// commit with the path and the rule, and nothing is written.
	nb.Edit("ipam/vlans", func(rs []map[string]any) []map[string]any {
		rs[1]["vid"] = 1.0
		return rs
	})
	out, errOut, code = nbRun(t, s, nil, append(live, "--token", nbToken, "--role", "pdu=other")...)
	if code != 1 || !strings.Contains(errOut, "/inventory/v1.0.0/site/stanford1/vlan") || !strings.Contains(errOut, "vid") {
		t.Fatalf("duplicate VID: exit %d:\n%s%s", code, out, errOut)
	}
	if idx := lastIndex(t, s); idx != 3 {
		t.Fatalf("a refused import recorded transaction %d", idx)
	}
	if got := nbGet(t, s, "site/stanford1/device/node2"); got["serial"] != "SRV-0099" || got["role"] != "compute-server" {
		t.Fatalf("node2 after refused imports: %v", got)
	}
	nb.Edit("ipam/vlans", func(rs []map[string]any) []map[string]any {
		rs[1]["vid"] = 800.0
		return rs
	})
	out, errOut, code = nbRun(t, s, nil, append(live, "--token", nbToken, "--role", "pdu=other")...)
	if code != 0 || !strings.Contains(out, "imported: 1 object changed (transaction 4)") {
		t.Fatalf("--role pdu=other: exit %d:\n%s%s", code, out, errOut)
	}

	// NetBox has no deployments: one AMP has keeps its kind and ordinal, a
	// new one gets the lowest ordinal free at the site.
	s.Must(t, 200, "PATCH", "/inventory/v1.0.0/site/stanford1/deployment/prod1", `{"kind":"staging"}`)
	nb.Edit("dcim/devices", func(rs []map[string]any) []map[string]any {
		rs[3]["custom_fields"].(map[string]any)["deployment"] = "dev1"
		return rs
	})
	out, errOut, code = nbRun(t, s, nil, append(live, "--token", nbToken, "--role", "pdu=other")...)
	if code != 0 || !strings.Contains(out, "(transaction 6)") {
		t.Fatalf("a new deployment: exit %d:\n%s%s", code, out, errOut)
	}
	if d := nbGet(t, s, "site/stanford1/deployment/dev1"); d["kind"] != "development" || d["ordinal"] != 1.0 {
		t.Errorf("deployment dev1 %v; want development, ordinal 1", d)
	}
	if d := nbGet(t, s, "site/stanford1/deployment/prod1"); d["kind"] != "staging" || d["ordinal"] != 0.0 {
		t.Errorf("deployment prod1 %v; want AMP's staging, ordinal 0", d)
	}
	if n := nbGet(t, s, "site/stanford1/device/node1"); n["deployment"] != "dev1" {
		t.Errorf("node1 deployment %v", n["deployment"])
	}

	// The route is the operators': an enterprise admin is refused.
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 403, "POST", "/provision/import", `{"inventory":{}}`, "Authorization", enterpriseAdmin(t, s, "acme"))
	s.Must(t, 401, "POST", "/provision/import", `{"inventory":{}}`, "Authorization", "Bearer nope")
}

func TestProvisionImportDeviceTypes(t *testing.T) {
	s := testenv.Start(t, t.TempDir())
	lib := filepath.Join(testenv.RepoRoot(), "internal", "provision", "netbox", "testdata", "devicetype-library")
	out, errOut, code := nbRun(t, s, nil, "provision", "import", "device-types", filepath.Join(lib, "Dell", "PowerEdge-R650.yaml"), "--dry-run")
	if code != 0 || !strings.Contains(out, "+ /inventory/v1.0.0/device-type/dell-poweredge-r650/interface-template/iDRAC = ") {
		t.Fatalf("dry run: exit %d:\n%s%s", code, out, errOut)
	}
	out, errOut, code = nbRun(t, s, nil, "provision", "import", "device-types", lib)
	if code != 0 || !strings.Contains(out, "imported: 11 objects changed (transaction 1)") {
		t.Fatalf("import: exit %d:\n%s%s", code, out, errOut)
	}
	dt := nbGet(t, s, "device-type/dell-poweredge-r650")
	if dt["manufacturer"] != "dell" || dt["u-height"] != 1.0 || dt["model"] != "PowerEdge R650" {
		t.Errorf("device type %v", dt)
	}
	if it := nbGet(t, s, "device-type/edgecore-as7712-32x/interface-template/qsfp1"); it["type"] != "100gbase-x-qsfp28" {
		t.Errorf("qsfp1 %v", it)
	}
	out, _, _ = nbRun(t, s, nil, "provision", "import", "device-types", lib)
	if !strings.Contains(out, "no changes, nothing recorded") {
		t.Fatalf("second import:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("manufacturer: Dell\nmodel: X\nslug: x\ninterfaces:\n  - name: eth0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = nbRun(t, s, nil, "provision", "import", "device-types", bad)
	if code != 1 || !strings.Contains(errOut, bad+": interfaces[0]: needs a name and a type") {
		t.Fatalf("bad file: exit %d:\n%s%s", code, out, errOut)
	}
}
