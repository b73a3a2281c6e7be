package rules

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// checker holds what one transaction's check reads.
type checker struct {
	tx     *config.Snapshot
	set    *schema.ModelSet
	types  *deviceTypes
	report config.Report
	// changed holds the keys of the objects the transaction changed: a
	// clash between two objects is reported at the one it changed.
	changed map[string]bool
}

// siteWork is what a transaction asks to check at one site.
type siteWork struct {
	// whole: something of the site changed; it is checked whole.
	whole bool
	// ips and devices: the addresses the transaction changed there and
	// the devices whose primary IP may have moved away, when not whole.
	ips, devices map[string]bool
}

// check runs the inventory's invariants on the sites the transaction
// touched, and the MAC rule on the interfaces whose MAC it set. A site
// whose objects changed is checked whole; one that only gained, lost or
// changed addresses has just those addresses (and the devices they left)
// checked, so allocating an address costs little at any site size.
func check(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	set := inventory.Set(tx.Schema())
	if set == nil {
		return
	}
	ck := &checker{tx: tx, set: set, types: &deviceTypes{tx: tx, set: set}, report: report, changed: map[string]bool{}}
	sites := map[string]*siteWork{}
	at := func(id string) *siteWork {
		if sites[id] == nil {
			sites[id] = &siteWork{ips: map[string]bool{}, devices: map[string]bool{}}
		}
		return sites[id]
	}
	allSites := false
	var macs []string // keys of interfaces whose MAC the transaction set
	for _, c := range changes {
		ck.changed[c.Key] = true
		p := keyPath(set, c.Key)
		if p == nil {
			continue
		}
		switch {
		case p[0] == "site" && len(p) >= 2:
			at(p[1]).whole = true
		case kind(p) == "ip-address":
			if c.After != nil {
				if s, _ := c.After.Data["site"].(string); s != "" {
					at(s).ips[p[1]] = true
				}
			}
			// The device it was on: its primary IP may have been this one.
			if c.Before != nil {
				s, _ := c.Before.Data["site"].(string)
				d, _ := c.Before.Data["device"].(string)
				if s != "" && d != "" {
					at(s).devices[d] = true
				}
			}
		case kind(p) == "device-type" && c.Before != nil && c.After != nil:
			// A new height or depth may no longer fit its devices' racks.
			allSites = allSites || c.Before.Data["u-height"] != c.After.Data["u-height"] ||
				c.Before.Data["full-depth"] != c.After.Data["full-depth"]
		}
		if kind(p) == "interface" && c.After != nil {
			mac, _ := c.After.Data["mac-address"].(string)
			old := ""
			if c.Before != nil {
				old, _ = c.Before.Data["mac-address"].(string)
			}
			if mac != "" && mac != old {
				macs = append(macs, c.Key)
			}
		}
	}
	if allSites {
		ck.eachSiteID(func(id string) { at(id).whole = true })
	}
	var whole map[string][]*inventory.IPAddress
	for _, id := range inventory.Sorted(sites) {
		if sites[id].whole {
			whole = ck.addressesOf(sites)
			break
		}
	}
	for _, id := range inventory.Sorted(sites) {
		if sites[id].whole {
			ck.wholeSite(id, whole[id])
		} else {
			ck.someAddresses(id, sites[id])
		}
	}
	if len(macs) > 0 {
		ck.macs(macs)
	}
}

// wholeSite checks every invariant of one site; ips are its addresses.
func (ck *checker) wholeSite(id string, ips []*inventory.IPAddress) {
	site, ok := inventory.LoadSite(ck.tx, ck.set, id)
	if !ok {
		return // deleted
	}
	ck.racks(site)
	ck.cables(site)
	prefixes := prefixesOf(site)
	for _, ip := range ips {
		ck.address(ip, site.Devices[ip.Device], prefixes)
	}
	for _, d := range inventory.Sorted(site.Devices) {
		ck.primaryIP(id, site.Devices[d])
	}
}

