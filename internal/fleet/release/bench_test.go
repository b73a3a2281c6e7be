package release

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/testenv"
)

// BenchmarkWaveRebuild is what one rollout wave costs the agent link's
// helm-release source (issue 13): 1,000 clusters staged at a prepared
// version, then a state write of the deployments that stages the next
// version at 247 of them; an op is the source answering which clusters
// the write affects and building each one's releases again. "all-named"
// is how it was before (every cluster the list names), "changed" how it
// is now (the clusters whose entry changed), in the same run.
func BenchmarkWaveRebuild(b *testing.B) {
	const n, wave = 1000, 247
	eng, _ := testenv.Engine(b, false)
	Bind(eng)
	ctx := context.Background()
	var inv strings.Builder
	inv.WriteString(`{"cluster": [`)
	clusters := make([]string, n)
	for i := range clusters {
		clusters[i] = fmt.Sprintf("site-%04d", i)
		if i > 0 {
			inv.WriteString(",")
		}
		fmt.Fprintf(&inv, `{"cluster-id": %q, "label": [{"name": "env", "value": "production"}]}`, clusters[i])
	}
	inv.WriteString(`]}`)
	if err := put(b, eng, "/inventory/v1.0.0", inv.String()); err != nil {
		b.Fatal(err)
	}
	if err := put(b, eng, "/fleet/v1.0.0", `{"bundle": [{"bundle-id": "upf", "values": "replicas: 1\n",
	  "chart": {"repository": "https://charts.example.com", "name": "upf", "version": "1.0.0"}}]}`); err != nil {
		b.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if err := record(eng.Meta(), "upf", v, Prepared{Chart: wire.Chart{Name: "upf", Version: v, Digest: edge.ChartDigest([]byte(v))}}); err != nil {
			b.Fatal(err)
		}
	}
	set := eng.Schema().Set(fleet.SetName, "")
	key := fleet.BundleKey(set, "upf")
	route, err := eng.Schema().ParseRoute(fleet.BundlePath(set, "upf") + "/deployment")
	if err != nil {
		b.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		b.Fatal(err)
	}
	// write stages version at the first k clusters, 1.0.0 at the others.
	write := func(version string, k int) map[string]any {
		list := make([]any, n)
		for i, c := range clusters {
			v := "1.0.0"
			if i < k {
				v = version
			}
			list[i] = map[string]any{"cluster": c, "staged-version": v, "active-version": "1.0.0", "state": "ready"}
		}
		if err := eng.SetState(ctx, loc, config.OpReplace, list); err != nil {
			b.Fatal(err)
		}
		st, _ := eng.Snapshot().State.Get([]byte(key))
		return st
	}
	for _, mode := range []string{"all-named", "changed"} {
		b.Run(mode, func(b *testing.B) {
			before := write("", 0)
			rebuilt := 0
			b.ReportAllocs()
			for i := range b.N {
				b.StopTimer()
				after := write([]string{"2.0.0", "1.0.0"}[i%2], wave) // a wave, then back
				snap := eng.Snapshot()
				b.StartTimer()
				var ids []string
				if mode == "changed" {
					ids = (source{}).Affects(eng.Schema(), snap, edge.Change{Key: key, State: true, Before: before, After: after})
				} else {
					for c := range deployments(snap, key) {
						ids = append(ids, c)
					}
				}
				for _, c := range ids {
					if _, err := (source{}).Objects(eng.Schema(), snap, c); err != nil {
						b.Fatal(err)
					}
				}
				rebuilt += len(ids)
				before = after
			}
			b.ReportMetric(float64(rebuilt)/float64(b.N), "clusters/op")
		})
	}
}
