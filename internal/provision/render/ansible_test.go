package render

import (
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/provision/render/rendertest"
)

// TestAnsibleInventory: what ansible-inventory reads from the rendered
// inventory and host_vars is exactly the site's devices (by FQDN), in
// the group of their role and of their deployment, with the variables
// the inventory has for them: primary address, serial, rack position,
// and per interface its MAC, VLANs and addresses.
func TestAnsibleInventory(t *testing.T) {
	inv, site := loadBootSite(t)
	dir := t.TempDir()
	writeArtifacts(t, dir, renderKind(t, ansibleKind, inv, site))
	got := rendertest.AnsibleInventory(t, dir)

	roleGroup := map[string]string{
		"management-server": "management_servers", "management-switch": "management_switches",
		"fabric-switch": "fabric_switches", "compute-server": "compute_servers", "radio": "radios",
	}
	wantGroups := map[string][]string{}
	wantVars := map[string]map[string]any{}
	for _, d := range site.Devices {
		fqdn := d.Devname + "." + d.Deployment + "." + site.ID + "." + site.Domain
		wantGroups[roleGroup[d.Role]] = append(wantGroups[roleGroup[d.Role]], fqdn)
		wantGroups[d.Deployment] = append(wantGroups[d.Deployment], fqdn)
		wantVars[fqdn] = expectedVars(inv, site, d)
	}

	meta, _ := got["_meta"].(map[string]any)
	hostvars, _ := meta["hostvars"].(map[string]any)
	if len(hostvars) != len(site.Devices) {
		t.Errorf("%d hosts, want the site's %d devices: %v", len(hostvars), len(site.Devices), inventory.Sorted(hostvars))
	}
	for fqdn, want := range wantVars {
		hv, _ := hostvars[fqdn].(map[string]any)
		if hv == nil {
			t.Errorf("host %s missing", fqdn)
			continue
		}
		for k, w := range want {
			if !reflect.DeepEqual(hv[k], w) {
				t.Errorf("%s: %s = %#v, want %#v", fqdn, k, hv[k], w)
			}
		}
	}
	for group, hosts := range wantGroups {
		g, _ := got[group].(map[string]any)
		var have []string
		for _, h := range jsonList(g["hosts"]) {
			have = append(have, h.(string))
		}
		sort.Strings(have)
		sort.Strings(hosts)
		if !reflect.DeepEqual(have, hosts) {
			t.Errorf("group %s: hosts %v, want %v", group, have, hosts)
		}
	}
	all, _ := got["all"].(map[string]any)
	for _, c := range jsonList(all["children"]) {
		if _, ok := wantGroups[c.(string)]; !ok && c != "ungrouped" && c != "other_devices" {
			t.Errorf("unexpected group %s", c)
		}
	}
}

// expectedVars is what the inventory says about d, in the shape
// ansible-inventory prints host variables (JSON numbers are float64).
func expectedVars(inv *inventory.Inventory, site *inventory.Site, d *inventory.Device) map[string]any {
	vlan := func(name string) map[string]any {
		return map[string]any{"name": name, "vid": float64(site.VLANs[name].VID)}
	}
	ifaces := map[string]any{}
	carried := map[string]bool{}
	for name, i := range d.Interfaces {
		var addrs []netip.Prefix
		for _, ip := range inv.IPs {
			if ip.Site == site.ID && ip.Device == d.ID && ip.Interface == name {
				addrs = append(addrs, netip.PrefixFrom(netip.MustParseAddr(ip.Address), ip.PrefixLength))
			}
		}
		sort.Slice(addrs, func(a, b int) bool { return addrs[a].Addr().Less(addrs[b].Addr()) })
		iv := map[string]any{"type": i.Type, "enabled": i.Enabled, "mgmt_only": i.MgmtOnly, "addresses": strList(addrs)}
		for k, v := range map[string]string{"mac": i.MAC, "label": i.Label, "parent": i.Parent, "mode": i.Mode} {
			if v != "" {
				iv[k] = v
			}
		}
		if i.UntaggedVLAN != "" {
			iv["untagged_vlan"] = vlan(i.UntaggedVLAN)
			carried[i.UntaggedVLAN] = true
		}
		if len(i.TaggedVLANs) > 0 {
			tagged := sorted(i.TaggedVLANs)
			sort.SliceStable(tagged, func(a, b int) bool { return site.VLANs[tagged[a]].VID < site.VLANs[tagged[b]].VID })
			var l []any
			for _, tv := range tagged {
				l = append(l, vlan(tv))
				carried[tv] = true
			}
			iv["tagged_vlans"] = l
		}
		ifaces[name] = iv
	}
	names := inventory.Sorted(carried)
	sort.SliceStable(names, func(a, b int) bool { return site.VLANs[names[a]].VID < site.VLANs[names[b]].VID })
	vlans := []any{}
	for _, n := range names {
		vlans = append(vlans, vlan(n))
	}
	want := map[string]any{
		"amp_site": site.ID, "amp_device": d.ID, "amp_devname": d.Devname, "amp_role": d.Role,
		"amp_deployment": d.Deployment, "amp_device_type": d.DeviceType, "amp_serial": d.Serial,
		"amp_status": d.Status, "amp_interfaces": ifaces, "amp_vlans": vlans,
		"amp_fqdn": d.Devname + "." + d.Deployment + "." + site.ID + "." + site.Domain,
	}
	if d.PrimaryIP != "" {
		ip := inv.IPs[d.PrimaryIP]
		want["ansible_host"] = ip.Address
		want["amp_primary_ip"] = netip.PrefixFrom(netip.MustParseAddr(ip.Address), ip.PrefixLength).String()
	} else {
		want["ansible_host"] = nil
		want["amp_primary_ip"] = nil
	}
	if d.AssetTag != "" {
		want["amp_asset_tag"] = d.AssetTag
	}
	if d.Rack != "" {
		want["amp_rack"], want["amp_rack_face"] = d.Rack, d.Face
	}
	if d.Position > 0 {
		want["amp_rack_position"] = float64(d.Position)
	} else {
		want["amp_rack_position"] = nil
	}
	return want
}

func strList(l []netip.Prefix) []any {
	out := []any{}
	for _, p := range l {
		out = append(out, p.String())
	}
	return out
}

func jsonList(v any) []any { l, _ := v.([]any); return l }

// TestHostNamesWithoutDomain: a site without a DNS domain still names
// every device uniquely, <devname>.<deployment>.<site>, in the Ansible
// inventory, the iPXE files and the targets' instance label.
func TestHostNamesWithoutDomain(t *testing.T) {
	inv, site := loadBootSite(t)
	site.Domain = ""
	all, err := Site(inv, site)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, a := range all {
		names[a.Name] = string(a.Content)
	}
	for _, want := range []string{"ansible/host_vars/node1.prod1.stanford1.yml", "ansible/host_vars/node1.dev1.stanford1.yml", "ipxe/node1.dev1.stanford1.ipxe"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no %s among %v", want, inventory.Sorted(names))
		}
	}
	if s := names["ipxe/node1.dev1.stanford1.ipxe"]; !strings.Contains(s, " hostname=node1 domain=dev1.stanford1 ") {
		t.Errorf("node1.dev1's kernel arguments:\n%s", s)
	}
	if s := names["prometheus/node.json"]; !strings.Contains(s, `"instance": "node1.dev1.stanford1"`) {
		t.Errorf("node targets:\n%s", s)
	}
}
