package render

import (
	"github.com/amp-edge/amp/internal/provision/inventory"
)

// host is one device of a site with what the boot, Ansible, Terraform and
// Prometheus renderers read about it: its name and its addresses.
type host struct {
	dev  *inventory.Device
	name string // hostName
	// addrs are the device's addresses on each of its interfaces (those
	// addrs returns: in a site prefix, not deprecated), by interface name,
	// each list in address order.
	addrs map[string][]addr
	// primary is its primary address; nil when it has none (or the
	// primary-ip is not one of addrs).
	primary *addr
}

// siteHosts returns every device of site in device-id order, with its
// addresses. One pass over the site's addresses serves all devices.
func siteHosts(inv *inventory.Inventory, site *inventory.Site) []*host {
	byDev := map[string]*host{}
	out := make([]*host, 0, len(site.Devices))
	for _, id := range inventory.Sorted(site.Devices) {
		d := site.Devices[id]
		h := &host{dev: d, name: hostName(site, d), addrs: map[string][]addr{}}
		byDev[id] = h
		out = append(out, h)
	}
	for _, a := range addrs(inv, site) {
		h := byDev[a.IP.Device]
		if h == nil || a.IP.Interface == "" {
			continue
		}
		h.addrs[a.IP.Interface] = append(h.addrs[a.IP.Interface], a)
		if a.IP.Address == h.dev.PrimaryIP {
			p := a
			h.primary = &p
		}
	}
	return out
}

// hostName is a device's FQDN, or for a site without a domain
// <devname>.<deployment>.<site>, which is still unique: the name the
// device's files and host entries carry.
func hostName(site *inventory.Site, d *inventory.Device) string {
	if n := fqdn(site, d); n != "" {
		return n
	}
	if d.Deployment == "" {
		return d.Devname + "." + site.ID
	}
	return d.Devname + "." + d.Deployment + "." + site.ID
}

// addrIn is h's first address in site prefix p, or nil.
func addrIn(h *host, p *inventory.Prefix) *addr {
	var first *addr
	for _, l := range h.addrs {
		for i := range l {
			if l[i].Prefix == p && (first == nil || l[i].Addr.Less(first.Addr)) {
				first = &l[i]
			}
		}
	}
	return first
}
