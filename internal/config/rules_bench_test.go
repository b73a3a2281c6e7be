package config_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	_ "github.com/amp-edge/amp/internal/provision/rules" // the rules measured
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

// BenchmarkInventoryRulesCost: what the inventory's rules add to a
// commit, against the same commit without them (the baseline), the two
// alternating so both see the same machine load; x-plain is the ratio of
// the medians.
//
//   - object=site: a 200-device site in one transaction (192 servers in 6
//     racks, 8 switches, 1,000 interfaces of which 768 come from templates,
//     192 cables, 192 addresses with MACs and primary IPs); the baseline
//     commits the same objects, the template interfaces given explicitly.
//     Each round deletes the site again, untimed.
//   - object=address: one address added at that site (an IPAM
//     allocation), removed again untimed.
//   - object=device: one device of that site moved in its rack (moved
//     back untimed): the rack rule reads the site's devices.
func BenchmarkInventoryRulesCost(b *testing.B) {
	with, _ := testenv.Engine(b, false)
	plain, _ := testenv.Engine(b, false)
	set := inventory.Set(with.Schema())
	edit := func(op config.Op, path, body string) config.Edit {
		loc, err := schema.Resolve(set, "", schema.SplitPath(path))
		if err != nil {
			b.Fatal(err)
		}
		ed := config.Edit{Op: op, Loc: loc}
		if body != "" {
			var v any
			dec := json.NewDecoder(strings.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
			if ed.Value, err = schema.DecodeJSON(loc.Node, v, loc.REST(), !loc.Collection, schema.DecodeOptions{OmitKeysOK: true}); err != nil {
				b.Fatal(err)
			}
		}
		return ed
	}
	submit := func(e *config.Engine, ed config.Edit) {
		if _, err := e.Submit(context.Background(), &config.Request{Edits: []config.Edit{ed}}); err != nil {
			b.Fatal(err)
		}
	}
	// timed submits ed (decoded beforehand), then undo, untimed.
	timed := func(e *config.Engine, ed, undo config.Edit) time.Duration {
		runtime.GC() // neither side pays for the other's garbage
		t0 := time.Now()
		submit(e, ed)
		took := time.Since(t0)
		submit(e, undo)
		return took
	}
	removeAll := edit(config.OpRemove, "", "")
	b.Run("object=site", func(b *testing.B) {
		// The rules run: a committed server has its template interfaces.
		submit(with, edit(config.OpMerge, "", siteOf200(false)))
		if _, ok := with.Snapshot().Get(inventory.SiteKey(set, "s1") + "/device/srv0/interface/bmc"); !ok {
			b.Fatal("the rules did not run: srv0 has no template interface bmc")
		}
		submit(with, removeAll)
		pairs(b, func() time.Duration { return timed(with, edit(config.OpMerge, "", siteOf200(false)), removeAll) },
			func() (d time.Duration) {
				config.WithoutRules(func() { d = timed(plain, edit(config.OpMerge, "", siteOf200(true)), removeAll) })
				return d
			})
	})
	b.Run("object=address", func(b *testing.B) {
		submit(with, edit(config.OpMerge, "", siteOf200(false)))
		config.WithoutRules(func() { submit(plain, edit(config.OpMerge, "", siteOf200(true))) })
		add := edit(config.OpCreate, "ip-address/10.0.1.250", `{"prefix-length":23,"site":"s1","device":"srv0","interface":"eno1"}`)
		del := edit(config.OpDelete, "ip-address/10.0.1.250", "")
		pairs(b, func() time.Duration { return timed(with, add, del) },
			func() (d time.Duration) {
				config.WithoutRules(func() { d = timed(plain, add, del) })
				return d
			})
	})
	b.Run("object=device", func(b *testing.B) {
		submit(with, edit(config.OpMerge, "", siteOf200(false)))
		config.WithoutRules(func() { submit(plain, edit(config.OpMerge, "", siteOf200(true))) })
		move := edit(config.OpMerge, "site/s1/device/srv0", `{"position":35}`)
		back := edit(config.OpMerge, "site/s1/device/srv0", `{"position":1}`)
		pairs(b, func() time.Duration { return timed(with, move, back) },
			func() (d time.Duration) {
				config.WithoutRules(func() { d = timed(plain, move, back) })
				return d
			})
	})
}

// pairs runs b.N rounds of withRules and withoutRules, alternating which
// goes first, and reports the medians and their ratio: a round another
// process slowed does not decide it.
func pairs(b *testing.B, withRules, withoutRules func() time.Duration) {
	var took [2][]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			took[0] = append(took[0], withRules())
			took[1] = append(took[1], withoutRules())
		} else {
			took[1] = append(took[1], withoutRules())
			took[0] = append(took[0], withRules())
		}
	}
	rules, base := median(took[0]), median(took[1])
	b.ReportMetric(float64(rules.Nanoseconds()), "ns/op-rules")
	b.ReportMetric(float64(base.Nanoseconds()), "ns/op-plain")
	b.ReportMetric(float64(rules)/float64(base), "x-plain")
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// siteOf200 is the inventory root's JSON: the site of
// BenchmarkInventoryRulesCost. With explicit, it lists the interfaces the
// device types' templates would add, so the baseline, which has no rules
// to add them, commits the same objects.
func siteOf200(explicit bool) string {
	var sb strings.Builder
	ports := make([]string, 48)
	for i := range ports {
		ports[i] = fmt.Sprintf(`{"name":"p%d","type":"1000base-t"}`, i+1)
	}
	fmt.Fprintf(&sb, `{"organization":[{"org-id":"o1"}],"manufacturer":[{"manufacturer-id":"m1"}],
	  "device-type":[{"device-type-id":"srv","manufacturer":"m1","model":"S",
	    "interface-template":[{"name":"eno1","type":"25gbase-x-sfp28"},{"name":"eno2","type":"25gbase-x-sfp28"},{"name":"bmc","type":"1000base-t","mgmt-only":true}]},
	    {"device-type-id":"sw","manufacturer":"m1","model":"W","full-depth":false,"interface-template":[%s]}],
	  "site":[{"site-id":"s1","organization":"o1",
	    "rack":[{"rack-id":"r0"},{"rack-id":"r1"},{"rack-id":"r2"},{"rack-id":"r3"},{"rack-id":"r4"},{"rack-id":"r5"}],
	    "vlan":[{"name":"MGMT","vid":800}],
	    "prefix":[{"prefix-id":"mgmt","prefix":"10.0.0.0/23","vlan":"MGMT"}],
	    "device":[`, strings.Join(ports, ","))
	var ips, cables []string
	swIfaces, srvIfaces := "", ""
	if explicit {
		swIfaces = `,"interface":[` + strings.Join(ports, ",") + `]`
		srvIfaces = `,{"name":"eno2","type":"25gbase-x-sfp28"},{"name":"bmc","type":"1000base-t","mgmt-only":true}`
	}
	for i := 0; i < 8; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		face := []string{"front", "rear"}[i%2]
		fmt.Fprintf(&sb, `{"device-id":"sw%d","devname":"sw%d","role":"management-switch","device-type":"sw","rack":"r%d","position":%d,"face":%q%s}`,
			i, i, i%6, 40+i/6, face, swIfaces)
	}
	for i := 0; i < 192; i++ {
		fmt.Fprintf(&sb, `,{"device-id":"srv%d","devname":"srv%d","role":"compute-server","device-type":"srv","rack":"r%d","position":%d,
		  "primary-ip":"10.0.%d.%d","interface":[{"name":"eno1","type":"25gbase-x-sfp28","mac-address":"52:54:00:00:%02x:%02x","untagged-vlan":"MGMT"}%s]}`,
			i, i, i%6, 1+i/6, i/200, 1+i%200, i/256, i%256, srvIfaces)
		ips = append(ips, fmt.Sprintf(`{"address":"10.0.%d.%d","prefix-length":23,"site":"s1","device":"srv%d","interface":"eno1"}`, i/200, 1+i%200, i))
		cables = append(cables, fmt.Sprintf(`{"cable-id":"c%d","a":{"device":"sw%d","interface":"p%d"},"b":{"device":"srv%d","interface":"eno1"}}`, i, i/24, 1+i%24, i))
	}
	fmt.Fprintf(&sb, `],"cable":[%s]}],"ip-address":[%s]}`, strings.Join(cables, ","), strings.Join(ips, ","))
	return sb.String()
}
