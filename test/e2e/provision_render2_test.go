package e2e

// The boot, Ansible, Terraform and Prometheus artifacts through the real
// binary (issue 11, part 4): a small book site with two clusters, written
// through REST as one transaction, renders byte for byte the reviewed
// golden files; what amp provision render writes is read back by
// ansible-inventory and by HashiCorp's HCL parser and matches what the
// inventory's REST API says; a change to a cluster changes its variables
// file and nothing else; a node left without an address is refused with
// its path.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/amp-edge/amp/internal/provision/render/rendertest"
	"github.com/amp-edge/amp/internal/testenv"
)

const bootSite = "../../internal/provision/render/testdata/boot-site"

func TestProvisionBootArtifacts(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--adapters", "none")
	body, err := os.ReadFile(filepath.Join(bootSite, "inventory.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Devices name their primary addresses and addresses their devices:
	// the whole set in one write.
	s.Must(t, 201, "POST", "/inventory/v1.0.0", string(body))

	// Served: exactly the reviewed golden files of the four kinds.
	golden := map[string][]byte{}
	root := filepath.Join(bootSite, "golden")
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			golden[filepath.ToSlash(rel)], err = os.ReadFile(p)
		}
		return err
	})
	if err != nil || len(golden) < 15 {
		t.Fatalf("golden files: %d, %v", len(golden), err)
	}
	l := listArtifacts(t, s, "")
	served := map[string]bool{}
	for _, a := range l.Artifacts {
		kind, _, _ := strings.Cut(a.Name, "/")
		switch kind {
		case "ipxe", "ansible", "terraform", "prometheus":
		default:
			continue
		}
		served[a.Name] = true
		want, ok := golden[a.Name]
		if !ok {
			t.Errorf("%s: served, but no golden file", a.Name)
			continue
		}
		code, got, hdr, err := s.Do(t.Context(), "GET", "/provision/stanford1/artifacts/"+a.Name, "")
		if err != nil || code != 200 || !bytes.Equal(got, want) {
			t.Errorf("GET %s: %d %v, differs from its golden file:\n%s", a.Name, code, err, got)
		}
		wantType := map[string]string{".json": "application/json", ".yml": "application/yaml"}[filepath.Ext(a.Name)]
		if wantType == "" {
			wantType = "text/plain; charset=utf-8"
		}
		if hdr.Get("Content-Type") != wantType {
			t.Errorf("%s: Content-Type %q, want %q", a.Name, hdr.Get("Content-Type"), wantType)
		}
	}
	for name := range golden {
		if !served[name] {
			t.Errorf("%s: golden file, but not served", name)
		}
	}

	// amp provision render writes them; ansible-inventory reads the
	// Ansible ones as the REST API has the devices.
	dir := t.TempDir()
	mustAmp(t, s, "provision", "render", "stanford1", dir)
	devices := siteDevices(t, s, "stanford1")
	if n := checkAnsible(t, dir, devices, "stanford1.aetherproject.net"); n < 8 {
		t.Errorf("%d hosts", n)
	}

	// HCL reads each cluster's variables as the REST API has the cluster.
	checkTFVars(t, s, dir, "ace-x", devices)
	checkTFVars(t, s, dir, "dev-x", devices)

	// A cluster label changes: its variables file changes, nothing else.
	before := listArtifacts(t, s, "").Index
	s.Must(t, 200, "PATCH", "/inventory/v1.0.0/cluster/ace-x/label/env", `{"value":"staging"}`)
	var changed []string
	for _, a := range listArtifacts(t, s, "?since="+strconv.FormatUint(before, 10)).Artifacts {
		if a.Changed != nil && *a.Changed {
			changed = append(changed, a.Name)
		}
	}
	if strings.Join(changed, ",") != "terraform/ace-x.tfvars" {
		t.Errorf("a cluster label changed %v, want terraform/ace-x.tfvars only", changed)
	}
	mustAmp(t, s, "provision", "render", "stanford1", dir)
	if l := tfvars(t, filepath.Join(dir, "terraform", "ace-x.tfvars"))["cluster_labels"].(map[string]any); l["env"] != "staging" {
		t.Errorf("after the change: %v", l)
	}

	// A node whose device loses its primary address: refused with the
	// node's path; nothing is served from a half-rendered site.
	s.Must(t, 200, "PATCH", "/inventory/v1.0.0/site/stanford1/device/node2", `{"primary-ip":null}`)
	b := s.Must(t, 409, "GET", "/provision/stanford1/artifacts/terraform/ace-x.tfvars", "")
	if ps := problems(t, b); len(ps) != 1 || ps[0]["path"] != "/inventory/v1.0.0/cluster/ace-x/node/server-2/device" ||
		!strings.Contains(ps[0]["reason"], "node2 has no primary-ip") {
		t.Errorf("a node without an address: %s", b)
	}
}