// someAddresses checks the addresses a transaction changed at a site and
// the primary IPs of the devices they left, reading only those.
func (ck *checker) someAddresses(id string, w *siteWork) {
	devices := map[string]*inventory.Device{}
	device := func(d string) *inventory.Device {
		if _, ok := devices[d]; !ok {
			devices[d] = ck.device(id, d)
		}
		return devices[d]
	}
	if len(w.ips) > 0 {
		prefixes := ck.sitePrefixes(id)
		for _, addr := range inventory.Sorted(w.ips) {
			o, ok := ck.tx.Get(ipKey(ck.set, addr))
			if !ok {
				continue
			}
			ip := inventory.IPOf(o.Data)
			var dev *inventory.Device
			if ip.Device != "" {
				dev = device(ip.Device)
			}
			ck.address(ip, dev, prefixes)
		}
	}
	for _, d := range inventory.Sorted(w.devices) {
		ck.primaryIP(id, device(d))
	}
}

// eachSiteID calls fn with every site's id.
func (ck *checker) eachSiteID(fn func(string)) {
	prefix := schema.RootKey(ck.set, "") + "/site/"
	it := ck.tx.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, _, ok := it.Next(); ok; k, _, ok = it.Next() {
		if rest := string(k[len(prefix):]); !strings.Contains(rest, "/") {
			if id, err := schema.UnescapeSegment(rest); err == nil {
				fn(id)
			}
		}
	}
}

// addressesOf returns the addresses of the sites checked whole, by site.
// It reads the ip-address list once.
func (ck *checker) addressesOf(sites map[string]*siteWork) map[string][]*inventory.IPAddress {
	out := map[string][]*inventory.IPAddress{}
	it := ck.tx.Objects.Root().Iterator()
	it.SeekPrefix([]byte(schema.RootKey(ck.set, "") + "/ip-address/"))
	for _, o, ok := it.Next(); ok; _, o, ok = it.Next() {
		if s, _ := o.Data["site"].(string); sites[s] != nil && sites[s].whole {
			out[s] = append(out[s], inventory.IPOf(o.Data))
		}
	}
	return out
}

// racks: a device with a position fits its rack and shares no unit of a
// face with another device (a full-depth device fills both faces).
func (ck *checker) racks(site *inventory.Site) {
	type slot struct {
		rack, face string
		unit       int
	}
	type mounted struct {
		id, what string // what: "units 2-3, full depth"
	}
	taken := map[slot]mounted{}
	for _, id := range inventory.Sorted(site.Devices) {
		d := site.Devices[id]
		rack, ok := site.Racks[d.Rack]
		dt, typed := ck.types.get(d.DeviceType)
		if d.Position == 0 || !ok || !typed {
			continue // unmounted, or a reference the schema refuses
		}
		key := deviceKey(ck.set, site.ID, id)
		if dt.UHeight == 0 {
			ck.report(false, path(ck.set, key, "position"), fmt.Sprintf("device type %s is 0U: a 0U device has no rack position", dt.ID))
			continue
		}
		top := d.Position + dt.UHeight - 1
		if top > rack.UHeight {
			ck.report(false, path(ck.set, key, "position"), fmt.Sprintf("device %s (%dU, %s) would occupy units %d-%d but rack %s has %d units",
				id, dt.UHeight, dt.ID, d.Position, top, rack.ID, rack.UHeight))
			continue
		}
		faces := []string{d.Face}
		if dt.FullDepth {
			faces = []string{"front", "rear"}
		}
		me := mounted{id, units(d.Position, top) + ", " + faceWord(dt.FullDepth, d.Face)}
		clash := map[string]bool{}
		for u := d.Position; u <= top; u++ {
			for _, f := range faces {
				s := slot{rack.ID, f, u}
				if other, ok := taken[s]; ok && !clash[other.id] {
					clash[other.id] = true
					at, them := me, other
					if otherKey := deviceKey(ck.set, site.ID, other.id); !ck.changed[key] && ck.changed[otherKey] {
						at, them = other, me
					}
					ck.report(true, path(ck.set, deviceKey(ck.set, site.ID, at.id), "position"),
						fmt.Sprintf("device %s (%s) overlaps device %s (%s) at unit %d of the %s face of rack %s", at.id, at.what, them.id, them.what, u, f, rack.ID))
				}
				taken[s] = me
			}
		}
	}
}

func units(low, high int) string {
	if low == high {
		return fmt.Sprintf("unit %d", low)
	}
	return fmt.Sprintf("units %d-%d", low, high)
}

