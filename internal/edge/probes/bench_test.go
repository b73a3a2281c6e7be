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

// BenchmarkProbeIngest is the fleet: 1,000 sites of acme, each
// pushing its two results every 10 s (200 pushes a second). One push
// (body checked, results recorded) is measured against decoding the same
// body alone (json.Unmarshal, the floor of any ingestion) in the same
// run: "unchanged" is the steady state (outcomes hold: metrics only),
// "flapping" a push whose outcome changes every time (stored at once: the
// cluster's metadata and acme's probe-results state of 2,000 results).
// Reported: ns/op, p99-ms of one push, cores-at-200/s (ns/op × 200 / 1e9)
// and x-baseline.
//
//	go test -run '^$' -bench ProbeIngest -benchtime 2000x ./internal/edge/probes/
func BenchmarkProbeIngest(b *testing.B) {
	const sites = 1000
	eng, _ := testenv.Engine(b, true)
	inv := inventory.Set(eng.Schema())
	var clusters, siteList []string
	for i := range sites {
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
	start := time.Now().Add(-time.Hour)
	body := func(i int, ok bool) []byte {
		p := wire.ProbePush{Results: []wire.ProbeResult{
			{Probe: "control-plane", Kind: wire.ProbeControlPlane, OK: true, Duration: 0.002, At: start.Add(time.Duration(i) * time.Millisecond), Message: "AMP reachable over the link"},
			{Probe: "user-plane", Kind: wire.ProbeUserPlane, Target: "http://10.20.0.1/generate_204", OK: ok, Duration: 0.013, At: start.Add(time.Duration(i) * time.Millisecond), Message: "GET http://10.20.0.1/generate_204: HTTP 204"},
		}}
		raw, _ := json.Marshal(p)
		return raw
	}
	// Every site has reported once (its first results are stored at once).
	for c := range sites {
		if _, err := r.Record(context.Background(), fmt.Sprintf("c%d", c), mustDecode(b, body(0, true))); err != nil {
			b.Fatal(err)
		}
	}
	seq := 1
	ingest := func(b *testing.B, flap bool) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			raw := body(seq, !flap || seq%2 == 0)
			seq++
			t0 := time.Now()
			p, err := DecodePush(raw)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Record(context.Background(), fmt.Sprintf("c%d", i%sites), p); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		report(b, lat)
	}
	var baseline float64
	b.Run("baseline-decode", func(b *testing.B) {
		raw := body(1, true)
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
		name string
		flap bool
	}{{"unchanged", false}, {"flapping", true}} {
		b.Run(c.name, func(b *testing.B) {
			ingest(b, c.flap)
			if baseline > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/baseline, "x-baseline")
			}
		})
	}
}

func mustDecode(b *testing.B, raw []byte) *wire.ProbePush {
	p, err := DecodePush(raw)
	if err != nil {
		b.Fatal(err)
	}
	return p
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