// TestProvisionBookExampleBoot: a newcomer's path on the book's example
// site (chapter 3.1): amp provision site -f creates it, the book's edge
// cluster ace-X is declared on it (chapter 3.2: the four switches as
// tainted workers, five servers, three of them etcd and control plane),
// and amp provision render writes a boot script and menu entry per
// compute server, the Ansible inventory ansible-inventory reads as the
// site has its devices, the cluster's variables HCL reads with the
// book's MGMT addresses as hosts, and a node exporter target per server.
func TestProvisionBookExampleBoot(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--adapters", "none")
	if code, out, errOut := amp(t, s, "provision", "site", "-f", bookExample); code != 0 {
		t.Fatalf("amp provision site: %d\n%s%s", code, out, errOut)
	}
	devices := siteDevices(t, s, "stanford1")
	id := map[string]string{} // devname.deployment → device id
	for _, d := range devices {
		id[d.Devname+"."+d.Deployment] = d.ID
	}
	var nodes []string
	for _, sw := range []string{"leaf1", "leaf2", "spine1", "spine2"} {
		nodes = append(nodes, fmt.Sprintf(`{"name":%q,"device":%q,"role":["worker"],`+
			`"node-label":["node-role.aetherproject.org=switch"],"taint":["node-role.aetherproject.org=switch:NoSchedule"]}`, sw, id[sw+".prod1"]))
	}
	for i := 1; i <= 5; i++ {
		roles := `["etcd","controlplane","worker"]`
		if i > 3 {
			roles = `["worker"]`
		}
		nodes = append(nodes, fmt.Sprintf(`{"name":"server-%d","device":%q,"role":%s}`, i, id[fmt.Sprintf("node%d.prod1", i)], roles))
	}
	s.Must(t, 201, "POST", "/inventory/v1.0.0/cluster", `[{"cluster-id":"ace-x","site":"stanford1","deployment":"prod1",`+
		`"label":[{"name":"env","value":"production"},{"name":"clusterInfra","value":"bare-metal"},{"name":"clusterRole","value":"ace"},`+
		`{"name":"k8s","value":"self-managed"},{"name":"coreType","value":"4g"},{"name":"upfType","value":"up4"}],`+
		`"node":[`+strings.Join(nodes, ",")+`]}]`)

	dir := t.TempDir()
	mustAmp(t, s, "provision", "render", "stanford1", dir)
	const zone = "stanford1.aetherproject.net"
	if n := checkAnsible(t, dir, devices, zone); n != 15 {
		t.Errorf("%d hosts, want the book's 15 devices (with the eNB)", n)
	}
	mgmt := netip.MustParsePrefix("10.0.0.128/25") // the book's MGMT prefix
	nodeVars, _ := checkTFVars(t, s, dir, "ace-x", devices)["cluster_nodes"].(map[string]any)
	for name, v := range nodeVars {
		host, _ := v.(map[string]any)["host"].(string)
		if a, err := netip.ParseAddr(host); err != nil || !mgmt.Contains(a) {
			t.Errorf("ace-x node %s: host %q, want its MGMT address (in %s)", name, host, mgmt)
		}
	}

	menu, err := os.ReadFile(filepath.Join(dir, "ipxe", "menu.ipxe"))
	if err != nil {
		t.Fatal(err)
	}
	var nodeTargets []targetGroup
	b, err := os.ReadFile(filepath.Join(dir, "prometheus", "node.json"))
	if err != nil || json.Unmarshal(b, &nodeTargets) != nil {
		t.Fatalf("prometheus/node.json: %v\n%s", err, b)
	}
	targets := map[string]bool{}
	for _, g := range nodeTargets {
		targets[strings.Join(g.Targets, ",")] = true
	}
	servers := 0
	for _, d := range devices {
		name := d.Devname + "." + d.Deployment + "." + zone
		switch d.Role {
		case "compute-server":
			servers++
			script, err := os.ReadFile(filepath.Join(dir, "ipxe", name+".ipxe"))
			if err != nil || !bytes.HasPrefix(script, []byte("#!ipxe\n")) ||
				!bytes.Contains(script, []byte(" ip="+d.PrimaryIP+"::")) || !bytes.Contains(script, []byte(" hostname="+d.Devname+" ")) {
				t.Errorf("%s: %v\n%s", name, err, script)
			}
			if !bytes.Contains(menu, []byte("\nitem "+name+" ")) || !bytes.Contains(menu, []byte("\nchain "+name+".ipxe\n")) {
				t.Errorf("the menu has no entry for %s:\n%s", name, menu)
			}
			fallthrough
		case "management-server":
			if !targets[d.PrimaryIP+":9100"] {
				t.Errorf("no node exporter target for %s at %s:9100: %v", name, d.PrimaryIP, targets)
			}
		}
	}
	if servers != 7 || len(nodeTargets) != 8 {
		t.Errorf("%d compute servers, %d node exporter targets: want the book's 7 and the management server", servers, len(nodeTargets))
	}
}

