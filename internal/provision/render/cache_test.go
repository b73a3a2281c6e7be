package render

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

// change applies one edit (op at path, value as JSON) as a transaction.
func change(t *testing.T, eng *config.Engine, op config.Op, path []string, body string) {
	t.Helper()
	set := inventory.Set(eng.Schema())
	loc, err := schema.Resolve(set, "", path)
	if err != nil {
		t.Fatal(err)
	}
	var val any
	if body != "" {
		var v any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if val, err = schema.DecodeJSON(loc.Node, v, loc.REST(), len(path)%2 == 0, schema.DecodeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: op, Loc: loc, Value: val}}, Principal: "test"}); err != nil {
		t.Fatalf("%v: %v", path, err)
	}
}

// TestCacheRendersWhatChanged: after the first pass, Cache.All renders
// exactly the sites a transaction touched — through the site's subtree,
// its addresses, the device types it uses — and what it renders is what a
// fresh rendering gives; a deletion (which leaves no newer index behind)
// is seen too.
func TestCacheRendersWhatChanged(t *testing.T) {
	eng, _ := testenv.Engine(t, true)
	loadFixture(t, eng)
	set := inventory.Set(eng.Schema())
	change(t, eng, config.OpMerge, []string{"site"}, `[{"site-id":"other","organization":"stanford","domain":"example.org"}]`)
	c := NewCache()
	all, n, err := c.All(eng, set)
	if err != nil || n != 2 || len(all) != 2 {
		t.Fatalf("first pass: %d sites, %d rendered, %v", len(all), n, err)
	}
	steps := []struct {
		what     string
		op       config.Op
		path     []string
		body     string
		rendered int
		changed  []string // stanford1's artifacts whose content changes
	}{
		{"a site nobody renders for", config.OpMerge, []string{"site", "other"}, `{"site-id":"other","description":"x"}`, 1, nil},
		{"a manufacturer of its device types", config.OpMerge, []string{"manufacturer", "dell"}, `{"manufacturer-id":"dell","display-name":"DELL"}`, 1, nil},
		{"an address's DNS name", config.OpMerge, []string{"ip-address", "10.0.1.3"}, `{"address":"10.0.1.3","dns-name":"n2.fab1.prod1.stanford1.aetherproject.net"}`, 1,
			[]string{"dhcp/kea-dhcp4.json", "dns/0-25.1.0.10.in-addr.arpa.zone", "dns/fab1.prod1.stanford1.aetherproject.net.zone"}},
		{"a device type stanford1 uses", config.OpMerge, []string{"device-type", "mgmt-switch"}, `{"device-type-id":"mgmt-switch","model":"AS4610-54P"}`, 1, nil},
		{"a primary address removed", config.OpDelete, []string{"site", "stanford1", "device", "mgmtswitch1", "primary-ip"}, "", 1,
			[]string{"ansible/host_vars/mgmtswitch1.prod1.stanford1.aetherproject.net.yml", "dns/stanford1.aetherproject.net.zone", "prometheus/snmp.json"}},
		{"a deleted address", config.OpDelete, []string{"ip-address", "10.0.0.3"}, "", 1,
			[]string{"ansible/host_vars/mgmtswitch1.prod1.stanford1.aetherproject.net.yml", "dhcp/kea-dhcp4.json", "dns/0-25.0.0.10.in-addr.arpa.zone", "dns/admin.prod1.stanford1.aetherproject.net.zone"}},
	}
	prev := byName(all[1])
	for _, st := range steps {
		change(t, eng, st.op, st.path, st.body)
		all, n, err := c.All(eng, set)
		if err != nil || n != st.rendered {
			t.Fatalf("%s: %d sites rendered (want %d), %v", st.what, n, st.rendered, err)
		}
		fresh, ok, err := Render(eng.Snapshot(), set, "stanford1")
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		got := byName(all[1])
		var changed []string
		for _, a := range fresh.Artifacts {
			if got[a.Name] != string(a.Content) {
				t.Errorf("%s: the cached %s is stale", st.what, a.Name)
			}
			if prev[a.Name] != string(a.Content) {
				changed = append(changed, a.Name)
			}
		}
		if !equal(changed, st.changed) {
			t.Errorf("%s: changed %v, want %v", st.what, changed, st.changed)
		}
		prev = got
	}
	v1, _ := inventory.ScopeVersion(eng.Snapshot(), set, "stanford1")
	change(t, eng, config.OpDelete, []string{"site", "stanford1", "cable", "c1"}, "")
	v2, _ := inventory.ScopeVersion(eng.Snapshot(), set, "stanford1")
	if v1 == v2 {
		t.Error("deleting a cable left the site's scope version as it was")
	}
}

func byName(r *Rendered) map[string]string {
	m := map[string]string{}
	for _, a := range r.Artifacts {
		m[a.Name] = string(a.Content)
	}
	return m
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
