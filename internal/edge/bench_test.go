package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/provision/cluster"
)

// fleet declares n clusters of two nodes and a namespace each.
func fleet(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"cluster-id":"c%05d","namespace":["ran"],"node":[{"name":"server-1","host":"10.0.1.1","role":["worker"],"node-label":["a=1"]},`+
			`{"name":"server-2","host":"10.0.1.2","role":["worker"],"taint":["gpu=true:NoSchedule"]}]}`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// BenchmarkUnchangedCheckin: an agent's check-in that says what the last
// one said (its body read and checked, its time kept, nothing written),
// against a baseline measured in the same run: what a GET of one small
// object costs at least (read it from the snapshot, encode it as JSON).
// The ratio does not grow with the fleet (10 vs 1,000 clusters, every one
// cached and connected).
func BenchmarkUnchangedCheckin(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("clusters=%d", n), func(b *testing.B) {
			s := newSite(b, fleet(n))
			now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			h := s.hub(edge.Options{Now: func() time.Time { return now }})
			ctx := context.Background()
			var body []byte
			for i := range n {
				id := fmt.Sprintf("c%05d", i)
				full, err := h.Desired(ctx, id, 0, "", 0)
				if err != nil {
					b.Fatal(err)
				}
				c := checkinOf(full, now, true)
				if _, _, err := h.Checkin(ctx, id, c, edge.Credential{}); err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					body, _ = json.Marshal(c)
				}
			}
			key := cluster.Key(s.set, "c00000")
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				snap := s.eng.Snapshot()
				o, _ := snap.Get(key)
				tree, _ := snap.Tree(o)
				if _, err := json.Marshal(tree); err != nil {
					b.Fatal(err)
				}
			}
			baseline := time.Since(start)
			start = time.Now()
			for range b.N {
				c, err := edge.DecodeCheckin(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, outcome, err := h.Checkin(ctx, "c00000", c, edge.Credential{}); err != nil || outcome != edge.CheckinUnchanged {
					b.Fatalf("%s %v", outcome, err)
				}
			}
			checkin := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(baseline.Nanoseconds())/float64(b.N), "get-object-ns/op")
			b.ReportMetric(float64(checkin.Nanoseconds())/float64(b.N), "checkin-ns/op")
			b.ReportMetric(float64(checkin)/float64(baseline), "checkin/get-object")
			b.ReportMetric(float64(len(body)), "checkin-bytes")
		})
	}
}

// BenchmarkDesiredFanout: 1,000 agents, one per cluster, wait on their
// desired state; one transaction changes a node label of every cluster.
// Reported: from the start of the commit to the last agent's answer
// (fanout-ms) and the 99th percentile per agent (p99-ms), against the
// same run's baseline, the commit itself (commit-ms).
func BenchmarkDesiredFanout(b *testing.B) {
	const n = 1000
	s := newSite(b, fleet(n))
	reg := prometheus.NewRegistry()
	h := s.hub(edge.Options{Registry: reg})
	ctx := context.Background()
	held := make([]*wire.Desired, n)
	for i := range held {
		d, err := h.Desired(ctx, fmt.Sprintf("c%05d", i), 0, "", 0)
		if err != nil {
			b.Fatal(err)
		}
		held[i] = d
	}
	var commit, fanout, p99 time.Duration
	b.ResetTimer()
	for round := range b.N {
		answered := make(chan time.Duration, n)
		var start atomic.Int64
		for i := range held {
			go func() {
				d, err := h.Desired(ctx, held[i].Cluster, held[i].Index, held[i].Digest, time.Minute)
				if err != nil || d == nil {
					b.Errorf("%s: %+v %v", held[i].Cluster, d, err)
				}
				held[i] = d
				answered <- time.Duration(time.Now().UnixNano() - start.Load())
			}()
		}
		for metric(b, reg, "amp_edge_waiting_agents") != n {
			time.Sleep(time.Millisecond)
		}
		edits := make([]config.Edit, n)
		for i := range edits {
			edits[i] = s.edit(fmt.Sprintf("c%05d/node/server-1/node-label", i), fmt.Sprintf(`["a=%d"]`, round+2))
		}
		t0 := time.Now()
		start.Store(t0.UnixNano())
		s.submit(edits...)
		commit += time.Since(t0)
		lat := make([]time.Duration, 0, n)
		for range n {
			lat = append(lat, <-answered)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fanout += lat[n-1]
		p99 += lat[n*99/100]
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(commit), "commit-ms")
	b.ReportMetric(ms(fanout), "fanout-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(float64(fanout)/float64(commit), "fanout/commit")
}

// BenchmarkCheckinRecordMemory: what a cluster's recorded check-in (its
// report and agent state in the engine's tree) keeps live, per cluster,
// against the baseline of the same run: what the cluster's declaration
// and its cached desired state keep. 1,000 clusters, measured after a
// collection (runtime.MemStats.HeapAlloc).
func BenchmarkCheckinRecordMemory(b *testing.B) {
	const n = 1000
	for range b.N {
		before := liveHeap()
		s := newSite(b, fleet(n))
		now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
		h := s.hub(edge.Options{Now: func() time.Time { return now }})
		ctx := context.Background()
		checkins := make([]*wire.Checkin, n)
		for i := range n {
			full, err := h.Desired(ctx, fmt.Sprintf("c%05d", i), 0, "", 0)
			if err != nil {
				b.Fatal(err)
			}
			checkins[i] = checkinOf(full, now, true)
		}
		declared := liveHeap()
		for i, c := range checkins {
			if _, outcome, err := h.Checkin(ctx, fmt.Sprintf("c%05d", i), c, edge.Credential{}); err != nil || outcome != edge.CheckinRecorded {
				b.Fatalf("%s %v", outcome, err)
			}
		}
		recorded := liveHeap()
		b.ReportMetric(float64(recorded-declared)/n, "recorded-B-per-cluster")
		b.ReportMetric(float64(declared-before)/n, "declared-B-per-cluster")
		runtime.KeepAlive(checkins)
		runtime.KeepAlive(h)
	}
	b.ReportMetric(0, "ns/op")
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
