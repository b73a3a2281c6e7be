package render

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// ipxeCommands are iPXE's commands (https://ipxe.org/cmd): a line of a
// script that starts with anything else fails with "command not found"
// when the machine boots.
var ipxeCommands = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`autoboot boot certfree certstat chain choose clear colour console cpair cpuid
		dhcp echo exit fcels fcstat form goto ifclose ifconf ifopen ifstat imgargs imgexec imgextract imgfetch imgfree
		imgselect imgstat imgtrust imgverify inc initrd ipstat iseq isset item kernel login menu module nslookup ntp
		param params ping poweroff present prompt pxebs read reboot route sanboot sanhook sanunhook set shell show
		sleep sync time vcreate vdestroy`) {
		ipxeCommands[c] = true
	}
}

// ipxeLines checks the shape of an iPXE script and returns its commands:
// "#!ipxe" first, then only comments, labels and commands iPXE knows
// (a line may chain several with ||, && and ;, each a token of its own).
func ipxeLines(t *testing.T, name string, script []byte) (cmds [][]string, labels map[string]bool) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(script), "\n"), "\n")
	if lines[0] != "#!ipxe" {
		t.Errorf("%s: first line %q, want #!ipxe", name, lines[0])
	}
	labels = map[string]bool{}
	for n, line := range lines[1:] {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0 || strings.HasPrefix(fields[0], "#"):
			continue
		case strings.HasPrefix(line, ":"):
			labels[line[1:]] = true
			continue
		}
		var cmd []string
		for _, f := range append(fields, ";") {
			if f == "||" || f == "&&" || f == ";" {
				if len(cmd) > 0 {
					if !ipxeCommands[cmd[0]] {
						t.Errorf("%s line %d: %q is no iPXE command (%s)", name, n+2, cmd[0], line)
					}
					cmds = append(cmds, cmd)
				}
				cmd = nil
				continue
			}
			if strings.HasPrefix(f, "#") { // the rest of the line is a comment
				break
			}
			cmd = append(cmd, f)
		}
	}
	return cmds, labels
}

// TestIPXE: a script per compute server and the menu, each a well-formed
// iPXE script; the menu has an entry per compute server, each going to
// that server's script; a server it knows by a MAC goes there straight
// while planned or staged and to its local disk otherwise; each script
// boots the installer from the management server with the server's own
// name, address, netmask, gateway and name server as the inventory has
// them (DHCP for one without a primary address).
func TestIPXE(t *testing.T) {
	inv, site := loadBootSite(t)
	arts := renderKind(t, ipxeKind, inv, site)

	var servers []*inventory.Device
	for _, id := range inventory.Sorted(site.Devices) {
		if d := site.Devices[id]; d.Role == "compute-server" {
			servers = append(servers, d)
		}
	}
	if len(servers) < 2 {
		t.Fatalf("the boot site has %d compute servers", len(servers))
	}
	if len(arts) != len(servers)+1 {
		t.Errorf("%d artifacts for %d compute servers, want one each and the menu", len(arts), len(servers))
	}
	menu, ok := arts["ipxe/menu.ipxe"]
	if !ok {
		t.Fatal("no ipxe/menu.ipxe")
	}
	menuCmds, menuLabels := ipxeLines(t, "menu.ipxe", menu)
	items := map[string]bool{}
	chainAt := map[string]string{} // label → the script it chains
	macGoto := map[string]string{} // MAC → label
	for _, c := range menuCmds {
		if c[0] == "item" && c[1] != "--gap" {
			items[c[1]] = true
		}
	}
	// Which label each iseq and each label's chain go to, in line order.
	label := ""
	for _, line := range strings.Split(string(menu), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, ":"):
			label = line[1:]
		case len(f) > 4 && f[0] == "iseq" && f[3] == "&&" && f[4] == "goto":
			macGoto[f[2]] = f[5]
		case len(f) == 2 && f[0] == "chain" && label != "":
			chainAt[label] = f[1]
		}
	}
	for _, d := range servers {
		fqdn := d.Devname + "." + d.Deployment + "." + site.ID + "." + site.Domain
		script, ok := arts["ipxe/"+fqdn+".ipxe"]
		if !ok {
			t.Errorf("no script for compute server %s (ipxe/%s.ipxe)", d.ID, fqdn)
			continue
		}
		if !items[fqdn] || !menuLabels[fqdn] || chainAt[fqdn] != fqdn+".ipxe" {
			t.Errorf("menu: entry %s: item %v, label %v, chains %q", fqdn, items[fqdn], menuLabels[fqdn], chainAt[fqdn])
		}
		// Known by a MAC: installed while planned or staged, else the
		// local disk.
		target := "local"
		if d.Status == "planned" || d.Status == "staged" {
			target = fqdn
		}
		for _, i := range d.Interfaces {
			if i.MAC != "" && !i.MgmtOnly && macGoto[i.MAC] != target {
				t.Errorf("menu: MAC %s of %s (%s) goes to %q, want %s", i.MAC, d.ID, d.Status, macGoto[i.MAC], target)
			}
		}
		checkInstall(t, inv, site, d, fqdn, script)
	}
	if len(items) != len(servers)+1 || !items["local"] || !menuLabels["local"] {
		t.Errorf("menu items %v: want one per compute server and local", items)
	}
}

