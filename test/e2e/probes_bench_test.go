package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv"
)

// BenchmarkProbeIngest measures issue 14's ingestion target — 1,000 sites
// pushing two probe results every 10 s: p99 ≤ 50 ms, ≤ 0.3 core on
// average — through the real binary and the real agent link: N clusters
// on N sites of acme, N agents enrolled (real CSRs, real mTLS, each from
// its own loopback address, as BenchmarkAgentFleet), each pushing its
// control-plane and user-plane results (POST /edge/v1/clusters/{id}/probes)
// every interval, the pushes spread evenly over it as a fleet's are.
//
// Two baselines in the same run, over windows of the same length: the
// server idle with the fleet enrolled, and the same agents each making
// one check-in (PUT …/status) every interval instead — the link's other
// periodic request, through the same TLS, policy and audit path. Reported:
// each push's latency as the agent sees it (p50, p99, max) beside the
// check-ins', and the server's CPU (utime+stime of /proc/PID/stat) in
// each window. Every push must be answered 200 with both results
// accepted, and AMP's counters must say so.
//
//	make bench-probes                     # N=1000 WINDOW=1m INTERVAL=10s [PPROF=127.0.0.1:6060]
//	AMP_BENCH_SITES=1000 AMP_BENCH_WINDOW=1m go test -run '^$' -bench BenchmarkProbeIngest -benchtime 1x -timeout 30m ./test/e2e/
func BenchmarkProbeIngest(b *testing.B) {
	n := envInt(b, "AMP_BENCH_SITES", 1000)
	window := envDuration(b, "AMP_BENCH_WINDOW", time.Minute)
	interval := envDuration(b, "AMP_BENCH_PROBE_INTERVAL", 10*time.Second)
	if n < 1 || n > 60000 {
		b.Fatalf("AMP_BENCH_SITES=%d: want 1..60000 (one loopback source address each)", n)
	}
	needFiles(b, n)
	for range b.N {
		probeIngest(b, n, window, interval)
	}
}

func probeIngest(b *testing.B, n int, window, interval time.Duration) {
	b.StopTimer()
	args := []string{"--demo", "--demo-backends=false", "--adapters", "none", "--max-conns", strconv.Itoa(n + n/4 + 256)}
	if addr := os.Getenv("AMP_BENCH_PPROF"); addr != "" {
		// Profiles of the server while the fleet pushes (the log says
		// when each window starts):
		// go tool pprof http://ADDR/debug/pprof/profile?seconds=30, …/mutex, …/block
		args = append(args, "--pprof-listen", addr)
	}
	s := testenv.Start(b, b.TempDir(), args...)
	pid := s.PID()
	clusters := make([]string, n)
	var decl bytes.Buffer
	decl.WriteString(`{"organization":[{"org-id":"acme-org","tenant":"acme"}],"site":[`)
	for i := range clusters {
		if i > 0 {
			decl.WriteByte(',')
		}
		fmt.Fprintf(&decl, `{"site-id":"site-%05d","organization":"acme-org","tenant":"acme"}`, i)
	}
	decl.WriteString(`],"cluster":[`)
	for i := range clusters {
		clusters[i] = fmt.Sprintf("edge-%05d", i)
		if i > 0 {
			decl.WriteByte(',')
		}
		fmt.Fprintf(&decl, `{"cluster-id":%q,"site":"site-%05d","node":[{"name":"server-1","host":"10.0.1.1","role":["worker"]}]}`, clusters[i], i)
	}
	decl.WriteString(`]}`)
	s.Must(b, 201, "POST", "/inventory/v1.0.0", decl.String())
	agents, serverCA, _, enrol := enrolFleet(b, s, clusters)
	for _, a := range agents {
		a.connect(serverCA)
		defer a.tr.CloseIdleConnections()
	}
	b.Logf("%d sites of acme enrolled in %.1f s", n, enrol.Seconds())

	idle := sampleServer(b, s, pid, window)
	checkins, checkinCPU := paced(b, s, pid, agents, interval, window, func(ctx context.Context, a *fleetAgent) error { return a.checkin(ctx) })
	accepted0 := metricFloat(b, s, `amp_edge_probe_results_total{outcome="accepted"}`)
	pushes, pushCPU := paced(b, s, pid, agents, interval, window, pushProbes)
	accepted := metricFloat(b, s, `amp_edge_probe_results_total{outcome="accepted"}`) - accepted0
	if refused := metricFloat(b, s, `amp_edge_probe_results_total{outcome="refused"}`); refused > 0 {
		b.Fatalf("AMP refused %v results", refused)
	}
	if answered := 2 * float64(pushes.answered); accepted < answered {
		b.Fatalf("AMP counted %v results accepted, but answered %v as accepted", accepted, answered)
	}
	rate := float64(n) / interval.Seconds()
	b.Logf("idle (%d sites enrolled, %v): %.4f cores", n, window, idle.cores)
	b.Logf("baseline, check-ins (%.0f/s, %d in %v): p50 %.1f ms, p99 %.1f ms, max %.1f ms; server %.4f cores (%.4f above idle)",
		rate, len(checkins.lat), window, ms(percentile(checkins.lat, 50)), ms(percentile(checkins.lat, 99)), ms(slices.Max(checkins.lat)), checkinCPU.cores, checkinCPU.cores-idle.cores)
	b.Logf("probe pushes (two results each, %.0f/s, %d in %v): p50 %.1f ms, p99 %.1f ms, max %.1f ms; server %.4f cores (%.4f above idle); targets p99 ≤ 50 ms, ≤ 0.3 core",
		rate, len(pushes.lat), window, ms(percentile(pushes.lat, 50)), ms(percentile(pushes.lat, 99)), ms(slices.Max(pushes.lat)), pushCPU.cores, pushCPU.cores-idle.cores)
	b.ReportMetric(ms(percentile(pushes.lat, 50)), "push-p50-ms")
	b.ReportMetric(ms(percentile(pushes.lat, 99)), "push-p99-ms")
	b.ReportMetric(ms(percentile(checkins.lat, 99)), "checkin-p99-ms")
	b.ReportMetric(pushCPU.cores, "push-cores")
	b.ReportMetric(checkinCPU.cores, "checkin-cores")
	b.ReportMetric(idle.cores, "idle-cores")
	b.ReportMetric(0, "ns/op")
}

