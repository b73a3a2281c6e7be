package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/workflow"

	// The inventory's clusters are the agent link's directory.
	_ "github.com/amp-edge/amp/internal/provision/cluster"
)

// apply merges a JSON body into a global set's root, as a REST POST would.
func apply(tb testing.TB, eng *config.Engine, setName, body string) {
	tb.Helper()
	set := eng.Schema().Set(setName, "")
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatal(err)
	}
	loc, err := schema.Resolve(set, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	val, err := schema.DecodeJSON(set.Root, v, loc.REST(), true, schema.DecodeOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}},
		Principal: "bench", Source: "api", Message: "bench"}); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkRollout is the first figure: a new bundle version rolled
// out to 1,000 clusters (10 staging, 990 production in four 25 %
// partitions), the sites' agents simulated in this process and
// acknowledging at once through the hub's check-in (what the link's PUT
// /status calls; no Helm). It reports the time from the rollout's
// declaration to every deployment planned (its entry written and the
// deployments' state shown) and the first partition staged, and for each
// partition the time from its gate opening (the approval) to every cluster
// of it staged; the baseline, measured in the same run, is the engine's
// bulk write of the same 1,000 deployment entries as one state write.
// make bench-rollout.
func BenchmarkRollout(b *testing.B) {
	const n = 1000
	for range b.N {
		benchRollout(b, n)
	}
}

