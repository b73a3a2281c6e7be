package sdcore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
)

// siteAs is the small test site under another id.
func siteAs(id string) string {
	return strings.Replace(siteS1, `"site-id":"s1"`, fmt.Sprintf(`"site-id":%q`, id), 1)
}

// randomEdit is one edit the truth check draws: a REST-style path, an op
// and a body. Edits the engine refuses (a delete of something still
// referred to, say) change nothing and are drawn again.
type randomEdit struct {
	op         config.Op
	path, body string
}

// drawEdit picks an edit touching one of: a site's own fields (its core,
// so sites of acme and other end up sharing a core and colliding), its
// walked lists (device groups, slices, small cells, UPFs, IP domains), the
// devices and SIM cards device groups name (and ones they do not), the
// enterprise's applications, endpoints and traffic classes, whole sites
// and whole device groups deleted and created again.
func drawEdit(rng *rand.Rand) randomEdit {
	ent, site := "acme", "s1"
	switch rng.IntN(3) {
	case 1:
		site = "s3"
	case 2:
		ent, site = "other", "s2"
	}
	sp := ent + "/site/" + site
	n := rng.IntN(1000)
	cores := []string{testCore, "http://core.b:5000/config", "http://core.c:5000/config"}
	switch rng.IntN(22) {
	case 0:
		return randomEdit{config.OpMerge, sp, fmt.Sprintf(`{"connectivity-service":{"core-5g":{"endpoint":%q}}}`, cores[rng.IntN(len(cores))])}
	case 1:
		return randomEdit{config.OpMerge, sp + "/device-group/dg-ok", fmt.Sprintf(`{"mbr":{"uplink":%d}}`, n+1)}
	case 2:
		return randomEdit{config.OpMerge, sp + "/sim-card/sim1", fmt.Sprintf(`{"imsi":"0010100000%05d"}`, n)}
	case 3:
		return randomEdit{config.OpMerge, sp + "/sim-card/sim1", fmt.Sprintf(`{"enable":%v}`, rng.IntN(2) == 0)}
	case 4:
		return randomEdit{config.OpRemove, sp + "/sim-card/sim1", ""}
	case 5:
		return randomEdit{config.OpMerge, sp + "/sim-card/sim1", `{"imsi":"001010000000001"}`}
	case 6:
		return randomEdit{config.OpMerge, sp + "/device/d1", fmt.Sprintf(`{"sim-card":"sim%d"}`, 1+rng.IntN(4))}
	case 7:
		return randomEdit{config.OpRemove, sp + "/device/d5", ""}
	case 8:
		return randomEdit{config.OpMerge, sp + "/device/d5", `{"sim-card":"sim2"}`}
	case 9: // a SIM and a device no device group names
		return randomEdit{config.OpMerge, sp + fmt.Sprintf("/sim-card/x%d", n%7), fmt.Sprintf(`{"imsi":"0010199%08d","display-name":"n%d"}`, n, n)}
	case 10:
		return randomEdit{config.OpMerge, ent + "/application/app-a/endpoint/http", fmt.Sprintf(`{"port-start":%d}`, 1+n)}
	case 11:
		return randomEdit{config.OpRemove, ent + "/application/app-a/endpoint/dns", ""}
	case 12:
		return randomEdit{config.OpMerge, ent + "/application/app-a/endpoint/dns", fmt.Sprintf(`{"port-start":%d,"protocol":"UDP"}`, 50+n%10)}
	case 13:
		return randomEdit{config.OpMerge, ent + "/traffic-class/tc-full", fmt.Sprintf(`{"qci":%d}`, 1+n%9)}
	case 14:
		return randomEdit{config.OpMerge, ent + "/application/app-b", fmt.Sprintf(`{"address":"10.8.%d.1/32"}`, n%250)}
	case 15:
		return randomEdit{config.OpMerge, sp + "/small-cell/c1", fmt.Sprintf(`{"address":"gnb%d"}`, n%3)}
	case 16:
		return randomEdit{config.OpMerge, sp + "/upf/u1", fmt.Sprintf(`{"port":%d}`, 8000+n)}
	case 17:
		return randomEdit{config.OpMerge, sp + "/ip-domain/ip1", fmt.Sprintf(`{"mtu":%d}`, 1200+n)}
	case 18:
		return randomEdit{config.OpMerge, sp + "/slice/sl1", fmt.Sprintf(`{"default-behavior":%q}`, []string{"ALLOW-ALL", "DENY-ALL", "ALLOW-PUBLIC"}[n%3])}
	case 19: // a slice's device group list
		return randomEdit{config.OpMerge, sp + "/slice/sl1", fmt.Sprintf(`{"device-group":[{"device-group":%q}]}`, []string{"dg-ok", "dg-empty", "dg-unused"}[n%3])}
	case 20: // a whole site deleted, or back
		if rng.IntN(2) == 0 {
			return randomEdit{config.OpRemove, sp, ""}
		}
		return randomEdit{config.OpMerge, sp, siteAs(site)}
	default: // an enterprise-level traffic class created or removed
		if rng.IntN(2) == 0 {
			return randomEdit{config.OpRemove, ent + "/traffic-class/tc-extra", ""}
		}
		return randomEdit{config.OpMerge, ent + "/traffic-class/tc-extra", `{"qci":3}`}
	}
}

