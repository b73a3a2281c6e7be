package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// inventorySite is a valid site: two racks, a management switch, two
// servers whose interfaces come from their type's templates, VLANs with
// prefixes, cables, addresses and primary IPs.
var inventorySite = []struct{ path, body string }{
	{"/inventory/v1.0.0/organization/o1", `{"display-name":"Org One"}`},
	{"/inventory/v1.0.0/manufacturer/m1", `{}`},
	{"/inventory/v1.0.0/device-type/srv", `{"manufacturer":"m1","model":"Server 2U","u-height":2,
	  "interface-template":[{"name":"eno1","type":"25gbase-x-sfp28"},{"name":"bmc","type":"1000base-t","mgmt-only":true}]}`},
	{"/inventory/v1.0.0/device-type/sw", `{"manufacturer":"m1","model":"Switch","full-depth":false,
	  "interface-template":[{"name":"gbe1","type":"1000base-t"},{"name":"gbe2","type":"1000base-t"},{"name":"gbe3","type":"1000base-t"}]}`},
	{"/inventory/v1.0.0/site/s1", `{"organization":"o1","domain":"example.net",
	  "rack":[{"rack-id":"r1"},{"rack-id":"r2","u-height":12}],
	  "deployment":[{"deployment-id":"prod1","kind":"production","ordinal":0}],
	  "vlan":[{"name":"MGMT","vid":800,"deployment":"prod1","role":"mgmt"}],
	  "prefix":[{"prefix-id":"prod1-mgmt","prefix":"10.0.0.128/25","vlan":"MGMT","role":"mgmt"}],
	  "device":[
	    {"device-id":"msw","devname":"mgmtswitch1","role":"management-switch","device-type":"sw","rack":"r1","position":40},
	    {"device-id":"n1","devname":"node1","deployment":"prod1","role":"compute-server","device-type":"srv","rack":"r1","position":1},
	    {"device-id":"n2","devname":"node2","deployment":"prod1","role":"compute-server","device-type":"srv","rack":"r2","position":11}],
	  "cable":[
	    {"cable-id":"c1","a":{"device":"msw","interface":"gbe1"},"b":{"device":"n1","interface":"bmc"}},
	    {"cable-id":"c2","a":{"device":"msw","interface":"gbe2"},"b":{"device":"n2","interface":"bmc"}}]}`},
	{"/inventory/v1.0.0/site/s1/device/n1/interface/eno1", `{"mac-address":"52:54:00:00:01:01","untagged-vlan":"MGMT"}`},
	{"/inventory/v1.0.0/site/s1/device/n2/interface/eno1", `{"mac-address":"52:54:00:00:02:01","untagged-vlan":"MGMT"}`},
	{"/inventory/v1.0.0/ip-address/10.0.0.130", `{"prefix-length":25,"site":"s1","device":"n1","interface":"eno1"}`},
	{"/inventory/v1.0.0/ip-address/10.0.0.131", `{"prefix-length":25,"site":"s1","device":"n2","interface":"eno1"}`},
	{"/inventory/v1.0.0/site/s1/device/n1", `{"primary-ip":"10.0.0.130"}`},
}

