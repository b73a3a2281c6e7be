package render

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// TestReverseZones: a prefix maps to the reverse zones BIND serves it
// from: whole octets as they are, a /22 as its four /24s, a prefix longer
// than /24 as an RFC 2317 zone.
func TestReverseZones(t *testing.T) {
	for _, c := range []struct{ prefix, zones string }{
		{"10.0.0.0/24", "0.0.10.in-addr.arpa"},
		{"10.0.4.0/22", "4.0.10.in-addr.arpa 5.0.10.in-addr.arpa 6.0.10.in-addr.arpa 7.0.10.in-addr.arpa"},
		{"10.1.0.0/16", "1.10.in-addr.arpa"},
		{"10.0.0.128/25", "128/25.0.0.10.in-addr.arpa"},
		{"192.168.7.64/26", "64/26.7.168.192.in-addr.arpa"},
	} {
		var got []string
		for _, n := range reverseNets(netip.MustParsePrefix(c.prefix)) {
			got = append(got, reverseName(n))
		}
		if strings.Join(got, " ") != c.zones {
			t.Errorf("%s: %v, want %s", c.prefix, got, c.zones)
		}
	}
	if o := reverseOwner("1.10.in-addr.arpa", [4]byte{10, 1, 2, 3}); o != "3.2" {
		t.Errorf("owner in a /16 zone: %s", o)
	}
}

// smallSite builds a small site in memory: one management server with an
// address in 10.0.0.0/24.
func smallSite() (*inventory.Inventory, *inventory.Site) {
	site := &inventory.Site{ID: "s1", Domain: "example.net",
		VLANs:    map[string]*inventory.VLAN{"MGMT": {Name: "MGMT", VID: 800}},
		Prefixes: map[string]*inventory.Prefix{"p": {ID: "p", Prefix: "10.0.0.0/24", DNSDomain: "mgmt.s1.example.net"}},
		Devices: map[string]*inventory.Device{"m": {ID: "m", Devname: "m", Role: "management-server", PrimaryIP: "10.0.0.1", Interfaces: map[string]*inventory.Interface{
			"eth0": {Name: "eth0", Type: "1000base-t", MAC: "52:54:00:00:00:01", Enabled: true},
		}}},
	}
	inv := &inventory.Inventory{Sites: map[string]*inventory.Site{"s1": site}, IPs: map[string]*inventory.IPAddress{
		"10.0.0.1": {Address: "10.0.0.1", PrefixLength: 24, Site: "s1", Device: "m", Interface: "eth0", Status: "active"},
	}}
	return inv, site
}

// TestRefusals: what the renderers cannot turn into a valid file is
// refused with the inventory path and the reason.
func TestRefusals(t *testing.T) {
	inv, site := smallSite()
	site.Devices["m"].Interfaces["v"] = &inventory.Interface{Name: "v", Type: "virtual", Parent: "eth0", Enabled: true}
	_, err := Site(inv, site)
	var re *Error
	if !errors.As(err, &re) || re.Path != "/inventory/v1.0.0/site/s1/device/m/interface/v/untagged-vlan" || !strings.Contains(re.Reason, "VLAN id") {
		t.Errorf("a VLAN interface without a VLAN: %v", err)
	}

	inv, site = smallSite()
	site.Devices["m"].Interfaces["eth1"] = &inventory.Interface{Name: "eth1", Type: "1000base-t", MAC: "52:54:00:00:00:01", Enabled: true}
	inv.IPs["10.0.0.2"] = &inventory.IPAddress{Address: "10.0.0.2", PrefixLength: 24, Site: "s1", Device: "m", Interface: "eth1", Status: "active"}
	_, err = Site(inv, site)
	if !errors.As(err, &re) || re.Path != "/inventory/v1.0.0/site/s1/device/m/interface/eth1/mac-address" || !strings.Contains(re.Reason, "one address per MAC") {
		t.Errorf("one MAC twice in a subnet: %v", err)
	}
}

// TestNoDomainNoZones: a site without a domain has nothing to name, so no
// DNS artifacts; with one, a /24 prefix gets a plain reverse zone holding
// the PTR.
func TestNoDomainNoZones(t *testing.T) {
	inv, site := smallSite()
	arts, err := Zones(inv, site)
	var names []string
	for _, a := range arts {
		names = append(names, a.Name)
	}
	if err != nil || strings.Join(names, " ") != "dns/0.0.10.in-addr.arpa.zone dns/mgmt.s1.example.net.zone dns/s1.example.net.zone dns/named.conf" {
		t.Fatalf("zones: %v %v", names, err)
	}
	for _, a := range arts {
		if a.Name == "dns/0.0.10.in-addr.arpa.zone" && !strings.Contains(string(a.Content), "1\tIN\tPTR\tm.s1.example.net.") {
			t.Errorf("reverse zone:\n%s", a.Content)
		}
	}
	site.Domain = ""
	if arts, err := Zones(inv, site); err != nil || len(arts) != 0 {
		t.Errorf("a site without a domain: %d artifacts, %v", len(arts), err)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"netplan/node1.yaml": true, "dns/128-25.0.0.10.in-addr.arpa.zone": true,
		"": false, "/etc/passwd": false, "../x": false, "dns/../../x": false, "dns//x": false, "dns/./x": false, `dns\x`: false,
	} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v", name, !want)
		}
	}
}