// The truth check of the incremental render: after every committed edit of
// a random sequence, what one adapter renders, reusing the sites it
// rendered before, is exactly what a new adapter renders from scratch. Two
// enterprises, three sites (copies of the small test site, so names
// collide once their cores meet), edits to every kind of input.
func TestIncrementalRenderEqualsFullRender(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			env := smallEnv(t)
			env.submit(t, []string{"other"},
				env.edit(t, config.OpMerge, "acme/site/s3", siteAs("s3")),
				env.edit(t, config.OpMerge, "other", enterpriseBase),
				env.edit(t, config.OpMerge, "other/site/s2", siteAs("s2")))
			rng := rand.New(rand.NewPCG(seed, 15))
			inc := New(Options{})
			inc.Render(env.eng.Snapshot())
			applied := 0
			for step := 0; applied < 60; step++ {
				if step > 2000 {
					t.Fatalf("only %d of %d drawn edits were accepted", applied, step)
				}
				e := drawEdit(rng)
				ed := env.edit(t, e.op, e.path, e.body)
				if _, err := env.eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{ed}, Principal: "test"}); err != nil {
					continue // refused: nothing changed
				}
				applied++
				snap := env.eng.Snapshot()
				got, rendered, _ := renderSites(inc, snap)
				want := New(Options{}).Render(snap)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("after edit %d (%v %s %s) the incremental render differs from a full one:\n%s",
						applied, e.op, e.path, e.body, renderDiff(got, want))
				}
				if rendered > 1 && !enterpriseLevel(e.path) {
					t.Errorf("edit %s re-rendered %d sites; one site's edit re-renders that site only", e.path, rendered)
				}
			}
		})
	}
}

// enterpriseLevel reports whether a path is an enterprise's object outside
// its sites (an application, a traffic class), which any site may use.
func enterpriseLevel(path string) bool {
	for _, p := range []string{"/application/", "/traffic-class/"} {
		if strings.Contains(path, p) {
			return true
		}
	}
	return false
}

// renderSites renders snap with a and says how many sites that render
// rendered and how many it reused (amp_sdcore_render_sites_total).
func renderSites(a *Adapter, snap *config.Snapshot) (map[string]controller.Desired, int, int) {
	r0, u0 := testutil.ToFloat64(a.cache.rendered), testutil.ToFloat64(a.cache.reused)
	out := a.Render(snap)
	return out, int(testutil.ToFloat64(a.cache.rendered) - r0), int(testutil.ToFloat64(a.cache.reused) - u0)
}

