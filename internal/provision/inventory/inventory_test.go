package inventory

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

// put creates the entries of a top-level list of the inventory set.
func put(t *testing.T, eng *config.Engine, set *schema.ModelSet, list, body string) {
	t.Helper()
	loc, err := schema.Resolve(set, "", []string{list})
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), false, schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: config.OpCreate, Loc: loc, Value: val}}, Principal: "test"}); err != nil {
		t.Fatalf("create %s: %v", list, err)
	}
}

// TestLoad: what was written through the engine reads back typed, with the
// model's defaults where a leaf was not set, and only from the set it
// names.
func TestLoad(t *testing.T) {
	eng, _ := testenv.Engine(t, true) // the demo: enterprise acme with site acme-chicago
	set := Set(eng.Schema())
	if set == nil {
		t.Fatal("the inventory set is not loaded")
	}
	put(t, eng, set, "organization", `[{"org-id":"acme","tenant":"acme"}]`)
	put(t, eng, set, "manufacturer", `[{"manufacturer-id":"dell","display-name":"Dell"}]`)
	put(t, eng, set, "device-type", `[{"device-type-id":"r640","manufacturer":"dell","model":"PowerEdge R640",
	  "interface-template":[{"name":"eno1","type":"1000base-t"},{"name":"bmc","type":"1000base-t","mgmt-only":true}]}]`)
	put(t, eng, set, "site", `[{"site-id":"stanford1","organization":"acme","tenant":"acme","aether-site":["acme-chicago"],
	  "domain":"aetherproject.net","rack":[{"rack-id":"r1"}],
	  "deployment":[{"deployment-id":"prod1","kind":"production","ordinal":0}],
	  "vlan":[{"name":"MGMT","vid":800,"deployment":"prod1","role":"mgmt"}],
	  "prefix":[{"prefix-id":"prod1-mgmt","prefix":"10.0.0.128/25","vlan":"MGMT"}],
	  "device":[{"device-id":"node1","devname":"node1","deployment":"prod1","role":"compute-server","device-type":"r640","rack":"r1","position":10,
	    "interface":[{"name":"eno1","type":"1000base-t","mac-address":"52:54:00:00:00:01","tagged-vlan":["MGMT"]},{"name":"bmc","type":"1000base-t"}]},
	    {"device-id":"sw1","devname":"mgmtswitch1","role":"management-switch","device-type":"r640","interface":[{"name":"gbe1","type":"1000base-t"}]}],
	  "cable":[{"cable-id":"c1","a":{"device":"sw1","interface":"gbe1"},"b":{"device":"node1","interface":"bmc"},"length":"2.5","length-unit":"ft"}]}]`)
	put(t, eng, set, "ip-address", `[{"address":"10.0.0.132","prefix-length":25,"site":"stanford1","device":"node1","interface":"eno1"}]`)
	put(t, eng, set, "cluster", `[{"cluster-id":"ace-x","site":"stanford1","cni":["multus","calico"],"label":[{"name":"env","value":"production"}],
	  "node":[{"name":"server-1","device":"node1","role":["worker","etcd"],"taint":["a=b:NoSchedule"]}]}]`)

	snap := eng.Snapshot()
	inv := Load(snap, set)
	if inv.Index != snap.Index {
		t.Errorf("Index = %d, want the snapshot's %d", inv.Index, snap.Index)
	}
	if o := inv.Organizations["acme"]; o == nil || o.Tenant != "acme" {
		t.Errorf("organization acme = %+v", o)
	}
	if dt := inv.DeviceTypes["r640"]; dt == nil || dt.UHeight != 1 || !dt.FullDepth || len(dt.Interfaces) != 2 ||
		dt.Interfaces[0].Name != "bmc" || !dt.Interfaces[0].MgmtOnly {
		t.Errorf("device type r640 = %+v (want defaults u-height 1, full depth, templates sorted by name)", dt)
	}
	s := inv.Sites["stanford1"]
	if s == nil {
		t.Fatal("site stanford1 not read")
	}
	if s.Racks["r1"].UHeight != 42 || s.Deployments["prod1"].Kind != "production" || s.VLANs["MGMT"].VID != 800 ||
		s.Prefixes["prod1-mgmt"].Role != "other" || len(s.AetherSites) != 1 || s.Modified == 0 {
		t.Errorf("site = %+v", s)
	}
	d := s.Devices["node1"]
	if d == nil || d.Position != 10 || d.Face != "front" || d.Status != "active" || d.Rack != "r1" ||
		d.Interfaces["eno1"].MAC != "52:54:00:00:00:01" || !d.Interfaces["eno1"].Enabled ||
		len(d.Interfaces["eno1"].TaggedVLANs) != 1 {
		t.Errorf("device node1 = %+v", d)
	}
	if c := s.Cables["c1"]; c == nil || c.A != (End{"sw1", "gbe1"}) || c.B != (End{"node1", "bmc"}) || c.Status != "connected" || c.Length != "2.50" {
		t.Errorf("cable c1 = %+v", c)
	}
	if ip := inv.IPs["10.0.0.132"]; ip == nil || ip.PrefixLength != 25 || ip.Interface != "eno1" || ip.Status != "active" {
		t.Errorf("ip 10.0.0.132 = %+v", ip)
	}
	c := inv.Clusters["ace-x"]
	if c == nil || c.Distribution != "rke2" || strings.Join(c.CNI, ",") != "multus,calico" || c.Labels["env"] != "production" ||
		strings.Join(c.Nodes["server-1"].Roles, ",") != "worker,etcd" {
		t.Errorf("cluster ace-x = %+v", c)
	}
	one, ok := LoadSite(snap, set, "stanford1")
	if !ok || len(one.Devices) != 2 || one.Modified != s.Modified {
		t.Errorf("LoadSite = %+v, %v", one, ok)
	}
	if _, ok := LoadSite(snap, set, "nowhere"); ok {
		t.Error("LoadSite found a site that does not exist")
	}
	if got := strings.Join(Sorted(s.Devices), ","); got != "node1,sw1" {
		t.Errorf("Sorted = %s", got)
	}
}