// pushProbes is one run of an agent's two built-in probes, pushed as the
// agent's probe applier does.
func pushProbes(ctx context.Context, a *fleetAgent) error {
	now := time.Now().UTC()
	body, err := json.Marshal(wire.ProbePush{Results: []wire.ProbeResult{
		{Probe: "control-plane", Kind: "control-plane", OK: true, Duration: 0.004, At: now},
		{Probe: "user-plane", Kind: "user-plane", Target: "https://connectivitycheck.gstatic.com/generate_204", OK: true, Duration: 0.031, At: now},
	}})
	if err != nil {
		return err
	}
	code, ans, err := a.call(a.hc, ctx, "POST", a.url("/probes"), body, nil)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	var got wire.ProbePushAnswer
	if code != http.StatusOK || json.Unmarshal(ans, &got) != nil || got.Accepted != 2 {
		return fmt.Errorf("push: %d %s", code, ans)
	}
	return nil
}

// pacedRequests are the latencies of the requests of a paced window.
type pacedRequests struct {
	lat      []time.Duration
	answered int // every request answered, in the window or not
}

// paced has every agent do its request every interval, the agents'
// starts spread evenly over it; after one interval (every connection made)
// it samples the server over window and keeps the latencies of the
// requests sent in it. A failed request fails the benchmark.
func paced(b *testing.B, s *testenv.Server, pid int, agents []*fleetAgent, interval, window time.Duration, do func(context.Context, *fleetAgent) error) (pacedRequests, serverSample) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failed fleetFailures
	var mu sync.Mutex
	var out pacedRequests
	var from, to time.Time // the sampled window, set before any request falls in it
	measuring := make(chan struct{})
	for i, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(time.Duration(i) * interval / time.Duration(len(agents)))
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				t.Reset(interval)
				sent := time.Now()
				if err := do(ctx, a); err != nil {
					if ctx.Err() == nil {
						failed.add(fmt.Errorf("agent %s: %w", a.cluster, err))
					}
					return
				}
				took := time.Since(sent)
				mu.Lock()
				out.answered++
				select {
				case <-measuring:
					if !sent.Before(from) && sent.Before(to) {
						out.lat = append(out.lat, took)
					}
				default:
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(interval)
	failed.check(b)
	mu.Lock()
	from, to = time.Now(), time.Now().Add(window)
	mu.Unlock()
	close(measuring)
	sample := sampleServer(b, s, pid, window)
	cancel()
	wg.Wait()
	failed.check(b)
	if len(out.lat) == 0 {
		b.Fatal("no request was sent in the window")
	}
	return out, sample
}
