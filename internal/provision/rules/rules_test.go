package rules

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

// fixture is an engine with the inventory set, the rules registered (this
// package's init) and a small site:
//
//	rack r1 (42U): n1 (1U, units 1), n2 (2U, units 2-3), sw1 (half depth, unit 10 front)
//	rack r2 (10U): empty
//	VLANs MGMT 800 (prefix mgmt 10.0.0.128/25), FABRIC 801 (prefix fab 10.0.1.0/25);
//	prefix admin 10.0.0.0/25 on no VLAN
type fixture struct {
	t   *testing.T
	eng *config.Engine
	set *schema.ModelSet
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	eng, _ := testenv.Engine(t, false)
	f := &fixture{t: t, eng: eng, set: inventory.Set(eng.Schema())}
	f.ok(config.OpCreate, "organization/o1", `{}`)
	f.ok(config.OpCreate, "manufacturer/m1", `{}`)
	f.ok(config.OpCreate, "device-type/srv1u", `{"manufacturer":"m1","model":"S1","interface-template":[
	  {"name":"eno1","type":"1000base-t"},{"name":"bmc","type":"1000base-t","mgmt-only":true,"label":"iDRAC"}]}`)
	f.ok(config.OpCreate, "device-type/srv2u", `{"manufacturer":"m1","model":"S2","u-height":2}`)
	f.ok(config.OpCreate, "device-type/sw-half", `{"manufacturer":"m1","model":"W","full-depth":false}`)
	f.ok(config.OpCreate, "device-type/pdu0u", `{"manufacturer":"m1","model":"P","u-height":0}`)
	f.ok(config.OpCreate, "site/s1", `{"organization":"o1",
	  "rack":[{"rack-id":"r1"},{"rack-id":"r2","u-height":10}],
	  "vlan":[{"name":"MGMT","vid":800},{"name":"FABRIC","vid":801}],
	  "prefix":[{"prefix-id":"mgmt","prefix":"10.0.0.128/25","vlan":"MGMT"},{"prefix-id":"fab","prefix":"10.0.1.0/25","vlan":"FABRIC"},
	    {"prefix-id":"admin","prefix":"10.0.0.0/25"}],
	  "device":[
	    {"device-id":"n1","devname":"n1","role":"compute-server","device-type":"srv1u","rack":"r1","position":1},
	    {"device-id":"n2","devname":"n2","role":"compute-server","device-type":"srv2u","rack":"r1","position":2,
	      "interface":[{"name":"eno1","type":"1000base-t"},{"name":"eno2","type":"1000base-t"}]},
	    {"device-id":"sw1","devname":"sw1","role":"management-switch","device-type":"sw-half","rack":"r1","position":10,
	      "interface":[{"name":"gbe1","type":"1000base-t"},{"name":"gbe2","type":"1000base-t"},{"name":"gbe3","type":"1000base-t"}]}]}`)
	return f
}

// write applies one edit at path (below /inventory/v1.0.0) with a JSON
// body; "" for none.
func (f *fixture) write(op config.Op, path, body string) error {
	f.t.Helper()
	return f.writeAll(f.edit(op, path, body))
}

func (f *fixture) edit(op config.Op, path, body string) config.Edit {
	f.t.Helper()
	loc, err := schema.Resolve(f.set, "", schema.SplitPath(path))
	if err != nil {
		f.t.Fatal(err)
	}
	ed := config.Edit{Op: op, Loc: loc}
	if body != "" {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			f.t.Fatal(err)
		}
		if ed.Value, err = schema.DecodeJSON(loc.Node, v, loc.REST(), !loc.Collection, schema.DecodeOptions{OmitKeysOK: true}); err != nil {
			f.t.Fatal(err)
		}
	}
	return ed
}

func (f *fixture) writeAll(eds ...config.Edit) error {
	_, err := f.eng.Submit(context.Background(), &config.Request{Edits: eds, Principal: "test"})
	return err
}

