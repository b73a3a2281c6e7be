package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/testenv"
)

// BenchmarkAuditFlood is issue 8's unauthenticated flood against the real
// binary: 15,000 requests with forged tokens and long paths in 10 s, from
// 250 loopback source addresses (60 each, under --auth-fail-limit, so what
// bounds the trail is the per-source aggregation, not the 429s). It reports
// the server's resident memory and audit.db size idle (the baseline, same
// server, same run) and during and after the flood, and the latency of
// GET /audit idle and meanwhile. Run it with
//
//	go test -run '^$' -bench BenchmarkAuditFlood -benchtime 1x ./test/e2e/
func BenchmarkAuditFlood(b *testing.B) {
	// 8 KB: the longest URI accepted, so every request reaches
	// authentication and the trail; 60 KB: the original attack's paths,
	// refused (414) before routing.
	for _, n := range []int{8100, 60000} {
		b.Run(fmt.Sprintf("path=%dB", n), func(b *testing.B) { auditFlood(b, n) })
	}
}

func auditFlood(b *testing.B, pathLen int) {
	const requests, over, sources = 15000, 10 * time.Second, 250
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		s := testenv.Start(b, dir, "--adapters", "none")
		// The baseline: some legitimate traffic, then the idle figures.
		s.Must(b, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
		for i := range 50 {
			s.Must(b, 201, "POST", fmt.Sprintf("/aether/v2.1.x/acme/site/s%d", i), strings.ReplaceAll(site, `"s1"`, fmt.Sprintf(`"s%d"`, i)))
		}
		idleRSS := int64(serverRSS(b, s))
		idleDB := fileSize(b, filepath.Join(dir, audit.FileName))
		var idleLat []time.Duration
		for range 20 {
			idleLat = append(idleLat, auditLatency(b, s))
		}

		// Samplers: peak RSS and /audit latency while the flood runs.
		stop := make(chan struct{})
		var peakRSS atomic.Int64
		var floodLat []time.Duration
		var wg sync.WaitGroup
		sampleEvery(&wg, stop, 100*time.Millisecond, func() {
			if r := int64(serverRSS(b, s)); r > peakRSS.Load() {
				peakRSS.Store(r)
			}
		})
		sampleEvery(&wg, stop, 200*time.Millisecond, func() {
			floodLat = append(floodLat, auditLatency(b, s))
		})

		path := "/aether/v2.1.x/acme/site/s1/device/" + strings.Repeat("x", pathLen)
		clients := make([]*http.Client, sources)
		for i := range clients {
			clients[i] = fromSource(b, s, net.IPv4(127, 0, 1, byte(i+1)))
		}
		cpu0 := metricFloat(b, s, "process_cpu_seconds_total")
		auditSum0, auditCount0, auditFast0 := auditServerSide(b, s)
		var next atomic.Int64
		var codes sync.Map
		start := time.Now()
		b.StartTimer()
		var flood sync.WaitGroup
		for range 64 {
			flood.Add(1)
			go func() {
				defer flood.Done()
				for {
					i := next.Add(1) - 1
					if i >= requests {
						return
					}
					time.Sleep(time.Until(start.Add(time.Duration(i) * over / requests)))
					req, _ := http.NewRequest("GET", s.URL+path, nil)
					req.Header.Set("Authorization", fmt.Sprintf("Bearer amp_forged%d_%d", i, i*7919))
					resp, err := clients[i%sources].Do(req)
					code := 0
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						code = resp.StatusCode
					}
					n, _ := codes.LoadOrStore(code, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
			}()
		}
		flood.Wait()
		b.StopTimer()
		took := time.Since(start)
		cpu := metricFloat(b, s, "process_cpu_seconds_total") - cpu0
		// Let the writer finish the queue, then the after figures.
		time.Sleep(2 * time.Second)
		close(stop)
		wg.Wait()
		auditSum, auditCount, auditFast := auditServerSide(b, s)
		afterRSS := int64(serverRSS(b, s))
		afterDB := fileSize(b, filepath.Join(dir, audit.FileName))
		peak := max(peakRSS.Load(), afterRSS)

		summary := []string{}
		codes.Range(func(k, v any) bool {
			summary = append(summary, fmt.Sprintf("%v:%d", k, v.(*atomic.Int64).Load()))
			return true
		})
		slices.Sort(summary)
		served := auditCount - auditCount0
		b.Logf("flood: %d requests in %v, answers %v; audit records %s allowed, %s denied; /audit during the flood, server side: %d queries, %d within 102.4 ms, mean %.1f ms",
			requests, took.Round(time.Millisecond), summary, metric(b, s, `amp_audit_records_total{outcome="allowed"}`), metric(b, s, `amp_audit_records_total{outcome="denied"}`),
			int(served), int(auditFast-auditFast0), 1000*(auditSum-auditSum0)/served)
		b.ReportMetric(float64(idleRSS)/(1<<20), "rss-idle-MiB")
		b.ReportMetric(float64(peak)/(1<<20), "rss-peak-MiB")
		b.ReportMetric(float64(peak)/float64(idleRSS), "rss-peak/idle")
		b.ReportMetric(float64(idleDB)/(1<<10), "auditdb-idle-KiB")
		b.ReportMetric(float64(afterDB)/(1<<10), "auditdb-after-KiB")
		b.ReportMetric(ms(percentile(idleLat, 50)), "audit-idle-p50-ms")
		b.ReportMetric(ms(percentile(floodLat, 50)), "audit-flood-p50-ms")
		b.ReportMetric(ms(percentile(floodLat, 100)), "audit-flood-max-ms")
		b.ReportMetric(1000*(auditSum-auditSum0)/served, "audit-flood-server-mean-ms")
		b.ReportMetric(float64(requests)/took.Seconds(), "req/s")
		b.ReportMetric(1000*cpu/requests, "server-cpu-ms/req")
		s.Stop()
	}
}

// fromSource is a client of s whose connections come from the loopback
// address ip (Linux routes all of 127.0.0.0/8 to lo).
func fromSource(b *testing.B, s *testenv.Server, ip net.IP) *http.Client {
	tr := s.HTTPClient.Transport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext
	tr.MaxIdleConnsPerHost = 4
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func metricFloat(b *testing.B, s *testenv.Server, name string) float64 {
	v, err := strconv.ParseFloat(metric(b, s, name), 64)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return v
}

// auditServerSide reads GET /audit's latency histogram as the server
// sees it (no client scheduling in it): sum, count, and how many took at
// most 102.4 ms (a bucket bound).
func auditServerSide(b *testing.B, s *testenv.Server) (sum, count, fast float64) {
	const h = `amp_http_request_duration_seconds`
	const labels = `method="GET",route="audit"`
	f := func(name string) float64 {
		v, _ := strconv.ParseFloat(metric(b, s, name), 64)
		return v
	}
	return f(h + "_sum{" + labels + "}"), f(h + "_count{" + labels + "}"), f(h + `_bucket{` + labels + `,le="0.1024"}`)
}

// metric returns the first sample of a metric from /metrics, as text:
// name is a metric name or a whole series (name{labels}).
func metric(b *testing.B, s *testenv.Server, name string) string {
	code, body, _, err := s.Do(context.Background(), "GET", "/metrics", "")
	if err != nil || code != 200 {
		b.Fatalf("/metrics: %d %v", code, err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && (f[0] == name || !strings.Contains(name, "{") && strings.HasPrefix(f[0], name+"{")) {
			return f[1]
		}
	}
	return ""
}

func auditLatency(b *testing.B, s *testenv.Server) time.Duration {
	t0 := time.Now()
	code, _, _, err := s.Do(context.Background(), "GET", "/audit?limit=100", "")
	if err != nil || code != 200 {
		b.Fatalf("/audit: %d %v", code, err)
	}
	return time.Since(t0)
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