func faceWord(fullDepth bool, face string) string {
	if fullDepth {
		return "full depth"
	}
	return face
}

// cables: a cable joins two different interfaces, and an interface is on
// at most one cable (at either end).
func (ck *checker) cables(site *inventory.Site) {
	type cableEnd struct{ cable, end string }
	on := map[inventory.End]cableEnd{} // interface → the cable end on it
	for _, id := range inventory.Sorted(site.Cables) {
		c := site.Cables[id]
		key := cableKey(ck.set, site.ID, id)
		if c.A == c.B {
			ck.report(false, path(ck.set, key, "b", "interface"),
				fmt.Sprintf("both ends are %s %s: a cable joins two different interfaces", c.A.Device, c.A.Interface))
			continue
		}
		for _, end := range []struct {
			name string
			e    inventory.End
		}{{"a", c.A}, {"b", c.B}} {
			me := cableEnd{id, end.name}
			other, taken := on[end.e]
			if !taken {
				on[end.e] = me
				continue
			}
			at, them := me, other
			if !ck.changed[key] && ck.changed[cableKey(ck.set, site.ID, other.cable)] {
				at, them = other, me
			}
			ck.report(true, path(ck.set, cableKey(ck.set, site.ID, at.cable), at.end, "interface"),
				fmt.Sprintf("interface %s of device %s is already on cable %s: an interface takes one cable", end.e.Interface, end.e.Device, them.cable))
		}
	}
}

// prefix is a site's prefix as the address rule reads it.
type prefix struct {
	id   string
	p    netip.Prefix
	vlan string
}

// prefixesOf returns a site's prefixes, in id order.
func prefixesOf(site *inventory.Site) []prefix {
	var out []prefix
	for _, id := range inventory.Sorted(site.Prefixes) {
		p := site.Prefixes[id]
		if np, err := netip.ParsePrefix(p.Prefix); err == nil {
			out = append(out, prefix{id, np, p.VLAN})
		}
	}
	return out
}

// sitePrefixes reads a site's prefixes alone (one key range of the store),
// for a transaction that changed addresses but nothing of the site.
func (ck *checker) sitePrefixes(siteID string) []prefix {
	var out []prefix
	start := inventory.SiteKey(ck.set, siteID) + "/prefix/"
	it := ck.tx.Objects.Root().Iterator()
	it.SeekPrefix([]byte(start))
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		if strings.Contains(string(k[len(start):]), "/") {
			continue
		}
		id, _ := o.Data["prefix-id"].(string)
		text, _ := o.Data["prefix"].(string)
		vlan, _ := o.Data["vlan"].(string)
		if np, err := netip.ParsePrefix(text); err == nil {
			out = append(out, prefix{id, np, vlan})
		}
	}
	return out
}

// device reads one device with its interfaces; nil when it does not exist.
func (ck *checker) device(siteID, id string) *inventory.Device {
	o, ok := ck.tx.Get(deviceKey(ck.set, siteID, id))
	if !ok {
		return nil
	}
	tree, _ := ck.tx.Tree(o)
	return inventory.DeviceOf(tree)
}

