package render

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// addr is an address of one of a site's devices, parsed, with the site
// prefix it lies in.
type addr struct {
	IP     *inventory.IPAddress
	Addr   netip.Addr
	Prefix *inventory.Prefix // the most specific site prefix holding it
	Net    netip.Prefix      // Prefix, parsed
}

// CIDR is the address with its prefix length, as netplan writes it.
func (a addr) CIDR() string { return netip.PrefixFrom(a.Addr, a.IP.PrefixLength).String() }

// sitePrefix is a site prefix, parsed.
type sitePrefix struct {
	*inventory.Prefix
	Net netip.Prefix
}

// prefixes returns the site's IPv4 prefixes, parsed, in address order
// (then longest first); an unparsable one is left out (the model's type
// refuses it).
func prefixes(site *inventory.Site) []sitePrefix {
	var out []sitePrefix
	for _, id := range inventory.Sorted(site.Prefixes) {
		p := site.Prefixes[id]
		n, err := netip.ParsePrefix(p.Prefix)
		if err != nil || !n.Addr().Is4() {
			continue
		}
		out = append(out, sitePrefix{p, n.Masked()})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if c := out[i].Net.Addr().Compare(out[j].Net.Addr()); c != 0 {
			return c < 0
		}
		return out[i].Net.Bits() > out[j].Net.Bits()
	})
	return out
}

// addrs returns the addresses of the site's devices that lie in one of its
// prefixes, in address order; deprecated ones are left out (nothing should
// configure them any more).
func addrs(inv *inventory.Inventory, site *inventory.Site) []addr {
	ps := prefixes(site)
	var out []addr
	for _, k := range inventory.Sorted(inv.IPs) {
		ip := inv.IPs[k]
		if ip.Site != site.ID || ip.Device == "" || ip.Status == "deprecated" {
			continue
		}
		a, err := netip.ParseAddr(ip.Address)
		if err != nil || !a.Is4() {
			continue
		}
		if best := bestPrefix(ps, a); best >= 0 {
			out = append(out, addr{IP: ip, Addr: a, Prefix: ps[best].Prefix, Net: ps[best].Net})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

func bestPrefix(ps []sitePrefix, a netip.Addr) int {
	best := -1
	for i, p := range ps {
		if p.Net.Contains(a) && (best < 0 || p.Net.Bits() > ps[best].Net.Bits()) {
			best = i
		}
	}
	return best
}

// siteZone is the DNS zone of the site's device names, <site>.<domain>;
// "" when the site has no domain.
func siteZone(site *inventory.Site) string {
	if site.Domain == "" {
		return ""
	}
	return site.ID + "." + strings.TrimSuffix(site.Domain, ".")
}

// fqdn is a device's name, <devname>.<deployment>.<site>.<domain> (the
// book's convention; without the deployment label for a device of none);
// "" when the site has no domain.
func fqdn(site *inventory.Site, d *inventory.Device) string {
	z := siteZone(site)
	if z == "" {
		return ""
	}
	if d.Deployment == "" {
		return d.Devname + "." + z
	}
	return d.Devname + "." + d.Deployment + "." + z
}

// managementServer is the site's management server (the first by id when
// there are several), or nil: it runs the site's DNS and DHCP.
func managementServer(site *inventory.Site) *inventory.Device {
	for _, id := range inventory.Sorted(site.Devices) {
		if d := site.Devices[id]; d.Role == "management-server" {
			return d
		}
	}
	return nil
}

// serverIn returns the management server's address in prefix p, if any.
func serverIn(all []addr, mgmt *inventory.Device, p *inventory.Prefix) (netip.Addr, bool) {
	if mgmt == nil {
		return netip.Addr{}, false
	}
	for _, a := range all {
		if a.IP.Device == mgmt.ID && a.Prefix == p {
			return a.Addr, true
		}
	}
	return netip.Addr{}, false
}

// macOf is the hardware address frames of interface i leave with: its own,
// or for a VLAN interface without one, that of the interface it rides on.
func macOf(d *inventory.Device, i *inventory.Interface) string {
	if i.MAC != "" {
		return strings.ToLower(i.MAC)
	}
	if l := linkOf(d, i); l != nil {
		return strings.ToLower(l.MAC)
	}
	return ""
}

// linkOf is the interface a virtual interface rides on: its parent, or
// (as the book records it in NetBox) the interface its label names.
func linkOf(d *inventory.Device, i *inventory.Interface) *inventory.Interface {
	if i.Parent != "" {
		return d.Interfaces[i.Parent]
	}
	if i.Label != "" && i.Label != i.Name {
		return d.Interfaces[i.Label]
	}
	return nil
}
