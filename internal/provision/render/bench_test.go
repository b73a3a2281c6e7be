package render

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

var (
	benchSites   = flag.Int("render.sites", 500, "sites of BenchmarkRenderSites")
	benchDevices = flag.Int("render.devices", 50, "devices per site of BenchmarkRenderSites (one management server and switch, the rest compute servers)")
)

// benchSite is site number n of the benchmark's inventory: the book's
// layout in 10.<n/64>.<4(n%64)>.0/22, with devices-2 compute servers
// (three interfaces and three addresses each).
func benchSite(n, devices int) (site map[string]any, ips []any) {
	a, b := n/64, (n%64)*4
	id := fmt.Sprintf("site%d", n)
	net := func(c, d int) string { return fmt.Sprintf("10.%d.%d.%d", a, b+c, d) }
	site = map[string]any{
		"site-id": id, "organization": "org", "domain": "example.net",
		"deployment": []any{map[string]any{"deployment-id": "prod1", "kind": "production", "ordinal": json.Number("0")}},
		"vlan": []any{
			map[string]any{"name": "ADMIN", "vid": json.Number("1"), "role": "admin"},
			map[string]any{"name": "MGMT", "vid": json.Number("800"), "role": "mgmt"},
			map[string]any{"name": "FABRIC", "vid": json.Number("801"), "role": "fabric"},
		},
		"prefix": []any{
			map[string]any{"prefix-id": "admin", "prefix": net(0, 0) + "/25", "vlan": "ADMIN", "dns-domain": "admin.prod1." + id + ".example.net"},
			map[string]any{"prefix-id": "mgmt", "prefix": net(0, 128) + "/25", "vlan": "MGMT", "dns-domain": "mgmt.prod1." + id + ".example.net", "gateway": net(0, 129)},
			map[string]any{"prefix-id": "fab1", "prefix": net(1, 0) + "/25", "vlan": "FABRIC", "dns-domain": "fab1.prod1." + id + ".example.net"},
		},
	}
	var devs []any
	addIP := func(addr, dev, ifname, dns string) {
		ips = append(ips, map[string]any{"address": addr, "prefix-length": json.Number("25"), "site": id, "device": dev, "interface": ifname, "dns-name": dns})
	}
	mac := func(d, i int) string { return fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", n>>8, n&255, d, i) }
	devs = append(devs, map[string]any{"device-id": "mgmtserver1", "devname": "mgmtserver1", "deployment": "prod1", "role": "management-server", "device-type": "server",
		"interface": []any{
			map[string]any{"name": "eth0", "type": "1000base-t", "mac-address": mac(0, 0), "untagged-vlan": "ADMIN"},
			map[string]any{"name": "bmc", "type": "1000base-t", "mgmt-only": true, "mac-address": mac(0, 1)},
			map[string]any{"name": "qsfp0", "type": "100gbase-x-qsfp28", "mac-address": mac(0, 2)},
			map[string]any{"name": "mgmt800", "type": "virtual", "parent": "eth0", "untagged-vlan": "MGMT"},
		}})
	addIP(net(0, 1), "mgmtserver1", "eth0", "mgmtserver1.admin.prod1."+id+".example.net")
	addIP(net(0, 129), "mgmtserver1", "mgmt800", "mgmtserver1.mgmt.prod1."+id+".example.net")
	addIP(net(1, 1), "mgmtserver1", "qsfp0", "mgmtserver1.fab1.prod1."+id+".example.net")
	devs = append(devs, map[string]any{"device-id": "mgmtswitch1", "devname": "mgmtswitch1", "deployment": "prod1", "role": "management-switch", "device-type": "switch",
		"interface": []any{map[string]any{"name": "gbe1", "type": "1000base-t", "mac-address": mac(1, 0)}}})
	addIP(net(0, 2), "mgmtswitch1", "gbe1", "mgmtswitch1.admin.prod1."+id+".example.net")
	for d := 0; d < devices-2; d++ {
		name := fmt.Sprintf("node%d", d+1)
		devs = append(devs, map[string]any{"device-id": name, "devname": name, "deployment": "prod1", "role": "compute-server", "device-type": "server",
			"interface": []any{
				map[string]any{"name": "eth0", "type": "1000base-t", "mac-address": mac(d+2, 0), "untagged-vlan": "MGMT"},
				map[string]any{"name": "bmc", "type": "1000base-t", "mgmt-only": true, "mac-address": mac(d+2, 1), "untagged-vlan": "ADMIN"},
				map[string]any{"name": "qsfp0", "type": "100gbase-x-qsfp28", "mac-address": mac(d+2, 2), "untagged-vlan": "FABRIC"},
			}})
		addIP(net(0, 130+d), name, "eth0", name+".mgmt.prod1."+id+".example.net")
		addIP(net(0, 3+d), name, "bmc", name+"-bmc.admin.prod1."+id+".example.net")
		addIP(net(1, 2+d), name, "qsfp0", name+".fab1.prod1."+id+".example.net")
	}
	site["device"] = devs
	return site, ips
}

func submit(b *testing.B, eng *config.Engine, set *schema.ModelSet, path []string, v any) {
	b.Helper()
	loc, err := schema.Resolve(set, "", path)
	if err != nil {
		b.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), len(path)%2 == 0, schema.DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}}, Principal: "bench"}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRenderSites renders every artifact of every site with a new