// TestInventoryRules: the inventory's invariants across objects are
// enforced by the server at commit, through REST and gNMI, on bbolt and on
// etcd with two replicas (the refusals go to the replica that did not write
// the site, so it judges with the other's state): each refusal names the
// path and the reason, and leaves the store as it was.
func TestInventoryRules(t *testing.T) {
	bin := testenv.Binary(t)
	t.Run("bbolt", func(t *testing.T) {
		s, err := testenv.StartErr(bin, t.TempDir(), "--gnmi-listen", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		inventoryRules(t, s, s)
		inventoryRulesGNMI(t, s)
		inventoryRulesCLI(t, bin, s)
		inventoryTemplatesOneTransaction(t, s)
		// Every refusal above (8 REST, 1 gNMI, 1 CLI) is counted by rule.
		if m := string(s.Must(t, 200, "GET", "/metrics", "")); !strings.Contains(m, `amp_config_rule_refusals_total{rule="inventory"} 10`) {
			t.Errorf("the rules' refusals are not counted:\n%s", grepLines(m, "amp_config_rule"))
		}
	})
	t.Run("etcd", func(t *testing.T) {
		c := etcd.Start(t, 1)
		reps := startReplicas(t, bin, "etcd://"+c.Endpoints()+"/amp-inventory-rules/", 2)
		inventoryRules(t, reps[0], reps[1])
	})
}

// inventoryRules writes the valid site through w and tries the refused
// writes through r.
func inventoryRules(t *testing.T, w, r *testenv.Server) {
	for _, o := range inventorySite {
		method, want := "POST", 201
		if strings.Contains(o.path, "/interface/") || strings.HasSuffix(o.path, "/device/n1") {
			method, want = "PATCH", 200
		}
		w.Must(t, want, method, o.path, o.body)
	}
	// The reading replica has caught up with the writing one.
	want := w.Must(t, 200, "GET", "/inventory/v1.0.0/site/s1", "")
	waitWithin(t, 10*time.Second, func() bool {
		_, got, _, _ := r.Do(context.Background(), "GET", "/inventory/v1.0.0/site/s1", "")
		return string(got) == string(want)
	}, "the second replica to see the site")
	// The servers got their type's interfaces with the device, in its
	// transaction: the bmc is there though the site named none.
	var bmc map[string]any
	if err := json.Unmarshal(r.Must(t, 200, "GET", "/inventory/v1.0.0/site/s1/device/n2/interface/bmc", ""), &bmc); err != nil {
		t.Fatal(err)
	}
	if bmc["mgmt-only"] != true || bmc["type"] != "1000base-t" {
		t.Errorf("n2's bmc from its template: %v", bmc)
	}

	refusals := []struct {
		name, method, path, body string
		code                     int
		at, reason               string
		gone                     []string // paths that must still 404 after the refusal
	}{
		{"overlapping rack position", "POST", "/inventory/v1.0.0/site/s1/device/n3",
			`{"devname":"node3","role":"compute-server","device-type":"srv","rack":"r1","position":2}`,
			409, "/inventory/v1.0.0/site/s1/device/n3/position", "device n3 (units 2-3, full depth) overlaps device n1 (units 1-2, full depth) at unit 2 of the front face of rack r1",
			[]string{"/inventory/v1.0.0/site/s1/device/n3", "/inventory/v1.0.0/site/s1/device/n3/interface/bmc"}},
		{"position past the rack's top", "PATCH", "/inventory/v1.0.0/site/s1/device/n2", `{"position":12}`,
			400, "/inventory/v1.0.0/site/s1/device/n2/position", "would occupy units 12-13 but rack r2 has 12 units", nil},
		{"a MAC twice", "PATCH", "/inventory/v1.0.0/site/s1/device/n2/interface/bmc", `{"mac-address":"52:54:00:00:01:01"}`,
			409, "/inventory/v1.0.0/site/s1/device/n2/interface/bmc/mac-address",
			"MAC address 52:54:00:00:01:01 of interface bmc of device n2 at site s1 is also on interface eno1 of device n1 at site s1", nil},
		{"a cable to an interface already cabled", "POST", "/inventory/v1.0.0/site/s1/cable/c3",
			`{"a":{"device":"msw","interface":"gbe3"},"b":{"device":"n1","interface":"bmc"}}`,
			409, "/inventory/v1.0.0/site/s1/cable/c3/b/interface", "interface bmc of device n1 is already on cable c1",
			[]string{"/inventory/v1.0.0/site/s1/cable/c3"}},
		{"a cable from an interface to itself", "POST", "/inventory/v1.0.0/site/s1/cable/c3",
			`{"a":{"device":"msw","interface":"gbe3"},"b":{"device":"msw","interface":"gbe3"}}`,
			400, "/inventory/v1.0.0/site/s1/cable/c3/b/interface", "a cable joins two different interfaces",
			[]string{"/inventory/v1.0.0/site/s1/cable/c3"}},
		{"an IP outside its VLAN's prefix", "POST", "/inventory/v1.0.0/ip-address/10.0.1.5",
			`{"prefix-length":25,"site":"s1","device":"n1","interface":"eno1"}`,
			400, "/inventory/v1.0.0/ip-address/10.0.1.5/address", "none of its VLANs' prefixes (prod1-mgmt 10.0.0.128/25) holds it",
			[]string{"/inventory/v1.0.0/ip-address/10.0.1.5"}},
		{"a prefix length not its prefix's", "PATCH", "/inventory/v1.0.0/ip-address/10.0.0.131", `{"prefix-length":24}`,
			400, "/inventory/v1.0.0/ip-address/10.0.0.131/prefix-length", "is 24 but 10.0.0.131 lies in prefix prod1-mgmt (10.0.0.128/25), a /25", nil},
		{"a primary IP of another device", "PATCH", "/inventory/v1.0.0/site/s1/device/n2", `{"primary-ip":"10.0.0.130"}`,
			400, "/inventory/v1.0.0/site/s1/device/n2/primary-ip", "10.0.0.130 is assigned to device n1 of site s1", nil},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			_, site, _, _ := r.Do(context.Background(), "GET", "/inventory/v1.0.0/site/s1", "")
			_, ips, _, _ := r.Do(context.Background(), "GET", "/inventory/v1.0.0/ip-address", "")
			b := r.Must(t, c.code, c.method, c.path, c.body)
			var p struct {
				Errors []struct{ Path, Reason string }
			}
			if err := json.Unmarshal(b, &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Path != c.at || !strings.Contains(p.Errors[0].Reason, c.reason) {
				t.Fatalf("%s %s: %s\nwant one error at %s saying %q", c.method, c.path, b, c.at, c.reason)
			}
			// Nothing changed, on either replica.
			for _, s := range []*testenv.Server{r, w} {
				if got := s.Must(t, 200, "GET", "/inventory/v1.0.0/site/s1", ""); string(got) != string(site) {
					t.Errorf("the site changed after a refusal:\n%s\nwas\n%s", got, site)
				}
				if got := s.Must(t, 200, "GET", "/inventory/v1.0.0/ip-address", ""); string(got) != string(ips) {
					t.Errorf("the addresses changed after a refusal:\n%s\nwas\n%s", got, ips)
				}
				for _, g := range c.gone {
					s.Must(t, 404, "GET", g, "")
				}
			}
		})
	}
}