// checkInstall checks one server's script against the inventory.
func checkInstall(t *testing.T, inv *inventory.Inventory, site *inventory.Site, d *inventory.Device, fqdn string, script []byte) {
	t.Helper()
	cmds, _ := ipxeLines(t, fqdn, script)
	var names []string
	vars := map[string]string{}
	var kernel []string
	for _, c := range cmds {
		names = append(names, c[0])
		switch c[0] {
		case "set":
			vars[c[1]] = c[2]
		case "kernel":
			kernel = c[1:]
		}
	}
	if strings.Join(names, " ") != "set kernel initrd boot" {
		t.Errorf("%s: commands %v, want set kernel initrd boot", fqdn, names)
	}
	args := map[string]string{}
	for _, a := range kernel {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	if args["hostname"] != d.Devname || args["domain"] != d.Deployment+"."+site.ID+"."+site.Domain {
		t.Errorf("%s: hostname=%q domain=%q", fqdn, args["hostname"], args["domain"])
	}
	// The management server's address in the prefix of the server's
	// primary address (the book gives it the first of every prefix).
	if d.PrimaryIP == "" {
		if args["ip"] != "dhcp" {
			t.Errorf("%s has no primary address: ip=%q, want dhcp", fqdn, args["ip"])
		}
		return
	}
	prim := inv.IPs[d.PrimaryIP]
	var pfx *inventory.Prefix
	for _, p := range site.Prefixes {
		if netip.MustParsePrefix(p.Prefix).Contains(netip.MustParseAddr(prim.Address)) {
			pfx = p
		}
	}
	var mgmt string
	for _, ip := range inv.IPs {
		if ip.Site == site.ID && site.Devices[ip.Device].Role == "management-server" &&
			netip.MustParsePrefix(pfx.Prefix).Contains(netip.MustParseAddr(ip.Address)) {
			mgmt = ip.Address
		}
	}
	gw := pfx.Gateway
	if gw == "" {
		gw = mgmt
	}
	mask := net.IP(net.CIDRMask(prim.PrefixLength, 32)).String()
	want := strings.Join([]string{prim.Address, "", gw, mask, d.Devname, prim.Interface, "off", mgmt}, ":")
	if args["ip"] != want {
		t.Errorf("%s: ip=%s, want %s", fqdn, args["ip"], want)
	}
	if vars["installer"] != "http://"+mgmt+"/installer" || args["ds"] != "nocloud-net;s=http://"+mgmt+"/autoinstall/"+fqdn+"/" {
		t.Errorf("%s: installer %q, ds=%q: want them from %s", fqdn, vars["installer"], args["ds"], mgmt)
	}
}

// TestIPXEFreeTextIsInert: a serial or rack with iPXE's separators and
// expansions in it cannot add a command to the menu or the script.
func TestIPXEFreeTextIsInert(t *testing.T) {
	inv, site := loadBootSite(t)
	d := site.Devices["node1"]
	d.Serial = "SN1 ; reboot || shell ${net0/mac}\n#!ipxe"
	d.Rack = "r1 && poweroff"
	arts := renderKind(t, ipxeKind, inv, site)
	for name, content := range arts {
		cmds, _ := ipxeLines(t, name, content)
		for _, c := range cmds {
			switch c[0] {
			case "reboot", "shell", "poweroff":
				t.Errorf("%s: free text became the command %v", name, c)
			}
		}
		if strings.Contains(string(content), "${net0/mac}") {
			t.Errorf("%s: free text carries an expansion:\n%s", name, content)
		}
	}
}