func benchRollout(b *testing.B, n int) {
	b.StopTimer()
	eng, _ := testenv.Engine(b, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var inv strings.Builder
	inv.WriteString(`{"cluster":[`)
	clusters := make([]string, n)
	for i := range n {
		clusters[i] = fmt.Sprintf("site-%04d", i)
		env := "production"
		if i < 10 {
			env = "staging"
		}
		if i > 0 {
			inv.WriteByte(',')
		}
		fmt.Fprintf(&inv, `{"cluster-id":%q,"label":[{"name":"env","value":%q}]}`, clusters[i], env)
	}
	inv.WriteString(`]}`)
	apply(b, eng, "inventory", inv.String())
	apply(b, eng, fleet.SetName, `{"bundle":[{"bundle-id":"upf","chart":{"repository":"https://charts.example.com/aether","name":"bess-upf","version":"1.4.2"}}],
 "cluster-group":[{"group-id":"staging","match-label":[{"name":"env","value":"staging"}]},
                  {"group-id":"production","match-label":[{"name":"env","value":"production"}]}]}`)

	hub, err := edge.For(eng, nil)
	if err != nil {
		b.Fatal(err)
	}
	wf := workflow.New(eng.Meta(), workflow.Env{Engine: eng, Now: time.Now}, workflow.MetricsFor(nil))
	c := &Controller{Engine: eng, Workflow: wf, Hub: hub, Metrics: MetricsFor(nil), Log: slog.New(slog.DiscardHandler)}
	go func() { _ = wf.Run(ctx) }()
	go func() { _ = c.Run(ctx) }()

	// The agents: every cluster checks in, then acknowledges at once the
	// version staged for it (applied, ready).
	checkin := func(cl, version string) {
		ck := &wire.Checkin{AgentVersion: "bench", AgentTime: time.Now(), Facts: wire.Facts{Nodes: []wire.Node{{Name: "n1", Ready: true}}}}
		if version != "" {
			ready := true
			ck.Objects = []wire.ObjectStatus{{Kind: wire.KindHelmRelease, Name: "upf", State: wire.StateApplied, Version: version, Ready: &ready, At: time.Now()}}
		}
		if _, _, err := hub.Checkin(ctx, cl, ck, edge.Credential{}); err != nil && ctx.Err() == nil {
			b.Error(err)
		}
	}
	for _, cl := range clusters {
		checkin(cl, "")
	}
	// One reader of the deployments for the simulated agents and the
	// benchmark's clock: every 10 ms it acknowledges what is newly staged
	// and publishes how many entries there are and how many clusters are
	// staged at each version. (The agents and every wait each decoding
	// the 1,000 entries every 5–10 ms took about half the process's CPU,
	// which the rollout itself needs on a loaded machine.)
	dep := Deployments{Meta: eng.Meta()}
	var seenMu sync.Mutex
	entries, staged := 0, map[string]int{}
	view := func() (int, map[string]int) {
		seenMu.Lock()
		defer seenMu.Unlock()
		return entries, staged
	}
	go func() {
		acked := map[string]string{}
		for ctx.Err() == nil {
			if m, err := dep.Get("upf"); err == nil {
				count := map[string]int{}
				for _, e := range m {
					count[e.Staged]++
				}
				seenMu.Lock() // published before the acknowledgements, which take a while
				entries, staged = len(m), count
				seenMu.Unlock()
				for cl, e := range m {
					if e.Staged != acked[cl] {
						checkin(cl, e.Staged)
						acked[cl] = e.Staged
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	stagedCount := func(version string) int { _, c := view(); return c[version] }

	// The baseline: one state write of 1,000 deployment entries.
	list := make([]any, n)
	for i, cl := range clusters {
		list[i] = map[string]any{"cluster": cl, "staged-version": "1.0.0", "active-version": "1.0.0", "state": "ready"}
	}
	set := eng.Schema().Set(fleet.SetName, "")
	t0 := time.Now()
	if err := writeState(ctx, eng, fleet.BundlePath(set, "upf")+"/deployment", list); err != nil {
		b.Fatal(err)
	}
	baseline := time.Since(t0)
	if err := writeState(ctx, eng, fleet.BundlePath(set, "upf")+"/deployment", []any{}); err != nil {
		b.Fatal(err)
	}

	b.StartTimer()
	start := time.Now()
	apply(b, eng, fleet.SetName, `{"rollout":[{"rollout-id":"bench","bundle":"upf","version":"2.0.0","stage":[
  {"group":"staging","order":1,"max-unavailable":9,"bake-time":0,"manual-approval":true},
  {"group":"production","order":2,"partition":["25%","25%","25%","25%"],"max-unavailable":248,"bake-time":0,"manual-approval":true}]}]}`)
	planned := waitUntil(b, "every deployment planned", func() bool {
		if k, _ := view(); k != n {
			return false
		}
		o, _ := eng.Snapshot().State.Get([]byte(fleet.BundleKey(set, "upf")))
		l, _ := o["deployment"].([]any)
		return len(l) == n
	})
	if r, err := CurrentRun(eng, wf, "bench"); err == nil {
		for _, h := range r.History {
			if h.Outcome == "retry" {
				b.Logf("retried: %s %s", h.Step, h.Note)
			}
		}
	}
	firstStaged := waitUntil(b, "the first partition staged", func() bool { return stagedCount("2.0.0") >= 10 })
	var promote, firstWave []time.Duration
	for p := 1; p <= 4; p++ {
		// The run's record holds the plan: it is read every 50 ms.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			if r, err := CurrentRun(eng, wf, "bench"); err == nil && strings.HasPrefix(r.Step, stepGate) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("the gate was not reached within a minute")
			}
		}
		want := 10 + 248*p
		if p == 4 {
			want = n
		}
		before := stagedCount("2.0.0")
		open := time.Now()
		if _, err := Approve(eng, wf, "bench", "bench"); err != nil {
			b.Fatal(err)
		}
		firstWave = append(firstWave, waitUntil(b, "the partition's first wave staged", func() bool { return stagedCount("2.0.0") > before }).Sub(open))
		waitUntil(b, "the partition staged", func() bool { return stagedCount("2.0.0") >= want })
		promote = append(promote, time.Since(open))
	}
	b.StopTimer()
	sort.Slice(promote, func(i, j int) bool { return promote[i] < promote[j] })
	planS := planned.Sub(start).Seconds()
	b.ReportMetric(planS, "plan-s")
	b.ReportMetric(firstStaged.Sub(start).Seconds(), "first-partition-s")
	b.ReportMetric(promote[len(promote)-1].Seconds(), "promote-max-s")
	b.ReportMetric(slices.Max(firstWave).Seconds(), "first-wave-max-s")
	b.ReportMetric(baseline.Seconds(), "baseline-bulk-write-s")
	b.ReportMetric(planS/baseline.Seconds(), "plan/baseline")
	b.Logf("1,000 clusters: planned (every deployment entry and its state) in %.3f s, first partition staged at %.3f s; after its gate opened, each production partition's first wave (247 clusters) was staged in %v and the whole partition (two waves: max-unavailable is at most size-1, so the second waits for the first to be acknowledged ready) in %v; baseline: one state write of the same 1,000 deployment entries %.4f s",
		planS, firstStaged.Sub(start).Seconds(), firstWave, promote, baseline.Seconds())
}

// waitUntil polls ok every 5 ms, up to a minute, and returns when it
// held.
func waitUntil(b *testing.B, what string, ok func() bool) time.Time {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			b.Fatalf("%s did not happen within a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now()
}
