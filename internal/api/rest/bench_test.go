package rest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/testenv"
)

const benchPath = "/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras"

func benchServer(b *testing.B) (*httptest.Server, string) {
	e := newEnv(b, true)
	return e.srv, e.token
}

func client() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
}

// load runs clients concurrent loops of GET url for d and returns req/s.
func load(b *testing.B, c *http.Client, url, token string, clients int, d time.Duration) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			for time.Now().Before(deadline) {
				resp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// BenchmarkGetObject: GET of one object through the whole REST stack
// (authentication, tracing, metrics, schema encoding) against a bare
// net/http handler that writes the same JSON bytes, both over loopback with
// 16 keep-alive clients in the same run. Target: ratio >= 0.50.
func BenchmarkGetObject(b *testing.B) {
	srv, tok := benchServer(b)
	c := client()
	req, _ := http.NewRequest("GET", srv.URL+benchPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer bare.Close()
	b.ResetTimer()
	var ampRate, bareRate float64
	for i := 0; i < b.N; i++ {
		bareRate += load(b, c, bare.URL+benchPath, tok, 16, time.Second)
		ampRate += load(b, c, srv.URL+benchPath, tok, 16, time.Second)
	}
	b.ReportMetric(ampRate/float64(b.N), "amp-req/s")
	b.ReportMetric(bareRate/float64(b.N), "bare-req/s")
	b.ReportMetric(ampRate/bareRate, "ratio")
}

// BenchmarkGetObjectLatency1000: an open-loop load of 1,000 GETs per second
// for 5 s; reports the p50 and p99 latency. Target: p99 <= 5 ms.
func BenchmarkGetObjectLatency1000(b *testing.B) {
	srv, tok := benchServer(b)
	c := client()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		// Open loop: request i starts at t0 + i ms, whatever the latency.
		t0 := time.Now()
		for k := 0; k < 5000; k++ {
			time.Sleep(time.Until(t0.Add(time.Duration(k) * time.Millisecond)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", srv.URL+benchPath, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				start := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(len(lat))/time.Since(t0).Seconds(), "req/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkSecurityOverhead: the same server with authentication by token,
// the OPA policy and the audit trail, against itself with all three
// switched off (every request taken as one caller without looking at its
// credentials, everything allowed, no audit), in the same run. Targets:
// <= 20% more cost on a GET, <= 10% on a write.
func BenchmarkSecurityOverhead(b *testing.B) {
	plain := newOpenEnv(b)
	secured := newSecuredEnv(b)
	c := client()
	path := "/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras"
	for i := 0; i < b.N; i++ {
		pg := load(b, c, plain.srv.URL+path, plain.token, 16, time.Second)
		sg := load(b, c, secured.srv.URL+path, secured.token, 16, time.Second)
		// Writes are fsync-bound and the disk is noisy: alternate rounds
		// so both see the same conditions.
		var pd, sd float64
		for round := 0; round < 8; round++ {
			pd += 1 / writes(b, plain, 100)
			sd += 1 / writes(b, secured, 100)
		}
		pw, sw := 8/pd, 8/sd
		b.ReportMetric(pg, "plain-get/s")
		b.ReportMetric(sg, "secured-get/s")
		b.ReportMetric(100*(pg/sg-1), "get-overhead-%")
		b.ReportMetric(pw, "plain-write/s")
		b.ReportMetric(sw, "secured-write/s")
		b.ReportMetric(100*(pw/sw-1), "write-overhead-%")
	}
}

// writes makes n serial single-leaf PATCHes and returns writes/s.
func writes(b *testing.B, e *env, n int) float64 {
	t0 := time.Now()
	for k := 0; k < n; k++ {
		code, body, _ := e.do("PATCH", "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1", fmt.Sprintf(`{"port":%d}`, 1000+k%1000))
		if code != 200 {
			b.Fatalf("write: %d %s", code, body)
		}
	}
	return float64(n) / time.Since(t0).Seconds()
}

// noAuthentication is the benchmark's "security switched off": AMP itself
// has no such mode (every API authenticates), so the baseline server gets
// an authenticator that accepts every request without a look.
type noAuthentication struct{}

func (noAuthentication) Authenticate(*http.Request) (*auth.Principal, error) {
	return &auth.Principal{Name: "anyone", Via: "none"}, nil
}

func newOpenEnv(t testing.TB) *env {
	eng, _ := testenv.Engine(t, true)
	srv := httptest.NewServer(mustNew(t, Options{Engine: eng, Auth: noAuthentication{}, Authorizer: auth.AllowAuthenticated{}}))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, token: "unused", eng: eng}
}