func (f *fixture) ok(op config.Op, path, body string) {
	f.t.Helper()
	if err := f.write(op, path, body); err != nil {
		f.t.Fatalf("%s: %v", path, err)
	}
}

// refused asserts that the edits are refused with kind, one problem at
// path whose reason contains every want, and that nothing changed.
func (f *fixture) refused(kind schema.Kind, path string, want []string, eds ...config.Edit) {
	f.t.Helper()
	before := f.eng.Snapshot()
	err := f.writeAll(eds...)
	var se *schema.Error
	if !errors.As(err, &se) {
		f.t.Fatalf("not refused (want %s: %v): %v", path, want, err)
	}
	if se.Kind != kind || len(se.Problems) != 1 || se.Problems[0].Path != "/inventory/v1.0.0/"+path {
		f.t.Fatalf("refused as %v, want kind %v with one problem at %s", err, kind, path)
	}
	for _, w := range want {
		if !strings.Contains(se.Problems[0].Reason, w) {
			f.t.Errorf("reason %q does not say %q", se.Problems[0].Reason, w)
		}
	}
	if after := f.eng.Snapshot(); after.Index != before.Index || after.Objects.Len() != before.Objects.Len() {
		f.t.Fatal("a refused transaction changed the store")
	}
}

func (f *fixture) data(path string) map[string]any {
	f.t.Helper()
	loc, err := schema.Resolve(f.set, "", schema.SplitPath(path))
	if err != nil {
		f.t.Fatal(err)
	}
	o, ok := f.eng.Snapshot().Get(loc.ObjectKey)
	if !ok {
		return nil
	}
	return o.Data
}

