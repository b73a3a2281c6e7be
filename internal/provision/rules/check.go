package rules

import (
	"bytes"
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
	devices map[string]*inventory.Device // read so far, by key
}

// siteWork is what a transaction asks to check at one site: only what
// its changes can have broken.
type siteWork struct {
	racks  bool // a device or rack changed: the site's rack positions
	cables bool // a cable changed: the site's cables
	// allIPs: a prefix or VLAN changed: every address of the site.
	allIPs bool
	// ips: addresses the transaction changed; onDevices: devices whose
	// interfaces changed (their addresses); devices: devices whose
	// primary IP may have become foreign (the device, or an address it
	// had, changed).
	ips, onDevices, devices map[string]bool
}

// check runs the inventory's invariants on what the transaction touched,
// once per transaction: per site, the rack positions when a device or
// rack changed, the cables when a cable changed, the addresses it changed
// and those on the devices whose interfaces it changed (all of the site's
// when a prefix or VLAN changed), the primary IPs of the devices it
// changed or took an address from; and the MAC rule on the interfaces
// whose MAC it set. Each reads only the objects it needs: allocating an
// address or editing a device costs little at any site size.
func check(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	set := inventory.Set(tx.Schema())
	if set == nil {
		return
	}
	ck := &checker{tx: tx, set: set, types: &deviceTypes{tx: tx, set: set}, report: report,
		changed: map[string]bool{}, devices: map[string]*inventory.Device{}}
	sites := map[string]*siteWork{}
	at := func(id string) *siteWork {
		if sites[id] == nil {
			sites[id] = &siteWork{ips: map[string]bool{}, onDevices: map[string]bool{}, devices: map[string]bool{}}
		}
		return sites[id]
	}
	var macs []string // keys of interfaces whose MAC the transaction set
	for _, c := range changes {
		ck.changed[c.Key] = true
		p := keyPath(set, c.Key)
		switch kind(p) {
		case "rack":
			at(p[1]).racks = true
		case "device":
			// Only a device placed anew can clash in its rack, and only a
			// new primary IP can be foreign: a serial or a name cannot.
			if changedLeaves(c, "rack", "position", "face", "device-type") {
				at(p[1]).racks = true
			}
			if changedLeaves(c, "primary-ip") {
				at(p[1]).devices[p[3]] = true
			}
		case "interface":
			at(p[1]).onDevices[p[3]] = true
			if mac := macSet(c); mac {
				macs = append(macs, c.Key)
			}
		case "cable":
			at(p[1]).cables = true
		case "prefix", "vlan":
			at(p[1]).allIPs = true
		case "ip-address":
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
		case "device-type":
			// A new height or depth may no longer fit its devices' racks.
			if c.Before != nil && c.After != nil && (c.Before.Data["u-height"] != c.After.Data["u-height"] ||
				c.Before.Data["full-depth"] != c.After.Data["full-depth"]) {
				ck.eachSiteID(func(id string) { at(id).racks = true })
			}
		}
	}
	for _, id := range inventory.Sorted(sites) {
		ck.site(id, sites[id])
	}
	if len(macs) > 0 {
		ck.macs(macs)
	}
}

// changedLeaves tells whether an object that exists after the change
// was created by it or has a new value in one of leaves.
func changedLeaves(c config.ObjectChange, leaves ...string) bool {
	if c.After == nil {
		return false
	}
	if c.Before == nil {
		return true
	}
	for _, l := range leaves {
		if c.Before.Data[l] != c.After.Data[l] {
			return true
		}
	}
	return false
}

// macSet tells whether an interface change set a MAC address it did not
// have.
func macSet(c config.ObjectChange) bool {
	if c.After == nil {
		return false
	}
	mac, _ := c.After.Data["mac-address"].(string)
	old := ""
	if c.Before != nil {
		old, _ = c.Before.Data["mac-address"].(string)
	}
	return mac != "" && mac != old
}

// site checks what w asks at one site.
func (ck *checker) site(id string, w *siteWork) {
	if _, ok := ck.tx.Get(inventory.SiteKey(ck.set, id)); !ok {
		return // deleted with everything in it
	}
	if w.racks || w.cables {
		var lists []string
		if w.racks {
			lists = append(lists, "rack", "device")
		}
		if w.cables {
			lists = append(lists, "cable")
		}
		site := ck.partialSite(id, lists...)
		ck.racks(site)
		ck.cables(site)
	}
	// The addresses to check, in address order.
	ips := map[string]*inventory.IPAddress{}
	if w.allIPs {
		it := ck.tx.Objects.Root().Iterator()
		it.SeekPrefix([]byte(schema.RootKey(ck.set, "") + "/ip-address/"))
		for _, o, ok := it.Next(); ok; _, o, ok = it.Next() {
			if s, _ := o.Data["site"].(string); s == id {
				ip := inventory.IPOf(o.Data)
				ips[ip.Address] = ip
			}
		}
	}
	for addr := range w.ips {
		if o, ok := ck.tx.Get(ipKey(ck.set, addr)); ok {
			ips[addr] = inventory.IPOf(o.Data)
		}
	}
	ipPrefix := schema.RootKey(ck.set, "") + "/ip-address/"
	for d := range w.onDevices {
		ck.tx.Referrers(deviceKey(ck.set, id, d), func(ref, _ string) bool {
			if strings.HasPrefix(ref, ipPrefix) {
				if o, ok := ck.tx.Get(ref); ok {
					ip := inventory.IPOf(o.Data)
					ips[ip.Address] = ip
				}
			}
			return true
		})
	}
	if len(ips) > 0 {
		prefixes := prefixesOf(ck.partialSite(id, "prefix"))
		for _, addr := range inventory.Sorted(ips) {
			ip := ips[addr]
			var dev *inventory.Device
			if ip.Device != "" {
				dev = ck.device(id, ip.Device)
			}
			ck.address(ip, dev, prefixes)
		}
	}
	for _, d := range inventory.Sorted(w.devices) {
		ck.primaryIP(id, ck.device(id, d))
	}
}

// partialSite reads a site with the direct entries of the given lists
// only (devices without their interfaces): one key range per list.
func (ck *checker) partialSite(id string, lists ...string) *inventory.Site {
	tree := map[string]any{"site-id": id}
	for _, list := range lists {
		start := inventory.SiteKey(ck.set, id) + "/" + list + "/"
		var items []any
		it := ck.tx.Objects.Root().Iterator()
		it.SeekPrefix([]byte(start))
		for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
			if bytes.IndexByte(k[len(start):], '/') < 0 {
				items = append(items, o.Data)
			}
		}
		tree[list] = items
	}
	return inventory.SiteOf(tree)
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

// device reads one device with its interfaces, once per transaction; nil
// when it does not exist.
func (ck *checker) device(siteID, id string) *inventory.Device {
	key := deviceKey(ck.set, siteID, id)
	if d, ok := ck.devices[key]; ok {
		return d
	}
	var d *inventory.Device
	if o, ok := ck.tx.Get(key); ok {
		tree, _ := ck.tx.Tree(o)
		d = inventory.DeviceOf(tree)
	}
	ck.devices[key] = d
	return d
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
	if iface == nil { // on no interface (one named must exist: the YANG's must)
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
