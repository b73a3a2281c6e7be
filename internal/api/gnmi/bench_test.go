package gnmi

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
)

func setQCI(tc string, v uint64) *gpb.SetRequest {
	return &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{Path: p("traffic-class[traffic-class-id=" + tc + "]/qci"),
		Val: &gpb.TypedValue{Value: &gpb.TypedValue_UintVal{UintVal: v}}}}}
}

func p99(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*99/100]
}

// BenchmarkSetSequential: 100,000 consecutive single-leaf Sets from one
// client, each a durable transaction; reports Sets/s and the p99 of the
// first and last 10,000 to show latency does not grow (onos-config was
// reported to stall after about 160). Target: >= 2,000 Sets/s.
func BenchmarkSetSequential(b *testing.B) {
	e := newEnv(b, nil)
	n := setCount()
	for i := 0; i < b.N; i++ {
		lat := make([]time.Duration, n)
		t0 := time.Now()
		for k := 0; k < n; k++ {
			s := time.Now()
			if _, err := e.c.Set(context.Background(), setQCI("class-1", uint64(1+k%32))); err != nil {
				b.Fatal(err)
			}
			lat[k] = time.Since(s)
		}
		d := time.Since(t0)
		b.ReportMetric(float64(n)/d.Seconds(), "sets/s")
		b.ReportMetric(float64(p99(lat[:10000]).Microseconds())/1000, "p99-first10k-ms")
		b.ReportMetric(float64(p99(lat[n-10000:]).Microseconds())/1000, "p99-last10k-ms")
	}
}

// BenchmarkSetConcurrent8: the same single-leaf Sets from 8 concurrent
// clients (group commit shares fsyncs).
func BenchmarkSetConcurrent8(b *testing.B) {
	e := newEnv(b, nil)
	const per = 5000
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < per; k++ {
					if _, err := e.c.Set(context.Background(), setQCI(fmt.Sprintf("class-%d", 1+w%3), uint64(1+k%32))); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(8*per)/time.Since(t0).Seconds(), "sets/s")
	}
}

// BenchmarkSubscribeOnChange100: 100 concurrent STREAM ON_CHANGE
// subscribers to one traffic class; 200 changes, one every 20 ms, each
// committed through the engine; latency from durable commit to arrival at
// every subscriber. Target: p99 <= 50 ms.
func BenchmarkSubscribeOnChange100(b *testing.B) {
	// One principal, one connection, 100 streams: above the default
	// per-principal and per-connection limits, which this does not measure.
	e := newEnv(b, func(o *Options) { o.MaxSubscriptionsPerPrincipal, o.MaxStreamsPerConn = -1, -1 })
	const subs, changes = 100, 200
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		arrived := make([][]time.Time, subs)
		var ready sync.WaitGroup
		var done sync.WaitGroup
		for s := 0; s < subs; s++ {
			arrived[s] = make([]time.Time, changes)
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				st, err := e.c.Subscribe(ctx)
				if err != nil {
					b.Error(err)
					ready.Done()
					return
				}
				st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
					Prefix: target("acme"), Mode: gpb.SubscriptionList_STREAM, UpdatesOnly: true,
					Subscription: []*gpb.Subscription{{Path: p("traffic-class[traffic-class-id=class-3]"), Mode: gpb.SubscriptionMode_ON_CHANGE}}}}})
				synced := false
				for {
					r, err := st.Recv()
					if err != nil {
						if !synced {
							ready.Done()
						}
						return
					}
					if r.GetSyncResponse() {
						synced = true
						ready.Done()
						continue
					}
					now := time.Now()
					for _, u := range r.GetUpdate().GetUpdate() {
						if k := findChange(u.GetVal(), changes); k >= 0 {
							mu.Lock()
							if arrived[s][k].IsZero() {
								arrived[s][k] = now
							}
							mu.Unlock()
						}
					}
				}
			}()
		}
		ready.Wait()
		committed := make([]time.Time, changes)
		for k := 0; k < changes; k++ {
			if _, err := e.c.Set(context.Background(), &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{
				Path: p("traffic-class[traffic-class-id=class-3]/description"),
				Val:  &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: fmt.Sprintf("change-%d", k)}}}}}); err != nil {
				b.Fatal(err)
			}
			committed[k] = time.Now()
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		cancel()
		done.Wait()
		var lat []time.Duration
		missing := 0
		for s := 0; s < subs; s++ {
			for k := 0; k < changes; k++ {
				if arrived[s][k].IsZero() {
					missing++
					continue
				}
				lat = append(lat, arrived[s][k].Sub(committed[k]))
			}
		}
		if missing > 0 {
			b.Fatalf("%d of %d notifications never arrived", missing, subs*changes)
		}
		b.ReportMetric(float64(p99(lat).Microseconds())/1000, "p99-ms")
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	}
}

// findChange returns k for a value carrying description "change-k".
func findChange(v *gpb.TypedValue, n int) int {
	s := string(v.GetJsonIetfVal()) + string(v.GetJsonVal()) + v.GetStringVal()
	for k := n - 1; k >= 0; k-- {
		if containsWord(s, fmt.Sprintf("change-%d", k)) {
			return k
		}
	}
	return -1
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w && (i+len(w) == len(s) || s[i+len(w)] < '0' || s[i+len(w)] > '9') {
			return true
		}
	}
	return false
}

// setCount is 100,000 unless AMP_SETS says otherwise (for profiling).
func setCount() int {
	if v, err := strconv.Atoi(os.Getenv("AMP_SETS")); err == nil && v >= 10000 {
		return v
	}
	return 100_000
}
