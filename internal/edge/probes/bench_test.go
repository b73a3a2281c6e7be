package probes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/testenv"
)

// fleetSize is the fleet: 1,000 sites.
const fleetSize = 1000

// fleet declares acme's fleetSize sites, a cluster at each, each of
// which has pushed its two results once (the first results of a probe
// are stored at once), and returns their results.
func fleet(b *testing.B) *Results {
	b.Helper()
	eng, _ := testenv.Engine(b, true)
	inv := inventory.Set(eng.Schema())
	var clusters, siteList []string
	for i := range fleetSize {
		siteList = append(siteList, fmt.Sprintf(`{"site-id":"s%d","organization":"acme-org","tenant":"acme"}`, i))
		clusters = append(clusters, fmt.Sprintf(`{"cluster-id":"c%d","site":"s%d"}`, i, i))
	}
	create(b, eng, inv, "", "organization", `[{"org-id":"acme-org","tenant":"acme"}]`)
	create(b, eng, inv, "", "site", "["+strings.Join(siteList, ",")+"]")
	create(b, eng, inv, "", "cluster", "["+strings.Join(clusters, ",")+"]")
	r, err := For(eng, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	for c := range fleetSize {
		if _, err := r.Record(context.Background(), fmt.Sprintf("c%d", c), mustDecode(b, push(0, true))); err != nil {
			b.Fatal(err)
		}
	}
	// acme's state written now, not by the writer during a measurement.
	if err := r.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return r
}

// start is when the benchmark's results were taken: an hour ago, a
// millisecond apart, so every push is newer than the last.
var start = time.Now().Add(-time.Hour)

// push is a site's two results, the i-th time.
func push(i int, ok bool) []byte {
	at := start.Add(time.Duration(i) * time.Millisecond)
	raw, _ := json.Marshal(wire.ProbePush{Results: []wire.ProbeResult{
		{Probe: "control-plane", Kind: wire.ProbeControlPlane, OK: true, Duration: 0.002, At: at, Message: "AMP reachable over the link"},
		{Probe: "user-plane", Kind: wire.ProbeUserPlane, Target: "http://10.20.0.1/generate_204", OK: ok, Duration: 0.013, At: at, Message: "GET http://10.20.0.1/generate_204: HTTP 204"},
	}})
	return raw
}

func mustDecode(b *testing.B, raw []byte) *wire.ProbePush {
	p, err := DecodePush(raw)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkProbeIngest is the load: 1,000 sites of acme, each
// pushing its two results every 10 s (200 pushes a second). One push
// (body checked, results recorded) is measured against decoding the same
// body alone (json.Unmarshal, the floor of any ingestion) in the same
// run: "unchanged" is the steady state (outcomes hold: the metrics
// only), "flapping" a push whose outcome changes every time (the
// cluster's results stored at once; acme's state written by the writer,
// at most once a second), "unchanged-during-write-round" the steady
// state while the writer's rounds (BenchmarkProbeWriteRound: every
// cluster stored, acme's state written) run back to back beside it:
// what a push waits for the writer. Reported: ns/op, p99-ms of one
// push, cores-at-200/s (ns/op × 200 / 1e9) and x-baseline.
//
//	go test -run '^$' -bench ProbeIngest -benchtime 1000x -benchmem ./internal/edge/probes/
func BenchmarkProbeIngest(b *testing.B) {
	r := fleet(b)
	seq := 1
	var baseline float64
	b.Run("baseline-decode", func(b *testing.B) {
		raw := push(1, true)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			var p wire.ProbePush
			if err := json.Unmarshal(raw, &p); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		baseline = report(b, lat)
	})
	for _, c := range []struct {
		name         string
		flap, rounds bool
	}{{"unchanged", false, false}, {"flapping", true, false}, {"unchanged-during-write-round", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			if c.rounds {
				stop, stopped := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(stopped)
					for {
						select {
						case <-stop:
							return
						default:
						}
						markDirty(r)
						if err := r.Flush(context.Background()); err != nil {
							b.Error(err)
							return
						}
					}
				}()
				defer func() { close(stop); <-stopped }()
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				raw := push(seq, !c.flap || seq%2 == 0)
				seq++
				t0 := time.Now()
				p, err := DecodePush(raw)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Record(context.Background(), fmt.Sprintf("c%d", i%fleetSize), p); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			if ns := report(b, lat); baseline > 0 {
				b.ReportMetric(ns/baseline, "x-baseline")
			}
		})
	}
}

// markDirty has every cluster's results wait for the writer's round, as
// they do a minute after the last round in the steady state.
func markDirty(r *Results) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, c := range r.clusters {
		c.mu.Lock()
		c.dirty = true
		c.mu.Unlock()
	}
}

// BenchmarkProbeWriteRound is the writer's round every minute with the
// fleet reporting: every site's unchanged results stored (1,000 metadata
// writes) and acme's state of 2,000 results written once; reported as
// the share of a core it costs once a minute.
//
//	go test -run '^$' -bench ProbeWriteRound -benchtime 3x ./internal/edge/probes/
func BenchmarkProbeWriteRound(b *testing.B) {
	r := fleet(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		markDirty(r)
		b.StartTimer()
		if err := r.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9/60, "cores-at-1/min")
}

// report adds the p99 and the cores 200 pushes a second cost; it returns
// ns/op.
func report(b *testing.B, lat []time.Duration) float64 {
	slices.Sort(lat)
	var total time.Duration
	for _, l := range lat {
		total += l
	}
	ns := float64(total.Nanoseconds()) / float64(len(lat))
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(ns*200/1e9, "cores-at-200/s")
	return ns
}