// TestTemplates: a created device gets its type's template interfaces it
// lacks in the same transaction, keeps the ones it brings, and a device
// that exists gets none when its type changes.
func TestTemplates(t *testing.T) {
	f := newFixture(t)
	n1 := f.data("site/s1/device/n1/interface/bmc")
	if n1 == nil || n1["mgmt-only"] != true || n1["label"] != "iDRAC" || n1["type"] != "1000base-t" {
		t.Fatalf("n1's bmc from its template = %v", n1)
	}
	res, err := f.eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{f.edit(config.OpCreate, "site/s1/device/n3",
		`{"devname":"n3","role":"compute-server","device-type":"srv1u","interface":[{"name":"eno1","type":"10gbase-t","mac-address":"52:54:00:00:00:03"}]}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if eno1 := f.data("site/s1/device/n3/interface/eno1"); eno1["type"] != "10gbase-t" {
		t.Errorf("the device's own eno1 was replaced by the template's: %v", eno1)
	}
	snap := f.eng.Snapshot()
	bmc, ok := snap.Get(inventory.SiteKey(f.set, "s1") + "/device/n3/interface/bmc")
	if !ok || bmc.Created != res.Index {
		t.Fatalf("bmc of n3 not created in the device's transaction %d: %+v", res.Index, bmc)
	}
	// A template added later does not reach existing devices (NetBox).
	f.ok(config.OpMerge, "device-type/srv1u/interface-template/eno2", `{"type":"1000base-t"}`)
	f.ok(config.OpMerge, "site/s1/device/n3", `{"serial":"X1"}`)
	if f.data("site/s1/device/n3/interface/eno2") != nil {
		t.Error("a template added to the type later created an interface on an existing device")
	}
	// An operator may delete a templated interface; rolling back the
	// device's later deletion restores it as it was, without the bmc.
	f.ok(config.OpDelete, "site/s1/device/n3/interface/bmc", "")
	del, err := f.eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{f.edit(config.OpDelete, "site/s1/device/n3", "")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Submit(context.Background(), &config.Request{Rollback: del.Index}); err != nil {
		t.Fatal(err)
	}
	if f.data("site/s1/device/n3") == nil || f.data("site/s1/device/n3/interface/bmc") != nil {
		t.Error("the rollback of a device's deletion did not restore it as it was (without the bmc deleted before)")
	}
}

// TestRackPositions: a device fits its rack and shares no unit of a face
// with another; half-depth devices share a unit on opposite faces.
func TestRackPositions(t *testing.T) {
	f := newFixture(t)
	dev := func(id, typ, rack string, pos int, face string) config.Edit {
		return f.edit(config.OpCreate, "site/s1/device/"+id, `{"devname":"`+id+`","role":"other","device-type":"`+typ+
			`","rack":"`+rack+`","position":`+strconv.Itoa(pos)+`,"face":"`+face+`"}`)
	}
	f.refused(schema.KindInvalid, "site/s1/device/n3/position", []string{"units 42-43", "rack r1 has 42 units"}, dev("n3", "srv2u", "r1", 42, "front"))
	f.refused(schema.KindInvalid, "site/s1/device/n3/position", []string{"units 10-11", "rack r2 has 10 units"}, dev("n3", "srv2u", "r2", 10, "front"))
	f.refused(schema.KindConflict, "site/s1/device/n3/position", []string{"device n3 (unit 3, full depth) overlaps device n2 (units 2-3, full depth) at unit 3"}, dev("n3", "srv1u", "r1", 3, "front"))
	f.refused(schema.KindConflict, "site/s1/device/sw2/position", []string{"overlaps device sw1 (unit 10, front) at unit 10 of the front face"}, dev("sw2", "sw-half", "r1", 10, "front"))
	f.refused(schema.KindConflict, "site/s1/device/n5/position", []string{"overlaps device sw1 (unit 10, front) at unit 10 of the front face"}, dev("n5", "srv1u", "r1", 10, "rear"))
	f.refused(schema.KindInvalid, "site/s1/device/p1/position", []string{"0U"}, dev("p1", "pdu0u", "r1", 20, "front"))
	if err := f.writeAll(dev("sw2", "sw-half", "r1", 10, "rear"), dev("n3", "srv2u", "r1", 30, "front"), dev("n4", "srv2u", "r2", 9, "rear")); err != nil {
		t.Fatalf("devices that fit were refused: %v", err)
	}
	// A type grown taller no longer fits where its devices stand.
	f.refused(schema.KindInvalid, "site/s1/device/n4/position", []string{"units 9-11", "rack r2 has 10 units"},
		f.edit(config.OpMerge, "device-type/srv2u", `{"u-height":3}`))
	// Moving a device into a taken slot, by an edit of the device alone.
	f.refused(schema.KindConflict, "site/s1/device/n2/position", []string{"device n2 (units 1-2, full depth) overlaps device n1 (unit 1, full depth) at unit 1"}, f.edit(config.OpMerge, "site/s1/device/n2", `{"position":1}`))
}

// TestCables: an interface takes one cable, whichever end, also within one
// transaction; a cable's ends differ.
func TestCables(t *testing.T) {
	f := newFixture(t)
	cable := func(id, ad, ai, bd, bi string) config.Edit {
		return f.edit(config.OpCreate, "site/s1/cable/"+id, `{"a":{"device":"`+ad+`","interface":"`+ai+`"},"b":{"device":"`+bd+`","interface":"`+bi+`"}}`)
	}
	f.ok(config.OpCreate, "site/s1/cable/c1", `{"a":{"device":"sw1","interface":"gbe1"},"b":{"device":"n1","interface":"eno1"}}`)
	f.refused(schema.KindInvalid, "site/s1/cable/c2/b/interface", []string{"both ends are sw1 gbe2"}, cable("c2", "sw1", "gbe2", "sw1", "gbe2"))
	f.refused(schema.KindConflict, "site/s1/cable/c2/a/interface", []string{"interface eno1 of device n1 is already on cable c1"}, cable("c2", "n1", "eno1", "sw1", "gbe2"))
	f.refused(schema.KindConflict, "site/s1/cable/c3/b/interface", []string{"interface eno1 of device n2 is already on cable c2"},
		cable("c2", "sw1", "gbe2", "n2", "eno1"), cable("c3", "sw1", "gbe3", "n2", "eno1"))
	// The refusal names the new cable, though it sorts before the old one.
	f.refused(schema.KindConflict, "site/s1/cable/c0/b/interface", []string{"interface eno1 of device n1 is already on cable c1"}, cable("c0", "sw1", "gbe3", "n1", "eno1"))
	f.ok(config.OpCreate, "site/s1/cable/c2", `{"a":{"device":"sw1","interface":"gbe2"},"b":{"device":"n2","interface":"eno1"}}`)
	// Re-pointing an existing cable onto a cabled interface.
	f.refused(schema.KindConflict, "site/s1/cable/c2/b/interface", []string{"already on cable c1"}, f.edit(config.OpMerge, "site/s1/cable/c2/b", `{"device":"n1","interface":"eno1"}`))
}

// TestMACOnce: a MAC address is on one interface of the whole inventory;
// the refusal names both interfaces.
func TestMACOnce(t *testing.T) {
	f := newFixture(t)
	f.ok(config.OpMerge, "site/s1/device/n1/interface/eno1", `{"mac-address":"52:54:00:00:00:01"}`)
	f.ok(config.OpCreate, "site/s2", `{"organization":"o1","device":[{"device-id":"x1","devname":"x1","role":"other","device-type":"srv2u"}]}`)
	f.refused(schema.KindConflict, "site/s2/device/x1/interface/p1/mac-address",
		[]string{"52:54:00:00:00:01 of interface p1 of device x1 at site s2 is also on interface eno1 of device n1 at site s1"},
		f.edit(config.OpCreate, "site/s2/device/x1/interface/p1", `{"type":"1000base-t","mac-address":"52:54:00:00:00:01"}`))
	// Upper case hex digits are the same MAC.
	f.ok(config.OpMerge, "site/s1/device/n1/interface/bmc", `{"mac-address":"52:54:00:ab:cd:ef"}`)
	f.refused(schema.KindConflict, "site/s1/device/n2/interface/eno2/mac-address", []string{"is also on interface bmc of device n1 at site s1"},
		f.edit(config.OpMerge, "site/s1/device/n2/interface/eno2", `{"mac-address":"52:54:00:AB:CD:EF"}`))
	// Setting the same MAC again on the same interface is no clash.
	f.ok(config.OpMerge, "site/s1/device/n1/interface/eno1", `{"mac-address":"52:54:00:00:00:01","description":"again"}`)
	// Moving a MAC from one interface to another in one transaction is fine.
	if err := f.writeAll(f.edit(config.OpRemove, "site/s1/device/n1/interface/eno1/mac-address", ""),
		f.edit(config.OpMerge, "site/s1/device/n1/interface/bmc", `{"mac-address":"52:54:00:00:00:01"}`)); err != nil {
		t.Fatalf("moving a MAC: %v", err)
	}
}

// TestAddresses: an address on an interface lies in a prefix of one of its
// VLANs (a virtual interface's parent's count) with that prefix's length;
// one on no interface lies in a prefix of its site.
func TestAddresses(t *testing.T) {
	f := newFixture(t)
	f.ok(config.OpMerge, "site/s1/device/n1/interface/eno1", `{"mode":"tagged","tagged-vlan":["MGMT"]}`)
	f.ok(config.OpCreate, "site/s1/device/n1/interface/fab801", `{"type":"virtual","parent":"eno1","untagged-vlan":"FABRIC"}`)
	ip := func(addr string, length int, iface string) config.Edit {
		body := `{"prefix-length":` + strconv.Itoa(length) + `,"site":"s1"`
		if iface != "" {
			body += `,"device":"n1","interface":"` + iface + `"`
		}
		return f.edit(config.OpCreate, "ip-address/"+addr, body+"}")
	}
	if err := f.writeAll(ip("10.0.0.130", 25, "eno1"), ip("10.0.0.131", 25, "fab801"), ip("10.0.1.5", 25, "fab801"), ip("10.0.0.5", 25, "")); err != nil {
		t.Fatalf("addresses in their prefixes were refused: %v", err)
	}
	f.refused(schema.KindInvalid, "ip-address/10.0.1.6/address", []string{"10.0.1.6 on interface eno1 of device n1", "mgmt 10.0.0.128/25"}, ip("10.0.1.6", 25, "eno1"))
	f.refused(schema.KindInvalid, "ip-address/10.0.0.132/prefix-length", []string{"is 24", "prefix mgmt (10.0.0.128/25), a /25"}, ip("10.0.0.132", 24, "eno1"))
	f.refused(schema.KindInvalid, "ip-address/10.0.0.10/address", []string{"the interface has no VLAN"}, ip("10.0.0.10", 25, "bmc"))
	f.refused(schema.KindInvalid, "ip-address/10.9.9.9/address", []string{"10.9.9.9 lies in no prefix of site s1"}, ip("10.9.9.9", 24, ""))
	// Taking the VLAN away from an interface that has an address: its
	// parent's VLAN still counts, but its prefix does not hold it.
	f.refused(schema.KindInvalid, "ip-address/10.0.1.5/address", []string{"none of its VLANs' prefixes (mgmt 10.0.0.128/25) holds it"},
		f.edit(config.OpRemove, "site/s1/device/n1/interface/fab801/untagged-vlan", ""))
	// Deleting the interface an address is on is refused before the rules
	// run (the YANG's must on ip-address/interface), so the address rule
	// never sees an address on a missing interface.
	before := f.eng.Snapshot().Index
	err := f.writeAll(f.edit(config.OpDelete, "site/s1/device/n1/interface/fab801", ""))
	var se *schema.Error
	if !errors.As(err, &se) || len(se.Problems) != 2 || se.Problems[0].Path != "/inventory/v1.0.0/ip-address/10.0.0.131/interface" ||
		f.eng.Snapshot().Index != before {
		t.Fatalf("deleting an interface with addresses on it: %v", err)
	}
	// Moving a prefix away from its addresses.
	f.refused(schema.KindInvalid, "ip-address/10.0.1.5/address", []string{"none of its VLANs' prefixes"},
		f.edit(config.OpMerge, "site/s1/prefix/fab", `{"prefix":"10.0.2.0/25"}`))
}

// TestPrimaryIP: a device's primary IP is one of its own addresses.
func TestPrimaryIP(t *testing.T) {
	f := newFixture(t)
	f.ok(config.OpMerge, "site/s1/device/n1/interface/eno1", `{"untagged-vlan":"MGMT"}`)
	f.ok(config.OpMerge, "site/s1/device/n2/interface/eno1", `{"untagged-vlan":"MGMT"}`)
	f.ok(config.OpCreate, "ip-address/10.0.0.130", `{"prefix-length":25,"site":"s1","device":"n1","interface":"eno1"}`)
	f.ok(config.OpCreate, "ip-address/10.0.0.131", `{"prefix-length":25,"site":"s1","device":"n2","interface":"eno1"}`)
	f.ok(config.OpCreate, "ip-address/10.0.0.5", `{"prefix-length":25,"site":"s1"}`)
	f.ok(config.OpMerge, "site/s1/device/n1", `{"primary-ip":"10.0.0.130"}`)
	f.refused(schema.KindInvalid, "site/s1/device/n1/primary-ip", []string{"10.0.0.131 is assigned to device n2 of site s1"},
		f.edit(config.OpMerge, "site/s1/device/n1", `{"primary-ip":"10.0.0.131"}`))
	f.refused(schema.KindInvalid, "site/s1/device/n1/primary-ip", []string{"10.0.0.5 is assigned to no device"},
		f.edit(config.OpMerge, "site/s1/device/n1", `{"primary-ip":"10.0.0.5"}`))
	// Moving the address to another device leaves n1's primary IP foreign.
	f.refused(schema.KindInvalid, "site/s1/device/n1/primary-ip", []string{"assigned to device n2"},
		f.edit(config.OpMerge, "ip-address/10.0.0.130", `{"device":"n2","interface":"eno1"}`))
}
