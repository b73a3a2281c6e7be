package rackview

import "github.com/amp-edge/amp/internal/provision/inventory"

// Endpoint is one device interface.
type Endpoint struct {
	Device    string `json:"device"` // its id at the site
	Name      string `json:"name"`   // DeviceName
	Interface string `json:"interface"`
}

// Hop is one cable of a path: from the near end over the cable to the
// far end.
type Hop struct {
	Near  Endpoint `json:"near"`
	Cable Cable    `json:"cable"`
	Far   Endpoint `json:"far"`
}

// Trace is the cable path from one interface.
type Trace struct {
	Origin Endpoint `json:"origin"`
	// Via lists the interfaces a virtual (VLAN) origin rides on, in
	// order, down to the physical one the path starts at.
	Via []string `json:"via"`
	// Hops is the path. The inventory has direct cables only (no patch
	// panels or pass-through ports), so it has one hop when the
	// interface is cabled and none when it is not.
	Hops []Hop `json:"hops"`
}

// TraceFrom traces the cable path from interface iface of device d at
// site. A virtual interface is traced from the physical interface it
// rides on (its parent, or the parent's parent ...).
func TraceFrom(site *inventory.Site, d *inventory.Device, iface string) Trace {
	t := Trace{Origin: Endpoint{Device: d.ID, Name: DeviceName(site, d), Interface: iface}, Via: []string{}, Hops: []Hop{}}
	ends := map[inventory.End][]string{} // which cables end at an interface
	for _, id := range sortedCables(site) {
		c := site.Cables[id]
		ends[c.A] = append(ends[c.A], id)
		ends[c.B] = append(ends[c.B], id)
	}
	at := iface
	seen := map[string]bool{at: true}
	for len(ends[inventory.End{Device: d.ID, Interface: at}]) == 0 {
		i, ok := d.Interfaces[at]
		if !ok || i.Parent == "" || seen[i.Parent] {
			return t // not cabled, nor anything it rides on
		}
		at = i.Parent
		seen[at] = true
		t.Via = append(t.Via, at)
	}
	near := inventory.End{Device: d.ID, Interface: at}
	// An interface is on at most one cable (the server refuses a second):
	// the first in the report's order is the one.
	c := site.Cables[ends[near][0]]
	far := c.B
	if c.B == near {
		far = c.A
	}
	t.Hops = append(t.Hops, Hop{
		Near:  Endpoint{Device: near.Device, Name: DeviceName(site, d), Interface: near.Interface},
		Cable: cableOf(c),
		Far:   Endpoint{Device: far.Device, Name: endName(site, far.Device), Interface: far.Interface},
	})
	return t
}