// renderDiff names the ids whose Desired differ, with both versions.
func renderDiff(got, want map[string]controller.Desired) string {
	var ids []string
	for id := range got {
		ids = append(ids, id)
	}
	for id := range want {
		if _, ok := got[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := ""
	for _, id := range ids {
		g, gok := got[id]
		w, wok := want[id]
		if gok && wok && reflect.DeepEqual(g, w) {
			continue
		}
		out += fmt.Sprintf("%s:\n  incremental (%v): %+v\n  full (%v): %+v\n", id, gok, g, wok, w)
	}
	return out
}

// An edit to a SIM card no device group names is no input of any render:
// nothing is rendered again; one to a SIM a device group names re-renders
// that site only, and changes its device group; one to an application
// re-renders every site of the enterprise.
func TestIncrementalRenderReusesUntouchedSites(t *testing.T) {
	env := smallEnv(t)
	env.submit(t, nil, env.edit(t, config.OpMerge, "acme/site/s3", strings.ReplaceAll(siteAs("s3"), testCore, "http://core.s3:5000/config")))
	reg := prometheus.NewRegistry()
	a := New(Options{Metrics: reg})
	var before map[string]controller.Desired
	for _, step := range []struct {
		what             string
		edit             func()
		rendered, reused int
		same             bool
	}{
		{what: "first render", rendered: 2},
		{what: "the same snapshot again", reused: 2, same: true},
		{what: "a SIM no device group names", edit: func() {
			env.submit(t, nil, env.edit(t, config.OpMerge, "acme/site/s3/sim-card/spare", `{"imsi":"001010000000099"}`))
		}, reused: 2, same: true},
		{what: "a SIM of s1's device group dg-ok", edit: func() {
			env.submit(t, nil, env.edit(t, config.OpMerge, "acme/site/s1/sim-card/sim1", `{"imsi":"001010000000077"}`))
		}, rendered: 1, reused: 1},
		{what: "an application both sites use", edit: func() {
			env.submit(t, nil, env.edit(t, config.OpMerge, "acme/application/app-b", `{"address":"10.8.1.2/32"}`))
		}, rendered: 2},
	} {
		if step.edit != nil {
			step.edit()
		}
		after, rendered, reused := renderSites(a, env.eng.Snapshot())
		if rendered != step.rendered || reused != step.reused {
			t.Errorf("%s: %d sites rendered, %d reused; want %d and %d", step.what, rendered, reused, step.rendered, step.reused)
		}
		if step.same && !reflect.DeepEqual(before, after) {
			t.Errorf("%s changed the render:\n%s", step.what, renderDiff(after, before))
		}
		before = after
	}
	dg := id(kindDeviceGroup, testCore, "acme", "s1", "dg-ok")
	if d := mustDesired(t, a.Render(env.eng.Snapshot()), dg); !strings.Contains(string(d.Body), `"001010000000077"`) {
		t.Errorf("%s after its SIM's IMSI changed: %s %s", dg, d.Body, d.Err)
	}
	if n, err := testutil.GatherAndCount(reg, "amp_sdcore_render_sites_total"); err != nil || n != 2 {
		t.Errorf("amp_sdcore_render_sites_total: %d series (%v), want rendered and reused", n, err)
	}
}

// A change to the operator's grants re-renders every site: which backend a
// site may use, and under which name, depends on them.
func TestIncrementalRenderFollowsGrants(t *testing.T) {
	env := smallEnv(t)
	otherSite(t, env)
	reg := registry(t, `backends: [{name: acme-core, kind: core, url: "`+testCore+`", enterprises: [acme]}]`)
	a := New(Options{Backends: reg})
	snap := env.eng.Snapshot()
	a.Render(snap)
	if err := reg.Load([]byte(`backends: [{name: shared, kind: core, url: "` + testCore + `", enterprises: [acme, other]}]`)); err != nil {
		t.Fatal(err)
	}
	got, want := a.Render(snap), New(Options{Backends: reg}).Render(snap)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the grants changed the incremental render differs from a full one:\n%s", renderDiff(got, want))
	}
	if _, ok := got[id(kindDeviceGroup, testCore, "other", "s2", "other_dg-ok")]; !ok {
		t.Errorf("other's device group is not on the core granted to it now")
	}
}
