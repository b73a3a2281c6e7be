package render

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// parseTFVars reads a .tfvars file as Terraform does, with HashiCorp's
// HCL parser: every attribute a constant expression (no variables, no
// functions), returned as JSON values.
func parseTFVars(t *testing.T, name string, src []byte) map[string]any {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL(src, name)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", name, diags.Error())
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatalf("%s: %s", name, diags.Error())
	}
	out := map[string]any{}
	for n, a := range attrs {
		v, diags := a.Expr.Value(&hcl.EvalContext{})
		if diags.HasErrors() {
			t.Fatalf("%s: %s: %s", name, n, diags.Error())
		}
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			t.Fatal(err)
		}
		var j any
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatal(err)
		}
		out[n] = j
	}
	return out
}

// TestTFVars: each cluster of the site has its variables file, which
// HCL parses back to the book's cluster_name, cluster_nodes (host =
// the node's device's primary address, or the node's host; its roles,
// labels and taints) and cluster_labels, exactly as the inventory
// declares them; a label that looks like a template stays text.
func TestTFVars(t *testing.T) {
	inv, site := loadBootSite(t)
	arts := renderKind(t, tfvarsKind, inv, site)
	n := 0
	for _, id := range inventory.Sorted(inv.Clusters) {
		c := inv.Clusters[id]
		if c.Site != site.ID {
			continue
		}
		n++
		name := "terraform/" + c.ID + ".tfvars"
		src, ok := arts[name]
		if !ok {
			t.Errorf("no %s", name)
			continue
		}
		got := parseTFVars(t, name, src)
		nodes := map[string]any{}
		for _, node := range c.Nodes {
			host := node.Host
			if node.Device != "" {
				host = site.Devices[node.Device].PrimaryIP
			}
			nodes[node.Name] = map[string]any{
				"host": host, "roles": anyList(node.Roles), "labels": anyList(node.Labels), "taints": anyList(node.Taints),
			}
		}
		labels := map[string]any{}
		for k, v := range c.Labels {
			labels[k] = v
		}
		want := map[string]any{"cluster_name": c.ID, "cluster_nodes": nodes, "cluster_labels": labels}
		// Roles, labels and taints are sets in the model: compare them as such.
		for _, node := range asMap(got["cluster_nodes"]) {
			for _, k := range []string{"roles", "labels", "taints"} {
				sortAny(asMap(node)[k])
			}
		}
		for _, node := range nodes {
			for _, k := range []string{"roles", "labels", "taints"} {
				sortAny(asMap(node)[k])
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s parses to\n%#v\nwant\n%#v", name, got, want)
		}
	}
	if n < 2 || len(arts) != n {
		t.Errorf("%d files for the site's %d clusters", len(arts), n)
	}
	if dev := asMap(parseTFVars(t, "dev-x", arts["terraform/dev-x.tfvars"])["cluster_labels"]); dev["node-role.aetherproject.org/edge"] != "${not-a-template}" {
		t.Errorf("a label value that looks like a template: %v", dev)
	}
	if !strings.Contains(string(arts["terraform/ace-x.tfvars"]), `roles  = ["etcd", "controlplane", "worker"]`) {
		t.Errorf("roles not in the book's order (etcd, controlplane, worker):\n%s", arts["terraform/ace-x.tfvars"])
	}
}

// TestTFVarsNodeWithoutAddress: a node whose device has no primary
// address stops the render, naming the node's path and what to do.
func TestTFVarsNodeWithoutAddress(t *testing.T) {
	inv, site := loadBootSite(t)
	site.Devices["node2"].PrimaryIP = ""
	_, err := Site(inv, site)
	var re *Error
	if !errors.As(err, &re) || re.Path != "/inventory/v1.0.0/cluster/ace-x/node/server-2/device" ||
		!strings.Contains(re.Reason, "device node2 has no primary-ip") {
		t.Fatalf("err = %v, want the node's path and the missing primary-ip", err)
	}
}

func anyList(l []string) []any {
	out := []any{}
	for _, s := range l {
		out = append(out, s)
	}
	return out
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func sortAny(v any) {
	l, _ := v.([]any)
	sort.Slice(l, func(i, j int) bool { return l[i].(string) < l[j].(string) })
}
