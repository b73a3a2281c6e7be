package probes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

func TestDecodePushRefusals(t *testing.T) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for body, paths := range map[string][]string{
		`{"results":[{"probe":"","kind":"bogus","ok":true,"duration-seconds":-1}]}`:      {"/results/0/probe", "/results/0/kind", "/results/0/duration-seconds", "/results/0/at"},
		`{"results":[{"probe":"p","kind":"tcp","ok":true,"at":"1999-01-01T00:00:00Z"}]}`: {"/results/0/at"},
		`{"results":[{"probe":"p","kind":"tcp","ok":true,"at":"` + now + `","x":1}]}`:    {"/"},
		`{"results":[{"probe":"p","kind":"tcp","ok":true,"at":"` + now + `"}]} {}`:       {"/"},
		`{}`: {"/results"},
		`{"results":[{"probe":"` + strings.Repeat("p", 64) + `","kind":"tcp","ok":true,"at":"` + now + `"}]}`:                 {"/results/0/probe"},
		`{"results":[{"probe":"p","kind":"tcp","ok":true,"at":"` + now + `","message":"` + strings.Repeat("m", 1025) + `"}]}`: {"/results/0/message"},
	} {
		_, err := DecodePush([]byte(body))
		var se *schema.Error
		if !errors.As(err, &se) || se.Kind != schema.KindInvalid {
			t.Errorf("%.60s: %v", body, err)
			continue
		}
		got := map[string]bool{}
		for _, p := range se.Problems {
			got[p.Path] = true
		}
		for _, p := range paths {
			if !got[p] {
				t.Errorf("%.60s: %v does not name %s", body, err, p)
			}
		}
	}
	if _, err := DecodePush(make([]byte, MaxPushBody+1)); schema.KindOf(err) != schema.KindTooLarge {
		t.Errorf("an oversized push: %v", err)
	}
	p, err := DecodePush([]byte(`{"results":[{"probe":"user-plane","kind":"user-plane","ok":true,"duration-seconds":0.01,"at":"` + now + `"}]}`))
	if err != nil || len(p.Results) != 1 || !p.Results[0].OK {
		t.Fatalf("a good push: %v %v", p, err)
	}
}

func create(t testing.TB, eng *config.Engine, set *schema.ModelSet, tenant, list, body string) {
	t.Helper()
	loc, err := schema.Resolve(set, tenant, []string{list})
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
	if _, err := eng.Submit(context.Background(), &config.Request{Principal: "test",
		Edits: []config.Edit{{Op: config.OpCreate, Loc: loc, Value: val}}}); err != nil {
		t.Fatal(err)
	}
}

// sites declares acme's site-a (clusters edge-a, edge-c labelled
// env=lab) and starbucks' site-b (edge-b).
func sites(t *testing.T) *config.Engine {
	t.Helper()
	eng, _ := testenv.Engine(t, true)
	inv := inventory.Set(eng.Schema())
	create(t, eng, inv, "", "organization", `[{"org-id":"acme-org","tenant":"acme"},{"org-id":"sb-org","tenant":"starbucks"}]`)
	create(t, eng, inv, "", "site", `[{"site-id":"site-a","organization":"acme-org","tenant":"acme"},{"site-id":"site-b","organization":"sb-org","tenant":"starbucks"}]`)
	create(t, eng, inv, "", "cluster", `[{"cluster-id":"edge-a","site":"site-a"},{"cluster-id":"edge-c","site":"site-a","label":[{"name":"env","value":"lab"}]},{"cluster-id":"edge-b","site":"site-b"}]`)
	return eng
}