// address: an address on an interface (of dev, nil if none) lies in a
// prefix of the site on one of the interface's VLANs (a virtual
// interface's parent's too), with that prefix's length; one on no
// interface lies in some prefix of its site.
func (ck *checker) address(ip *inventory.IPAddress, dev *inventory.Device, all []prefix) {
	a, err := netip.ParseAddr(ip.Address)
	if err != nil {
		return
	}
	// best returns the most specific prefix holding a among those ok admits.
	best := func(ok func(prefix) bool) (prefix, bool) {
		var found prefix
		for _, p := range all {
			if ok(p) && p.p.Contains(a) && (!found.p.IsValid() || p.p.Bits() > found.p.Bits()) {
				found = p
			}
		}
		return found, found.p.IsValid()
	}
	key := ipKey(ck.set, ip.Address)
	var iface *inventory.Interface
	if dev != nil {
		iface = dev.Interfaces[ip.Interface]
	}
	if iface == nil {
		if _, ok := best(func(prefix) bool { return true }); !ok {
			ck.report(false, path(ck.set, key, "address"), fmt.Sprintf("%s lies in no prefix of site %s", ip.Address, ip.Site))
		}
		return
	}
	vlans := interfaceVLANs(iface)
	if parent := dev.Interfaces[iface.Parent]; parent != nil && iface.Parent != "" {
		vlans = append(vlans, interfaceVLANs(parent)...)
	}
	onVLAN := func(p prefix) bool { return p.vlan != "" && contains(vlans, p.vlan) }
	p, ok := best(onVLAN)
	if !ok {
		var held []string
		for _, p := range all {
			if onVLAN(p) {
				held = append(held, p.id+" "+p.p.String())
			}
		}
		why := fmt.Sprintf("none of its VLANs' prefixes (%s) holds it", strings.Join(held, ", "))
		switch {
		case len(vlans) == 0:
			why = "the interface has no VLAN, so no prefix holds it"
		case len(held) == 0:
			why = fmt.Sprintf("its VLANs (%s) have no prefix at site %s", strings.Join(vlans, ", "), ip.Site)
		}
		ck.report(false, path(ck.set, key, "address"), fmt.Sprintf("%s on interface %s of device %s: %s",
			ip.Address, ip.Interface, ip.Device, why))
		return
	}
	if ip.PrefixLength != p.p.Bits() {
		ck.report(false, path(ck.set, key, "prefix-length"), fmt.Sprintf("is %d but %s lies in prefix %s (%s), a /%d",
			ip.PrefixLength, ip.Address, p.id, p.p, p.p.Bits()))
	}
}

func interfaceVLANs(i *inventory.Interface) []string {
	var out []string
	if i.UntaggedVLAN != "" {
		out = append(out, i.UntaggedVLAN)
	}
	return append(out, i.TaggedVLANs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// primaryIP: a device's primary IP is an address assigned to it.
func (ck *checker) primaryIP(siteID string, d *inventory.Device) {
	if d == nil || d.PrimaryIP == "" {
		return
	}
	o, ok := ck.tx.Get(ipKey(ck.set, d.PrimaryIP))
	if !ok {
		return // the leafref check refuses it
	}
	ip := inventory.IPOf(o.Data)
	if ip.Site == siteID && ip.Device == d.ID {
		return
	}
	where := "to no device"
	if ip.Device != "" {
		where = fmt.Sprintf("to device %s of site %s", ip.Device, ip.Site)
	}
	ck.report(false, path(ck.set, deviceKey(ck.set, siteID, d.ID), "primary-ip"),
		fmt.Sprintf("%s is assigned %s: a primary IP is one of the device's own addresses", d.PrimaryIP, where))
}

// macs: a MAC address is on one interface of the whole inventory, in
// whichever case its hex digits are written. It reads every interface
// once, and only when the transaction set a MAC.
func (ck *checker) macs(changed []string) {
	macOf := func(o *config.Object) string {
		mac, _ := o.Data["mac-address"].(string)
		return strings.ToLower(mac)
	}
	want := map[string]bool{}
	for _, key := range changed {
		o, _ := ck.tx.Get(key)
		want[macOf(o)] = true
	}
	holders := map[string][]string{} // MAC → interface keys, in key order
	it := ck.tx.Objects.Root().Iterator()
	it.SeekPrefix([]byte(schema.RootKey(ck.set, "") + "/site/"))
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		if o.Node == nil || o.Node.Name != "interface" {
			continue
		}
		if mac := macOf(o); want[mac] {
			holders[mac] = append(holders[mac], string(k))
		}
	}
	for _, key := range changed {
		o, _ := ck.tx.Get(key)
		mac := macOf(o)
		var others []string
		for _, h := range holders[mac] {
			if h != key {
				others = append(others, ck.interfaceName(h))
			}
		}
		if len(others) > 0 {
			sort.Strings(others)
			ck.report(true, path(ck.set, key, "mac-address"), fmt.Sprintf("MAC address %s of %s is also on %s: a MAC address exists once",
				mac, ck.interfaceName(key), strings.Join(others, ", ")))
		}
	}
}

// interfaceName names an interface for people: "interface eno1 of
// device d1 at site s1".
func (ck *checker) interfaceName(key string) string {
	p := keyPath(ck.set, key)
	return fmt.Sprintf("interface %s of device %s at site %s", p[5], p[3], p[1])
}