// inventoryRulesGNMI: a gNMI Set is held to the same rules, with the path
// and the reason in its status.
func inventoryRulesGNMI(t *testing.T, s *testenv.Server) {
	_, before, _, _ := s.Do(context.Background(), "GET", "/inventory/v1.0.0/site/s1", "")
	_, err := gpb.NewGNMIClient(gnmiConn(t, s)).Set(bearer(context.Background(), s.Token), &gpb.SetRequest{Update: []*gpb.Update{{
		Path: &gpb.Path{Origin: "inventory", Elem: []*gpb.PathElem{{Name: "site", Key: map[string]string{"site-id": "s1"}},
			{Name: "device", Key: map[string]string{"device-id": "n1"}}, {Name: "position"}}},
		Val: &gpb.TypedValue{Value: &gpb.TypedValue_JsonVal{JsonVal: []byte("40")}}}}})
	if status.Code(err) != codes.FailedPrecondition ||
		!strings.Contains(err.Error(), "/inventory/v1.0.0/site/s1/device/n1/position: device n1 (units 40-41, full depth) overlaps device msw (unit 40, front) at unit 40 of the front face of rack r1") {
		t.Fatalf("a gNMI Set of an overlapping position: %v", err)
	}
	if got := s.Must(t, 200, "GET", "/inventory/v1.0.0/site/s1", ""); string(got) != string(before) {
		t.Errorf("a refused gNMI Set changed the site")
	}
}

// inventoryRulesCLI: amp set is held to the same rules; it fails with the
// path and the reason.
func inventoryRulesCLI(t *testing.T, bin string, s *testenv.Server) {
	_, before, _, _ := s.Do(context.Background(), "GET", "/inventory/v1.0.0/site/s1", "")
	cmd := exec.Command(bin, "set", "inventory/site/s1/device/n2/rack=r1", "inventory/site/s1/device/n2/position=2")
	cmd.Env = s.Env()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "/inventory/v1.0.0/site/s1/device/n2/position") ||
		!strings.Contains(string(out), "device n2 (units 2-3, full depth) overlaps device n1 (units 1-2, full depth) at unit 2") {
		t.Fatalf("amp set of an overlapping position: %v\n%s", err, out)
	}
	if got := s.Must(t, 200, "GET", "/inventory/v1.0.0/site/s1", ""); string(got) != string(before) {
		t.Errorf("a refused amp set changed the site")
	}
}

// inventoryTemplatesOneTransaction: a device created through REST gets its
// type's template interfaces in its own transaction: the history shows
// them in it, and rolling it back removes them with the device.
func inventoryTemplatesOneTransaction(t *testing.T, s *testenv.Server) {
	code, b, h, err := s.Do(context.Background(), "POST", "/inventory/v1.0.0/site/s1/device/n4",
		`{"devname":"node4","role":"compute-server","device-type":"srv","rack":"r2","position":1}`)
	if err != nil || code != 201 {
		t.Fatalf("POST device n4: %d %v %s", code, err, b)
	}
	idx := h.Get("X-AMP-Transaction-Index")
	var txn struct{ Changes []struct{ Path string } }
	getJSON(t, s, "/transactions/"+idx, &txn)
	var paths []string
	for _, c := range txn.Changes {
		paths = append(paths, c.Path)
	}
	want := []string{"/inventory/v1.0.0/site/s1/device/n4", "/inventory/v1.0.0/site/s1/device/n4/interface/bmc", "/inventory/v1.0.0/site/s1/device/n4/interface/eno1"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("transaction %s changed %v, want the device and its template interfaces %v", idx, paths, want)
	}
	s.Must(t, 200, "POST", "/transactions/"+idx+"/rollback", "")
	for _, p := range want {
		s.Must(t, 404, "GET", p, "")
	}
}
