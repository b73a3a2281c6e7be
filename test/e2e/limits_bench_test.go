package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
)

// BenchmarkHostileBulkBodies (issue 8, finding 5): three concurrent 43 MB
// PATCH /aether-roc-api bodies of small objects, the shape that costs most
// once decoded (before: 3 × 60 MB took a state writer's requests to 5.7 GB).
// Reported: the server's RSS growth over its idle RSS measured in the same
// run, sampled every 50 ms from its own process_resident_memory_bytes, for
// a state writer (refused before the body is read) and for an operator
// (refused by --max-body-elements while the body streams in, or 503 when
// both large-request slots are taken).
//
//	go test -run '^$' -bench HostileBulkBodies -benchtime 1x ./test/e2e/
func BenchmarkHostileBulkBodies(b *testing.B) {
	s := testenv.Start(b, b.TempDir(), "--demo", "--adapters", "none")
	var tok struct{ Token string }
	if err := json.Unmarshal(s.Must(b, 201, "POST", "/tokens", `{"name":"probe","role":"state-writer"}`), &tok); err != nil {
		b.Fatal(err)
	}
	var body strings.Builder
	body.WriteString(`{"default-target":"acme","Updates":{"site-2.1.0":[{"site-id":"acme-chicago","sim-card":[`)
	for i := range 1_330_000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"sim-id":"s%d","imsi":"1"}`, i)
	}
	body.WriteString(`]}]}}`)
	big := body.String()
	for b.Loop() {
		for _, who := range []struct{ name, token string }{{"state-writer", tok.Token}, {"operator", s.Token}} {
			idle := serverRSS(b, s)
			peak := idle
			var wg sync.WaitGroup
			codes := make([]int, 3)
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i], _, _, _ = s.Do(context.Background(), "PATCH", "/aether-roc-api", big, "Authorization", "Bearer "+who.token)
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			for sampling := true; sampling; {
				select {
				case <-done:
					sampling = false
				case <-time.After(50 * time.Millisecond):
				}
				peak = max(peak, serverRSS(b, s))
			}
			for _, c := range codes {
				if c < 400 {
					b.Fatalf("%s: a hostile body was accepted (%v)", who.name, codes)
				}
			}
			b.ReportMetric(float64(peak-idle)/(1<<20), who.name+"-rss-growth-MiB")
			b.ReportMetric(float64(idle)/(1<<20), who.name+"-idle-rss-MiB")
		}
	}
}
