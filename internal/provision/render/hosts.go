package render

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// host is one device of a site with what the boot, Ansible, Terraform and
// Prometheus renderers read about it: its name and its addresses.
type host struct {
	dev  *inventory.Device
	fqdn string
	// addrs are the addresses on each of its interfaces, by interface
	// name, each list in address order.
	addrs map[string][]*inventory.IPAddress
	// primary is its primary address; nil when it has none (or the
	// primary-ip names an address that is not on it).
	primary *inventory.IPAddress
}

// siteHosts returns every device of site in device-id order, with its
// addresses. One pass over the inventory's addresses serves all devices.
func siteHosts(inv *inventory.Inventory, site *inventory.Site) []*host {
	byDev := map[string]*host{}
	out := make([]*host, 0, len(site.Devices))
	for _, id := range inventory.Sorted(site.Devices) {
		d := site.Devices[id]
		h := &host{dev: d, fqdn: fqdn(site, d), addrs: map[string][]*inventory.IPAddress{}}
		byDev[id] = h
		out = append(out, h)
	}
	for _, ip := range inv.IPs {
		if ip.Site != site.ID {
			continue
		}
		h := byDev[ip.Device]
		if h == nil || ip.Interface == "" {
			continue
		}
		h.addrs[ip.Interface] = append(h.addrs[ip.Interface], ip)
		if ip.Address == h.dev.PrimaryIP {
			h.primary = ip
		}
	}
	for _, h := range out {
		for _, l := range h.addrs {
			sort.Slice(l, func(i, j int) bool { return addrLess(l[i].Address, l[j].Address) })
		}
	}
	return out
}

// fqdn is a device's DNS name, the book's <devname>.<deployment>.<site>.<domain>;
// the labels a device or site does not have are left out.
func fqdn(site *inventory.Site, d *inventory.Device) string {
	labels := []string{d.Devname}
	if d.Deployment != "" {
		labels = append(labels, d.Deployment)
	}
	labels = append(labels, site.ID)
	if site.Domain != "" {
		labels = append(labels, strings.TrimSuffix(site.Domain, "."))
	}
	return strings.Join(labels, ".")
}

// cidr is an address with its prefix length, e.g. 10.0.0.132/25.
func cidr(ip *inventory.IPAddress) string {
	a, err := netip.ParseAddr(ip.Address)
	if err != nil {
		return ip.Address
	}
	return netip.PrefixFrom(a, ip.PrefixLength).String()
}

// addrLess orders addresses numerically (10.0.0.9 before 10.0.0.10);
// text that is no address sorts after every address, as text.
func addrLess(a, b string) bool {
	x, errA := netip.ParseAddr(a)
	y, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return x.Less(y)
	case errA == nil:
		return true
	case errB == nil:
		return false
	}
	return a < b
}

// prefixOf is the most specific prefix of site that holds addr, or nil.
func prefixOf(site *inventory.Site, addr string) *inventory.Prefix {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil
	}
	var best *inventory.Prefix
	bestBits := -1
	for _, id := range inventory.Sorted(site.Prefixes) {
		p := site.Prefixes[id]
		pfx, err := netip.ParsePrefix(p.Prefix)
		if err != nil || !pfx.Contains(a) || pfx.Bits() <= bestBits {
			continue
		}
		best, bestBits = p, pfx.Bits()
	}
	return best
}
