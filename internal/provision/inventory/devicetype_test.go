package inventory

import (
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestLoadDeviceType: one type reads back with its defaults and
// templates; a type that does not exist is reported missing.
func TestLoadDeviceType(t *testing.T) {
	eng, _ := testenv.Engine(t, false)
	set := Set(eng.Schema())
	put(t, eng, set, "manufacturer", `[{"manufacturer-id":"dell"}]`)
	put(t, eng, set, "device-type", `[{"device-type-id":"r740","manufacturer":"dell","model":"PowerEdge R740","u-height":2,
	  "interface-template":[{"name":"gbe0","type":"1000base-t"},{"name":"bmc","type":"1000base-t","mgmt-only":true}]},
	  {"device-type-id":"om1208","manufacturer":"dell","model":"OM1208","full-depth":false}]`)
	dt, ok := LoadDeviceType(eng.Snapshot(), set, "r740")
	if !ok || dt.UHeight != 2 || !dt.FullDepth || dt.Model != "PowerEdge R740" || len(dt.Interfaces) != 2 || dt.Interfaces[0].Name != "bmc" || !dt.Interfaces[0].MgmtOnly {
		t.Fatalf("r740: %v %+v", ok, dt)
	}
	if dt, ok := LoadDeviceType(eng.Snapshot(), set, "om1208"); !ok || dt.UHeight != 1 || dt.FullDepth {
		t.Fatalf("om1208 (1 U by default, half depth): %v %+v", ok, dt)
	}
	if _, ok := LoadDeviceType(eng.Snapshot(), set, "nope"); ok {
		t.Fatal("a type that does not exist was found")
	}
}
