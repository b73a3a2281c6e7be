package sdcore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/endpoint"
)

// otherSite adds enterprise "other" with site s2 on testCore, naming its
// device group like acme's (the shared-core tests here and
// TestNamesCollideOnASharedCore).
func otherSite(t *testing.T, env *testEnv) {
	t.Helper()
	env.submit(t, []string{"other"},
		env.edit(t, config.OpMerge, "other", `{"traffic-class":[{"traffic-class-id":"tc"}]}`),
		env.edit(t, config.OpMerge, "other/site/s2", `{"site-id":"s2",
		 "imsi-definition":{"mcc":"001","mnc":"01","enterprise":2,"format":"CCCNNNEEESSSSSS"},
		 "connectivity-service":{"core-5g":{"endpoint":"`+testCore+`"}},
		 "ip-domain":[{"ip-domain-id":"ip","dnn":"internet","subnet":"10.9.0.0/24"}],
		 "device-group":[{"device-group-id":"dg-ok","ip-domain":"ip","traffic-class":"tc","mbr":{"uplink":1,"downlink":1}}],
		 "slice":[{"slice-id":"solo","sst":"1","sd":"1","default-behavior":"DENY-ALL","device-group":[{"device-group":"dg-ok"}]}]}`))
}

func registry(t *testing.T, yaml string) *endpoint.Registry {
	r := endpoint.NewRegistry(nil)
	if err := r.Load([]byte(yaml)); err != nil {
		t.Fatal(err)
	}
	return r
}

// A core granted to two enterprises holds both enterprises' objects under
// names prefixed with the enterprise: nothing collides, nothing blocks.
func TestSharedCoreKeepsEnterprisesApart(t *testing.T) {
	env := smallEnv(t)
	otherSite(t, env)
	reg := registry(t, `backends: [{name: shared, kind: core, url: "`+testCore+`", enterprises: [acme, other]}]`)
	out := New(Options{Backends: reg}).Render(env.eng.Snapshot())
	for _, k := range []string{id(kindDeviceGroup, testCore, "acme", "s1", "acme_dg-ok"), id(kindDeviceGroup, testCore, "other", "s2", "other_dg-ok")} {
		if d := mustDesired(t, out, k); d.Err != "" {
			t.Errorf("%s: %s", k, d.Err)
		}
	}
	sl := decode(t, mustDesired(t, out, id(kindNetworkSlice, testCore, "other", "s2", "other_solo")).Body)
	if dgs, _ := sl["site-device-group"].([]any); len(dgs) != 1 || dgs[0] != "other_dg-ok" {
		t.Errorf("the slice names its device groups %v; want [other_dg-ok]", sl["site-device-group"])
	}
}

// A core not granted to the enterprise is not used, whatever the
// configuration says, and the error names neither the core's owner nor
// its objects.
func TestUngrantedCoreIsNotUsed(t *testing.T) {
	env := smallEnv(t)
	otherSite(t, env)
	reg := registry(t, `backends: [{name: acme-core, kind: core, url: "`+testCore+`", enterprises: [acme]}]`)
	out := New(Options{Backends: reg}).Render(env.eng.Snapshot())
	d := mustDesired(t, out, id(kindNetworkSlice, "", "other", "s2", "solo"))
	if d.Backend != "" || !strings.Contains(d.Err, "core-5g/endpoint: "+testCore+" is not a core backend the operator granted to enterprise other") ||
		strings.Contains(d.Err, "acme") {
		t.Errorf("slice of the ungranted core: backend %q, %q", d.Backend, d.Err)
	}
	for k, d := range out {
		if strings.Contains(k, "/other/") && d.Backend != "" {
			t.Errorf("%s goes to %s", k, d.Backend)
		}
	}
	if d := mustDesired(t, out, id(kindDeviceGroup, testCore, "acme", "s1", "dg-ok")); d.Err != "" {
		t.Errorf("acme's own device group: %s", d.Err)
	}
}

// BenchmarkRenderGrants: the cost of checking the grants (and the shared
// names) when rendering the demo data, against rendering without them, in
// the same run.
func BenchmarkRenderGrants(b *testing.B) {
	env := demoEnv(b)
	snap := env.eng.Snapshot()
	var yaml strings.Builder
	yaml.WriteString("backends:\n")
	for _, ent := range []string{"acme", "starbucks"} {
		for _, site := range []string{"chicago", "dallas", "seattle", "newyork"} {
			for _, k := range []string{"core/config", "upf-1", "upf-2"} {
				kind := endpoint.UPF
				if k == "core/config" {
					kind = endpoint.Core
				}
				fmt.Fprintf(&yaml, "- {name: %s-%s-%s, kind: %s, url: \"http://demo-backends.invalid/%s-%s/%s\", enterprises: [%s]}\n",
					ent, site, strings.ReplaceAll(k, "/", "-"), kind, ent, site, k, ent)
			}
		}
	}
	reg := endpoint.NewRegistry(nil)
	if err := reg.Load([]byte(yaml.String())); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		a    *Adapter
	}{{"open", New(Options{})}, {"granted", New(Options{Backends: reg})}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				out := bc.a.Render(snap)
				if len(out) != 24 {
					b.Fatalf("%d objects", len(out))
				}
			}
		})
	}
}
