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

	// What the REST API says about the site's devices and clusters.
	var devices []struct {
		ID         string `json:"device-id"`
		Devname    string
		Deployment string
		Role       string
		PrimaryIP  string `json:"primary-ip"`
		Serial     string
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/site/stanford1/device", ""), &devices); err != nil {
		t.Fatal(err)
	}
	fqdn := func(devname, deployment string) string {
		return devname + "." + deployment + ".stanford1.aetherproject.net"
	}

	// amp provision render writes them; ansible-inventory reads the
	// Ansible ones as the inventory has the devices.
	dir := t.TempDir()
	mustAmp(t, s, "provision", "render", "stanford1", dir)
	inv := rendertest.AnsibleInventory(t, dir)
	hostvars, _ := inv["_meta"].(map[string]any)["hostvars"].(map[string]any)
	roleGroup := map[string]string{"management-server": "management_servers", "management-switch": "management_switches",
		"fabric-switch": "fabric_switches", "compute-server": "compute_servers", "radio": "radios"}
	wantGroups := map[string][]any{}
	for _, d := range devices {
		name := fqdn(d.Devname, d.Deployment)
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
	if len(hostvars) != len(devices) || len(devices) < 8 {
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

	// HCL reads each cluster's variables as the REST API has the cluster.
	var cluster struct {
		Label []struct{ Name, Value string }
		Node  []struct {
			Name, Device, Host string
			Role               []string
		}
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/cluster/ace-x", ""), &cluster); err != nil {
		t.Fatal(err)
	}
	vars := tfvars(t, filepath.Join(dir, "terraform", "ace-x.tfvars"))
	primary := map[string]string{}
	for _, d := range devices {
		primary[d.ID] = d.PrimaryIP
	}
	nodes, _ := vars["cluster_nodes"].(map[string]any)
	for _, n := range cluster.Node {
		node, _ := nodes[n.Name].(map[string]any)
		roles, _ := node["roles"].([]any)
		if node == nil || node["host"] != primary[n.Device] || len(roles) != len(n.Role) {
			t.Errorf("node %s: %v, want host %s and roles %v", n.Name, node, primary[n.Device], n.Role)
		}
	}
	labels, _ := vars["cluster_labels"].(map[string]any)
	if vars["cluster_name"] != "ace-x" || len(nodes) != len(cluster.Node) || len(labels) != len(cluster.Label) {
		t.Errorf("ace-x.tfvars: %v", vars)
	}
	for _, lb := range cluster.Label {
		if labels[lb.Name] != lb.Value {
			t.Errorf("label %s = %v, want %s", lb.Name, labels[lb.Name], lb.Value)
		}
	}

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
