package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkMetricsQueryProxy is issue 14's "tenant-safe query proxy
// overhead": a query as acme through AMP (TLS, the token, the policy, the
// rewrite to acme's series, the hop to Prometheus) against the query
// Prometheus then runs, sent to the same Prometheus directly, the two
// alternated in every iteration of the same run. Each case reports both
// mean latencies and their ratio (target: amp/direct ≤ 1.10): an instant
// query (the cheapest Prometheus answers: what AMP adds per query shows
// most) and a Grafana panel's range query (the last hour at 1 s steps).
//
//	go test -run '^$' -bench BenchmarkMetricsQueryProxy -benchtime 1000x ./test/e2e/
//
// AMP_BENCH_PPROF=127.0.0.1:6060 serves the server's profiles meanwhile.
func BenchmarkMetricsQueryProxy(b *testing.B) {
	var extra []string
	if addr := os.Getenv("AMP_BENCH_PPROF"); addr != "" {
		extra = append(extra, "--pprof-listen", addr)
	}
	s, prom := startQueryEnv(b, extra...)
	body, _ := json.Marshal(map[string]string{"name": "acme-admin", "role": "enterprise-admin", "enterprise": "acme"})
	var tok struct{ Token string }
	if err := json.Unmarshal(s.Must(b, 201, "POST", "/tokens", string(body)), &tok); err != nil {
		b.Fatal(err)
	}
	const expr = "sum by (site) (rate(amp_test_value[1m]))"
	// What AMP sends for acme: the same expression restricted to its series.
	const restricted = `sum by (site) (rate(amp_test_value{enterprise="acme"}[1m]))`
	now := time.Now()
	span := url.Values{"start": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)}, "step": {"1"}}
	client := &http.Client{}
	for _, c := range []struct {
		name, route, api string
		params           url.Values
	}{
		{"instant", "/metrics/query", "/api/v1/query", url.Values{}},
		{"range-1h-step-1s", "/metrics/query_range", "/api/v1/query_range", span},
	} {
		b.Run(c.name, func(b *testing.B) {
			viaAMP, direct := url.Values{"query": {expr}}, url.Values{"query": {restricted}, "timeout": {"30s"}}
			for k, v := range c.params {
				viaAMP[k], direct[k] = v, v
			}
			ask := func(do func() (int, []byte, error)) time.Duration {
				began := time.Now()
				code, out, err := do()
				took := time.Since(began)
				if err != nil || code != 200 || !strings.Contains(string(out), `"site":"acme-chicago"`) {
					b.Fatalf("%d %v: %s", code, err, out)
				}
				return took
			}
			throughAMP := func() (int, []byte, error) {
				code, out, _, err := s.Do(context.Background(), "GET", c.route+"?"+viaAMP.Encode(), "", "Authorization", "Bearer "+tok.Token)
				return code, out, err
			}
			toProm := func() (int, []byte, error) {
				resp, err := client.Post(prom.URL+c.api, "application/x-www-form-urlencoded", strings.NewReader(direct.Encode()))
				if err != nil {
					return 0, nil, err
				}
				defer resp.Body.Close()
				out, err := io.ReadAll(resp.Body)
				return resp.StatusCode, out, err
			}
			for range 20 { // warm both paths' connections
				ask(throughAMP)
				ask(toProm)
			}
			var amp, dir time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					amp += ask(throughAMP)
					dir += ask(toProm)
				} else {
					dir += ask(toProm)
					amp += ask(throughAMP)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(amp.Microseconds())/float64(b.N), "amp-µs/query")
			b.ReportMetric(float64(dir.Microseconds())/float64(b.N), "direct-µs/query")
			b.ReportMetric(float64(amp)/float64(dir), "amp/direct")
		})
	}
}