// Cache (the baseline: full-ms), then changes one device's MAC and brings
// every site up to date again through the same cache (rerender-ms), which
// renders only the changed site (sites-rerendered). rerender/full is the
// ratio the issue bounds by 1/100.
// go test -run '^$' -bench RenderSites -benchtime 1x ./internal/provision/render [-render.sites 500]
func BenchmarkRenderSites(b *testing.B) {
	eng, _ := testenv.Engine(b, false)
	set := inventory.Set(eng.Schema())
	submit(b, eng, set, []string{"organization"}, []any{map[string]any{"org-id": "org"}})
	submit(b, eng, set, []string{"manufacturer"}, []any{map[string]any{"manufacturer-id": "m"}})
	submit(b, eng, set, []string{"device-type"}, []any{
		map[string]any{"device-type-id": "server", "manufacturer": "m", "model": "S"},
		map[string]any{"device-type-id": "switch", "manufacturer": "m", "model": "W"},
	})
	ids := make([]string, *benchSites)
	for n := range ids {
		site, ips := benchSite(n, *benchDevices)
		ids[n] = site["site-id"].(string)
		submit(b, eng, set, []string{"site"}, []any{site})
		submit(b, eng, set, []string{"ip-address"}, ips)
	}
	var full, rerender time.Duration
	rerendered := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cache := NewCache()
		start := time.Now()
		all, n, err := cache.All(eng, set)
		full += time.Since(start)
		if err != nil || len(all) != len(ids) || n != len(ids) {
			b.Fatalf("full pass: %d sites, %d rendered, %v", len(all), n, err)
		}
		b.StopTimer()
		changed := ids[i%len(ids)]
		submit(b, eng, set, []string{"site", changed, "device", "node1", "interface", "eth0"},
			map[string]any{"name": "eth0", "mac-address": fmt.Sprintf("52:54:ff:ff:%02x:%02x", i>>8&255, i&255)})
		b.StartTimer()
		start = time.Now()
		all, n, err = cache.All(eng, set)
		rerender += time.Since(start)
		if err != nil || len(all) != len(ids) || n != 1 {
			b.Fatalf("after a change to %s: %d sites, %d rendered, %v", changed, len(all), n, err)
		}
		rerendered += n
	}
	n := float64(b.N)
	b.ReportMetric(full.Seconds()*1000/n, "full-ms")
	b.ReportMetric(rerender.Seconds()*1000/n, "rerender-ms")
	b.ReportMetric(float64(rerender)/float64(full), "rerender/full")
	b.ReportMetric(float64(rerendered)/n, "sites-rerendered")
}