// targetGroup is one entry of Prometheus' http_sd JSON.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// restDevice is a device as GET /inventory/v1.0.0/site/{site}/device
// answers it.
type restDevice struct {
	ID         string `json:"device-id"`
	Devname    string
	Deployment string
	Role       string
	PrimaryIP  string `json:"primary-ip"`
	Serial     string
}

func siteDevices(t *testing.T, s *testenv.Server, site string) []restDevice {
	t.Helper()
	var devices []restDevice
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/site/"+site+"/device", ""), &devices); err != nil {
		t.Fatal(err)
	}
	return devices
}

// checkAnsible runs ansible-inventory on what amp provision render wrote
// to dir and checks it against the devices: every device a host named
// <devname>.<deployment>.<zone>, in its role's and its deployment's group,
// with its serial, role and primary address. It returns the host count.
func checkAnsible(t *testing.T, dir string, devices []restDevice, zone string) int {
	t.Helper()
	inv := rendertest.AnsibleInventory(t, dir)
	hostvars, _ := inv["_meta"].(map[string]any)["hostvars"].(map[string]any)
	roleGroup := map[string]string{"management-server": "management_servers", "management-switch": "management_switches",
		"fabric-switch": "fabric_switches", "compute-server": "compute_servers", "radio": "radios"}
	wantGroups := map[string][]any{}
	for _, d := range devices {
		name := d.Devname + "." + d.Deployment + "." + zone
		hv, _ := hostvars[name].(map[string]any)
		var ansibleHost any
		if d.PrimaryIP != "" {
			ansibleHost = d.PrimaryIP
		}
		if hv == nil || hv["amp_serial"] != d.Serial || hv["amp_role"] != d.Role || hv["ansible_host"] != ansibleHost {
			t.Errorf("%s: host variables %v, want the serial %s, role %s and address %q", name, hv, d.Serial, d.Role, d.PrimaryIP)
		}
		wantGroups[roleGroup[d.Role]] = append(wantGroups[roleGroup[d.Role]], name)
		wantGroups[d.Deployment] = append(wantGroups[d.Deployment], name)
	}
	if len(hostvars) != len(devices) {
		t.Errorf("%d hosts for %d devices", len(hostvars), len(devices))
	}
	for g, hosts := range wantGroups {
		got, _ := inv[g].(map[string]any)["hosts"].([]any)
		sortAnys(got)
		sortAnys(hosts)
		if !reflect.DeepEqual(got, hosts) {
			t.Errorf("group %s: %v, want %v", g, got, hosts)
		}
	}
	return len(hostvars)
}

// checkTFVars parses dir/terraform/<cluster>.tfvars with HCL and checks it
// against the cluster as the REST API has it: its name, every node's host
// (its device's primary address, or its own host) and roles, its labels.
func checkTFVars(t *testing.T, s *testenv.Server, dir, cluster string, devices []restDevice) map[string]any {
	t.Helper()
	var c struct {
		Label []struct{ Name, Value string }
		Node  []struct {
			Name, Device, Host string
			Role               []string
		}
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/cluster/"+cluster, ""), &c); err != nil {
		t.Fatal(err)
	}
	vars := tfvars(t, filepath.Join(dir, "terraform", cluster+".tfvars"))
	primary := map[string]string{}
	for _, d := range devices {
		primary[d.ID] = d.PrimaryIP
	}
	nodes, _ := vars["cluster_nodes"].(map[string]any)
	for _, n := range c.Node {
		host := n.Host
		if n.Device != "" {
			host = primary[n.Device]
		}
		node, _ := nodes[n.Name].(map[string]any)
		roles, _ := node["roles"].([]any)
		if node == nil || host == "" || node["host"] != host || len(roles) != len(n.Role) {
			t.Errorf("%s node %s: %v, want host %s and roles %v", cluster, n.Name, node, host, n.Role)
		}
	}
	labels, _ := vars["cluster_labels"].(map[string]any)
	if vars["cluster_name"] != cluster || len(nodes) != len(c.Node) || len(labels) != len(c.Label) {
		t.Errorf("%s.tfvars: %v", cluster, vars)
	}
	for _, lb := range c.Label {
		if labels[lb.Name] != lb.Value {
			t.Errorf("%s label %s = %v, want %s", cluster, lb.Name, labels[lb.Name], lb.Value)
		}
	}
	return vars
}

// tfvars parses a .tfvars file with HashiCorp's HCL parser into JSON values.
func tfvars(t *testing.T, file string) map[string]any {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile(file)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	out := map[string]any{}
	for name, a := range attrs {
		v, diags := a.Expr.Value(&hcl.EvalContext{})
		if diags.HasErrors() {
			t.Fatalf("%s: %s", name, diags.Error())
		}
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			t.Fatal(err)
		}
		var j any
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatal(err)
		}
		out[name] = j
	}
	return out
}

func sortAnys(l []any) {
	sort.Slice(l, func(i, j int) bool { return l[i].(string) < l[j].(string) })
}
