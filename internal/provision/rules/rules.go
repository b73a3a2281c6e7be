// Package rules holds the inventory's invariants that span objects, which
// the YANG cannot state (it states a VID once per site, a position needing
// a rack, the references): rack positions that fit and do not overlap, an
// interface on at most one cable, a MAC address once, an address inside a
// prefix of its interface's VLAN, a primary IP of the device's own, and a
// device's interfaces created from its type's templates. They register
// with the engine (config.RegisterRule) at init, so every write path on
// every store enforces them at commit; cmd/amp imports the package for
// its effect.
//
// A transaction is checked once, for what its changes can have broken,
// reading only the objects that needs: a whole site written in one
// transaction costs one pass, not one per object, and an address
// allocated or a device moved does not read the whole site.
package rules

import (
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

func init() {
	config.RegisterRule(inventory.SetName, config.Rule{Name: "inventory", Expand: expandTemplates, Check: check})
}

// keyPath is a storage key of the inventory set, split after
// "inventory/<version>/" into its unescaped segments
// (site s1 device d1 interface eno1); nil for another version's keys.
func keyPath(set *schema.ModelSet, key string) []string {
	rest, ok := strings.CutPrefix(key, schema.RootKey(set, "")+"/")
	if !ok {
		return nil
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		if u, err := schema.UnescapeSegment(s); err == nil {
			segs[i] = u
		}
	}
	return segs
}

// kind names what a split key addresses.
func kind(p []string) string {
	switch {
	case len(p) == 2:
		return p[0] // organization, site, device-type, ip-address, …
	case len(p) >= 4 && p[0] == "site":
		if len(p) == 6 && p[2] == "device" && p[4] == "interface" {
			return "interface"
		}
		if len(p) == 4 {
			return p[2] // device, cable, rack, prefix, vlan, deployment
		}
	}
	return ""
}

// deviceKey, interfaceKey and cableKey are storage keys under a site.
func deviceKey(set *schema.ModelSet, site, dev string) string {
	return inventory.SiteKey(set, site) + "/device/" + schema.EscapeSegment(dev)
}

func interfaceKey(set *schema.ModelSet, site, dev, iface string) string {
	return deviceKey(set, site, dev) + "/interface/" + schema.EscapeSegment(iface)
}

func cableKey(set *schema.ModelSet, site, cable string) string {
	return inventory.SiteKey(set, site) + "/cable/" + schema.EscapeSegment(cable)
}

func ipKey(set *schema.ModelSet, addr string) string {
	return schema.RootKey(set, "") + "/ip-address/" + schema.EscapeSegment(addr)
}

// path is the REST path of a leaf (inner) of the object stored at key.
func path(set *schema.ModelSet, key string, inner ...string) string {
	return schema.RESTPathOfKey(set, key, inner, false, nil)
}

// deviceTypes reads device types once per transaction.
type deviceTypes struct {
	tx  *config.Snapshot
	set *schema.ModelSet
	m   map[string]*inventory.DeviceType
}

func (t *deviceTypes) get(id string) (*inventory.DeviceType, bool) {
	if dt, ok := t.m[id]; ok {
		return dt, dt != nil
	}
	dt, ok := inventory.LoadDeviceType(t.tx, t.set, id)
	if t.m == nil {
		t.m = map[string]*inventory.DeviceType{}
	}
	t.m[id] = dt
	return dt, ok
}

// expandTemplates gives every device the transaction creates the
// interfaces of its type's templates that it lacks, as NetBox does, in the
// same transaction. Later changes to the type do not touch existing
// devices (NetBox neither), and an operator may delete a templated
// interface afterwards.
func expandTemplates(tx *config.Snapshot, changes []config.ObjectChange) []config.Edit {
	set := inventory.Set(tx.Schema())
	if set == nil {
		return nil
	}
	types := &deviceTypes{tx: tx, set: set}
	var edits []config.Edit
	for _, c := range changes {
		p := keyPath(set, c.Key)
		if c.Before != nil || c.After == nil || kind(p) != "device" {
			continue
		}
		typeID, _ := c.After.Data["device-type"].(string)
		dt, ok := types.get(typeID)
		if !ok {
			continue // the leafref check refuses it
		}
		for _, tmpl := range dt.Interfaces {
			key := interfaceKey(set, p[1], p[3], tmpl.Name)
			if _, exists := tx.Get(key); exists {
				continue
			}
			loc, err := tx.Schema().ParseObjectKey(key)
			if err != nil {
				continue // cannot happen: a template's name has the interface name's type
			}
			val := map[string]any{"type": tmpl.Type}
			if tmpl.MgmtOnly {
				val["mgmt-only"] = true
			}
			if tmpl.Label != "" {
				val["label"] = tmpl.Label
			}
			edits = append(edits, config.Edit{Op: config.OpMerge, Loc: loc, Value: val})
		}
	}
	return edits
}
