package policy

import (
	"context"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/amp-edge/amp/internal/auth"
)

// BenchmarkAuthorize measures one decision of the default policy, evaluated
// in process with the prepared query, over a mix of roles and paths; it
// reports the p50 and p99 latency of a single decision (target: p99 ≤ 100 µs).
func BenchmarkAuthorize(b *testing.B) {
	b.Run("uncached", func(b *testing.B) { benchAuthorize(b, false) })
	b.Run("cached", func(b *testing.B) { benchAuthorize(b, true) })
	// Same-run baseline: a policy that allows everything, uncached — the
	// floor set by OPA's evaluator, the allocator and this machine.
	b.Run("baseline-trivial-policy", func(b *testing.B) {
		e, err := Load(fstest.MapFS{"a.rego": {Data: []byte("package amp.authz\ndecision := {\"allow\": true, \"deny\": set()}\n")}})
		if err != nil {
			b.Fatal(err)
		}
		runAuthorize(b, e, false)
	})
}

func benchAuthorize(b *testing.B, cache bool) {
	e, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	runAuthorize(b, e, cache)
}

func runAuthorize(b *testing.B, e *Engine, cache bool) {
	e.SetCache(cache)
	ctx := context.Background()
	type c struct {
		p      *auth.Principal
		action auth.Action
		path   string
	}
	cases := []c{
		{alice, auth.Write, "/aether/v2.1.x/acme/site/s1/device/d1"},
		{alice, auth.Read, "/aether/v2.1.x/starbucks/site/s1"},
		{mallory, auth.Read, "/aether/v2.1.x/starbucks/slice/sl1"},
		{olivia, auth.Admin, "/enterprises"},
		{kim, auth.Read, "/transactions"},
		{&auth.Principal{Name: "big", Groups: manyGroups(40)}, auth.Write, "/aether/v2.1.x/acme/site/s1"},
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tc := cases[i%len(cases)]
		t0 := time.Now()
		_ = e.Authorize(ctx, tc.p, tc.action, tc.path)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	}
}

func manyGroups(n int) []string {
	gs := make([]string, n)
	for i := range gs {
		gs[i] = "team-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	return append(gs, "acme-admin")
}
