package ipam

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// BenchmarkAllocation compares 64 concurrent allocators with 64 concurrent
// plain writers (the same-run baseline) on one engine (bbolt, fsync on).
// Each round gives both a fresh /24 of their own: the writers create
// ip-address objects with keys they chose, the allocators take the next
// free address of one shared prefix. Rounds alternate the two, so both
// meet the same machine. Reported: writes/s, allocs/s, their ratio
// (docs/provisioning.md asks >= 0.5) and the duplicates handed out (0).
//
//	go test -run '^$' -bench Allocation -benchtime 20x ./internal/provision/ipam/
func BenchmarkAllocation(b *testing.B) {
	const workers = 64
	eng, set := fixture(b)
	// Two prefixes per round, created before the clock starts.
	var ps []string
	for i := range b.N {
		ps = append(ps, fmt.Sprintf(`{"prefix-id":"a%d","prefix":"10.%d.%d.0/24"}`, i, 100+i/256, i%256))
	}
	for i := 0; i < len(ps); i += 1000 {
		create(b, eng, set, "["+strings.Join(ps[i:min(i+1000, len(ps))], ",")+"]", "site", "s1", "prefix")
	}
	ipList := set.Root.Child("ip-address")
	var writeTime, allocTime time.Duration
	dups := 0
	b.ResetTimer()
	for round := range b.N {
		// Baseline: plain creates of chosen addresses.
		start := time.Now()
		run(b, workers, func(w int) error {
			addr := fmt.Sprintf("11.%d.%d.%d", round/256, round%256, w+1)
			val, err := schema.DecodeJSON(ipList, decode(b, `{"address":"`+addr+`","prefix-length":24,"site":"s1"}`), "/", true, schema.DecodeOptions{})
			if err != nil {
				return err
			}
			loc, err := schema.Resolve(set, "", []string{"ip-address", addr})
			if err != nil {
				return err
			}
			_, err = eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: config.OpCreate, Loc: loc, Value: val}}, Principal: "bench"})
			return err
		})
		writeTime += time.Since(start)

		start = time.Now()
		var mu sync.Mutex
		got := map[string]bool{}
		run(b, workers, func(int) error {
			c, _, err := AllocateIPs(context.Background(), eng, set, "s1", fmt.Sprintf("a%d", round), []map[string]any{{}}, false, direct(eng))
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			a := c.Created[0]["address"].(string)
			if got[a] {
				dups++
			}
			got[a] = true
			return nil
		})
		allocTime += time.Since(start)
	}
	b.StopTimer()
	writes := float64(workers*b.N) / writeTime.Seconds()
	allocs := float64(workers*b.N) / allocTime.Seconds()
	b.ReportMetric(writes, "writes/s")
	b.ReportMetric(allocs, "allocs/s")
	b.ReportMetric(allocs/writes, "alloc/write")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(0, "ns/op")
	if dups > 0 {
		b.Errorf("%d addresses handed out twice", dups)
	}
}

// run runs fn on n goroutines at once and fails b on any error.
func run(b *testing.B, n int, fn func(worker int) error) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(w); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
}