func specs(t *testing.T, eng *config.Engine, cluster string) map[string]wire.ProbeSpec {
	t.Helper()
	objs, err := source{}.Objects(eng.Schema(), eng.Snapshot(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]wire.ProbeSpec{}
	for _, o := range objs {
		var s wire.ProbeSpec
		if err := json.Unmarshal(o.Spec, &s); err != nil || o.Kind != wire.KindProbe {
			t.Fatalf("%+v: %v", o, err)
		}
		out[o.Name] = s
	}
	return out
}

// TestSourceSelects: every cluster runs the built-ins; a declared
// user-plane probe replaces the built-in's target where it selects; an
// enterprise's probes reach its own sites' clusters only.
func TestSourceSelects(t *testing.T) {
	eng := sites(t)
	for _, c := range []string{"edge-a", "edge-b"} {
		got := specs(t, eng, c)
		if len(got) != 2 || got[BuiltinUserPlane].Target != DefaultInternetTarget || got[BuiltinControlPlane].Kind != wire.ProbeControlPlane {
			t.Fatalf("%s without declarations: %+v", c, got)
		}
	}
	mon := eng.Schema().Set(SetName, "")
	create(t, eng, mon, "acme", "probe", `[{"name":"internet","kind":"user-plane","target":"http://127.0.0.1:9/","interval":2,"site":["site-a"]},
	  {"name":"lab-dns","kind":"tcp","target":"10.0.0.53:53","cluster-label":["env=lab"]},
	  {"name":"off","kind":"icmp","target":"10.0.0.1","enabled":false}]`)
	a := specs(t, eng, "edge-a")
	if len(a) != 2 || a[BuiltinUserPlane].Target != "http://127.0.0.1:9/" || time.Duration(a[BuiltinUserPlane].Interval) != 2*time.Second ||
		time.Duration(a[BuiltinUserPlane].Timeout) != DefaultTimeout {
		t.Fatalf("edge-a: %+v", a)
	}
	if c := specs(t, eng, "edge-c"); len(c) != 3 || c["lab-dns"].Target != "10.0.0.53:53" {
		t.Fatalf("edge-c (env=lab): %+v", c)
	}
	if b := specs(t, eng, "edge-b"); len(b) != 2 || b[BuiltinUserPlane].Target != DefaultInternetTarget {
		t.Fatalf("starbucks' edge-b took acme's probes: %+v", b)
	}
	key := schema.RootKey(mon, "acme") + "/probe/internet"
	if ids := (source{}).Affects(eng.Schema(), eng.Snapshot(), edge.Change{Key: key}); len(ids) != 3 {
		t.Fatalf("a probe's change affects %v, want every cluster served", ids)
	}
	if ids := (source{}).Affects(eng.Schema(), eng.Snapshot(), edge.Change{Key: key, State: true}); len(ids) != 0 {
		t.Fatalf("a probe's operational state affects %v, want none", ids)
	}
}

// TestResultsRecordedAndKept: results become metrics at once and the
// enterprise's probe-results state; a stale one is kept out; another
// Results on the same store puts them back.
func TestResultsRecordedAndKept(t *testing.T) {
	eng := sites(t)
	reg := prometheus.NewRegistry()
	r, err := For(eng, reg)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).UTC()
	push := func(cluster string, ok bool, at time.Time) int {
		n, err := r.Record(context.Background(), cluster, &wire.ProbePush{Results: []wire.ProbeResult{
			{Probe: "user-plane", Kind: wire.ProbeUserPlane, OK: ok, Duration: 0.25, At: at, Message: "m"}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	push("edge-a", true, at)
	push("edge-b", true, at)
	if n := push("edge-a", false, at.Add(time.Second)); n != 1 {
		t.Fatalf("accepted %d", n)
	}
	if n := push("edge-a", true, at); n != 0 {
		t.Fatalf("a stale result accepted: %d", n)
	}
	if v := testutil.ToFloat64(r.m.ok.WithLabelValues("user-plane", "edge-a", "site-a", "acme")); v != 0 {
		t.Fatalf("amp_edge_probe_ok of edge-a: %v", v)
	}
	if v := testutil.ToFloat64(r.m.ok.WithLabelValues("user-plane", "edge-b", "site-b", "starbucks")); v != 1 {
		t.Fatalf("amp_edge_probe_ok of edge-b: %v", v)
	}
	if _, err := r.Record(context.Background(), "nope", &wire.ProbePush{Results: []wire.ProbeResult{{Probe: "p", Kind: wire.ProbeTCP, At: at}}}); schema.KindOf(err) != schema.KindNotFound {
		t.Fatalf("an undeclared cluster: %v", err)
	}
	// The writer writes the enterprises' state within a second; Flush
	// does it now.
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mon := eng.Schema().Set(SetName, "")
	state := func(eng *config.Engine, ent string) []any {
		st, _ := eng.Snapshot().State.Get([]byte(schema.RootKey(mon, ent)))
		pr, _ := st["probe-results"].(map[string]any)
		l, _ := pr["result"].([]any)
		return l
	}
	acme := state(eng, "acme")
	if len(acme) != 1 || acme[0].(map[string]any)["cluster"] != "edge-a" || acme[0].(map[string]any)["ok"] != false {
		t.Fatalf("acme's probe-results: %v", acme)
	}
	if sb := state(eng, "starbucks"); len(sb) != 1 || sb[0].(map[string]any)["cluster"] != "edge-b" {
		t.Fatalf("starbucks' probe-results: %v", sb)
	}
	// Another process on the same store (a restart) starts from them.
	again := newResults(eng, metricsFor(prometheus.NewRegistry()))
	if err := again.load(); err != nil {
		t.Fatal(err)
	}
	got := again.clusters["edge-a"].Probes["user-plane"]
	if got == nil || got.OK || !got.At.Equal(at.Add(time.Second)) || again.clusters["edge-a"].Enterprise != "acme" {
		t.Fatalf("reloaded: %+v", got)
	}
	if v := testutil.ToFloat64(again.m.ok.WithLabelValues("user-plane", "edge-b", "site-b", "starbucks")); v != 1 {
		t.Fatalf("reloaded amp_edge_probe_ok of edge-b: %v", v)
	}
}

// TestCommitRefuses: what an agent would not run, and a probe naming
// another enterprise's site or cluster, are refused at commit with the
// path and the reason; nothing is written.
func TestCommitRefuses(t *testing.T) {
	eng := sites(t)
	mon := eng.Schema().Set(SetName, "")
	for body, want := range map[string]string{
		`[{"name":"p","kind":"tcp","target":"no-port"}]`:                                "/monitor/v1.0.0/acme/probe/p/target",
		`[{"name":"p","kind":"http","target":"10.0.0.1:80"}]`:                           "/monitor/v1.0.0/acme/probe/p/target",
		`[{"name":"p","kind":"user-plane"}]`:                                            "/monitor/v1.0.0/acme/probe/p/target",
		`[{"name":"p","kind":"user-plane","target":"1.1.1.1:53","site":["site-b"]}]`:    "/monitor/v1.0.0/acme/probe/p/site",
		`[{"name":"p","kind":"user-plane","target":"1.1.1.1:53","cluster":["edge-b"]}]`: "/monitor/v1.0.0/acme/probe/p/cluster",
	} {
		loc, err := schema.Resolve(mon, "acme", []string{"probe"})
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
		_, err = eng.Submit(context.Background(), &config.Request{Principal: "test", Edits: []config.Edit{{Op: config.OpCreate, Loc: loc, Value: val}}})
		var se *schema.Error
		if !errors.As(err, &se) || len(se.Problems) == 0 || se.Problems[0].Path != want {
			t.Errorf("%s: %v, want a refusal at %s", body, err, want)
		}
	}
	if _, ok := eng.Snapshot().Get(schema.RootKey(mon, "acme") + "/probe/p"); ok {
		t.Fatal("a refused probe was written")
	}
}

// TestGapStaysVisible: a site silent for longer than usual (its agent
// down) resumes with its results, and its probe-results keep the gap —
// from the last run before it to the first after — until another;
// results that were only late (buffered at the site, pushed at once with
// the times they ran) leave none, and neither does a probe run rarely.
func TestGapStaysVisible(t *testing.T) {
	eng := sites(t)
	r, err := For(eng, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	push := func(probe string, ats ...time.Time) {
		var p wire.ProbePush
		for _, at := range ats {
			p.Results = append(p.Results, wire.ProbeResult{Probe: probe, Kind: wire.ProbeTCP, Target: "10.0.0.1:1", OK: true, At: at})
		}
		if _, err := r.Record(context.Background(), "edge-a", &p); err != nil {
			t.Fatal(err)
		}
	}
	gapOf := func(probe string) map[string]any {
		t.Helper()
		if err := r.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		st, _ := eng.Snapshot().State.Get([]byte(schema.RootKey(eng.Schema().Set(SetName, ""), "acme")))
		pr, _ := st["probe-results"].(map[string]any)
		l, _ := pr["result"].([]any)
		for _, e := range l {
			if m := e.(map[string]any); m["probe"] == probe {
				g, _ := m["gap"].(map[string]any)
				return g
			}
		}
		t.Fatalf("no result of %s in %v", probe, l)
		return nil
	}
	every := func(from time.Time, n int, d time.Duration) []time.Time {
		var out []time.Time
		for i := range n {
			out = append(out, from.Add(time.Duration(i)*d))
		}
		return out
	}
	// Every 10 s, then buffered for 5 minutes and pushed at once: late,
	// not missing.
	push("tcp", every(t0, 6, 10*time.Second)...)
	push("tcp", every(t0.Add(60*time.Second), 30, 10*time.Second)...)
	if g := gapOf("tcp"); g != nil {
		t.Fatalf("late results made a gap: %v", g)
	}
	// The agent down 4 minutes: the next run is 4 minutes after the last.
	last := t0.Add(350 * time.Second)
	back := last.Add(4 * time.Minute)
	push("tcp", back)
	want := map[string]any{"from": last.Format(time.RFC3339Nano), "to": back.Format(time.RFC3339Nano)}
	if g := gapOf("tcp"); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("gap %v, want %v", g, want)
	}
	// Resumed: runs every 10 s again keep the gap on record.
	push("tcp", every(back.Add(10*time.Second), 3, 10*time.Second)...)
	if g := gapOf("tcp"); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("after resuming: gap %v, want %v", g, want)
	}
	// A probe run every 10 minutes is not silent between its runs.
	push("hourly", every(t0, 4, 10*time.Minute)...)
	if g := gapOf("hourly"); g != nil {
		t.Fatalf("a rare probe's interval taken for a gap: %v", g)
	}
	// The gap survives a restart (the stored copy).
	again := newResults(eng, metricsFor(prometheus.NewRegistry()))
	if err := again.load(); err != nil {
		t.Fatal(err)
	}
	if g := again.clusters["edge-a"].Probes["tcp"].Gap; g == nil || !g.From.Equal(last) || !g.To.Equal(back) {
		t.Fatalf("reloaded gap: %+v", g)
	}
}

// TestOlderCopyNeverOverwrites: the writer's round stores its copies
// outside the lock that pushes take, so a copy it took before a push
// stored a newer one must not be put back over it.
func TestOlderCopyNeverOverwrites(t *testing.T) {
	eng := sites(t)
	r := newResults(eng, metricsFor(prometheus.NewRegistry()))
	c := &clusterResults{Probes: map[string]*stored{}}
	if err := r.put("edge-a", c, 2, []byte(`{"site":"newer","probes":{}}`)); err != nil {
		t.Fatal(err)
	}
	if err := r.put("edge-a", c, 1, []byte(`{"site":"older","probes":{}}`)); err != nil {
		t.Fatal(err)
	}
	if b, err := eng.Meta().GetMeta(metaPrefix + "edge-a"); err != nil || string(b) != `{"site":"newer","probes":{}}` {
		t.Fatalf("stored %s (%v), want the newer copy", b, err)
	}
}

// TestMovedClusterMovesItsSeries: a cluster moved to another enterprise's
// site keeps no series under its former site and enterprise, its next
// results are published under the new ones, and its results leave the
// former enterprise's probe-results state for the new one's.
func TestMovedClusterMovesItsSeries(t *testing.T) {
	eng := sites(t)
	reg := prometheus.NewRegistry()
	r, err := For(eng, reg)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).UTC()
	push := func(ok bool, at time.Time) {
		t.Helper()
		if n, err := r.Record(context.Background(), "edge-a", &wire.ProbePush{Results: []wire.ProbeResult{
			{Probe: "user-plane", Kind: wire.ProbeUserPlane, OK: ok, Duration: 0.25, At: at}}}); err != nil || n != 1 {
			t.Fatalf("push: %d %v", n, err)
		}
	}
	series := func() string {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			if mf.GetName() != "amp_edge_probe_ok" && mf.GetName() != "amp_edge_last_update_timestamp_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				ls := map[string]string{}
				for _, l := range m.GetLabel() {
					ls[l.GetName()] = l.GetValue()
				}
				if ls["cluster"] == "edge-a" {
					out = append(out, fmt.Sprintf("%s{%s,%s}=%v", mf.GetName(), ls["site"], ls["enterprise"], m.GetGauge().GetValue() > 0))
				}
			}
		}
		return strings.Join(out, " ")
	}
	push(true, at)
	if got, want := series(), "amp_edge_last_update_timestamp_seconds{site-a,acme}=true amp_edge_probe_ok{site-a,acme}=true"; got != want {
		t.Fatalf("series before the move: %s, want %s", got, want)
	}
	inv := inventory.Set(eng.Schema())
	loc, err := schema.Resolve(inv, "", []string{"cluster", "edge-a"})
	if err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, map[string]any{"cluster-id": "edge-a", "site": "site-b"}, loc.REST(), !loc.Collection, schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Principal: "test", Edits: []config.Edit{{Op: config.OpReplace, Loc: loc, Value: val}}}); err != nil {
		t.Fatal(err)
	}
	push(false, at.Add(10*time.Second))
	if got, want := series(), "amp_edge_last_update_timestamp_seconds{site-b,starbucks}=true amp_edge_probe_ok{site-b,starbucks}=false"; got != want {
		t.Fatalf("series after the move: %s, want %s", got, want)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mon := eng.Schema().Set(SetName, "")
	clusters := func(ent string) string {
		st, _ := eng.Snapshot().State.Get([]byte(schema.RootKey(mon, ent)))
		pr, _ := st["probe-results"].(map[string]any)
		l, _ := pr["result"].([]any)
		var out []string
		for _, e := range l {
			out = append(out, fmt.Sprint(e.(map[string]any)["cluster"]))
		}
		return strings.Join(out, " ")
	}
	if a, sb := clusters("acme"), clusters("starbucks"); a != "" || sb != "edge-a" {
		t.Fatalf("probe-results after the move: acme [%s], starbucks [%s]; want edge-a at starbucks only", a, sb)
	}
}
