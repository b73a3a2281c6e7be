package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// Benchmarks for issue 2's figures. Each reports its baseline, measured in
// the same run, as a metric beside AMP's own number; docs/performance.md
// explains how to run them and records results.

func benchEngine(b *testing.B, dir string) (*Engine, *schema.ModelSet, *store.Bolt) {
	b.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenBolt(dir)
	if err != nil {
		b.Fatal(err)
	}
	e, err := Open(sch, st, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return e, sch.Set("aether", "2.1.x"), st
}

func setupSite(b testing.TB, e *Engine, set *schema.ModelSet) {
	b.Helper()
	ctx := context.Background()
	if _, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.Submit(ctx, &Request{Edits: []Edit{edit(b, set, OpMerge, "acme/site/s1",
		`{"imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"}}`)}}); err != nil {
		b.Fatal(err)
	}
}

// simEdit is a one-object transaction: one SIM card.
func simEdit(set *schema.ModelSet, n int64) Edit {
	loc, _ := schema.Resolve(set, "acme", []string{"site", "s1", "sim-card", fmt.Sprintf("sim-%d", n)})
	return Edit{Op: OpMerge, Loc: loc, Value: map[string]any{
		"sim-id": fmt.Sprintf("sim-%d", n), "imsi": fmt.Sprintf("315010001%06d", n%1000000),
		"iccid": fmt.Sprintf("89%016dF", n), "display-name": "bench SIM",
	}}
}

// BenchmarkSerialDurableWrite: serial single-object transactions through the
// engine, against raw bbolt serial fsynced transactions of the same value
// size on the same disk. Target: ratio >= 0.80.
func BenchmarkSerialDurableWrite(b *testing.B) {
	dir := b.TempDir()
	raw, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("b")); return err })
	e, set, st := benchEngine(b, filepath.Join(dir, "amp"))
	defer st.Close()
	defer e.Close()
	setupSite(b, e, set)
	val := make([]byte, 180) // about an encoded SIM object plus its log record
	ctx := context.Background()
	b.ResetTimer()
	// Interleave in rounds so both see the same disk conditions.
	var rawDur, ampDur time.Duration
	const round = 50
	n := 0
	for done := 0; done < b.N; done += round {
		t0 := time.Now()
		for i := 0; i < round; i++ {
			k := []byte(strconv.Itoa(n + i))
			if err := raw.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put(k, val) }); err != nil {
				b.Fatal(err)
			}
		}
		rawDur += time.Since(t0)
		t0 = time.Now()
		for i := 0; i < round; i++ {
			if _, err := e.Submit(ctx, &Request{Edits: []Edit{simEdit(set, int64(n+i))}, Source: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
		ampDur += time.Since(t0)
		n += round
	}
	b.StopTimer()
	rawRate := float64(n) / rawDur.Seconds()
	ampRate := float64(n) / ampDur.Seconds()
	b.ReportMetric(ampRate, "amp-txn/s")
	b.ReportMetric(rawRate, "bbolt-txn/s")
	b.ReportMetric(ampRate/rawRate, "ratio")
}

// BenchmarkConcurrentWriters64: 64 writers submitting single-object
// transactions; group commit batches them into shared fsyncs. Target:
// >= 10,000 transactions/s.
func BenchmarkConcurrentWriters64(b *testing.B) {
	e, set, st := benchEngine(b, b.TempDir())
	defer st.Close()
	defer e.Close()
	setupSite(b, e, set)
	ctx := context.Background()
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N/64 + 1
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := e.Submit(ctx, &Request{Edits: []Edit{simEdit(set, next.Add(1))}, Source: "bench"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*64)/time.Since(start).Seconds(), "txn/s")
}

// fill loads sims+devices until the store holds at least leaves leaves
// (a SIM has 4 leaves, a device 4).
func fill(b *testing.B, e *Engine, set *schema.ModelSet, leaves int) {
	b.Helper()
	ctx := context.Background()
	pairs := leaves / 8
	const chunk = 20000
	for start := 0; start < pairs; start += chunk {
		var sims, devs []any
		for i := start; i < start+chunk && i < pairs; i++ {
			id := fmt.Sprintf("f%d", i)
			sims = append(sims, map[string]any{"sim-id": id, "imsi": fmt.Sprintf("315010%09d", i), "iccid": fmt.Sprintf("88%016dF", i), "enable": true})
			devs = append(devs, map[string]any{"device-id": id, "imei": fmt.Sprintf("%015d", i), "sim-card": id, "display-name": "dev"})
		}
		loc, _ := schema.Resolve(set, "acme", []string{"site", "s1"})
		if _, err := e.Submit(ctx, &Request{Edits: []Edit{{Op: OpMerge, Loc: loc, Value: map[string]any{"site-id": "s1", "sim-card": sims, "device": devs}}}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidationCost: the cost of one single-object transaction
// (validated, not committed: a dry run, so fsync noise stays out) with
// 10,000 and with 1,000,000 leaves in the store. Target: 1M <= 2x 10k.
func BenchmarkValidationCost(b *testing.B) {
	for _, leaves := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("leaves=%d", leaves), func(b *testing.B) {
			e, set, st := benchEngine(b, b.TempDir())
			defer st.Close()
			defer e.Close()
			setupSite(b, e, set)
			fill(b, e, set, leaves)
			// Measure the steady state: the background checkpoint of the
			// bulk load and its garbage are not part of a transaction's cost.
			e.checkpoint()
			runtime.GC()
			ctx := context.Background()
			// A device that refers to an existing SIM, joined to a new group:
			// leafref, unique and must checks all run.
			loc, _ := schema.Resolve(set, "acme", []string{"site", "s1", "device", "newdev"})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ed := Edit{Op: OpMerge, Loc: loc, Value: map[string]any{"device-id": "newdev", "imei": "999999999999999", "sim-card": "f1"}}
				if _, err := e.Submit(ctx, &Request{Edits: []Edit{ed}, DryRun: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoad1M: start-up (open and load) with a store of 1,000,000
// leaves, and the memory held afterwards. Targets: <= 3 s, <= 1 GiB RSS.
func BenchmarkLoad1M(b *testing.B) {
	dir := b.TempDir()
	e, set, st := benchEngine(b, dir)
	setupSite(b, e, set)
	fill(b, e, set, 1_000_000)
	e.Close()
	st.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		t0 := time.Now()
		e, _, st := benchEngine(b, dir)
		load := time.Since(t0)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(load.Seconds(), "load-s")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(rssBytes())/(1<<20), "rss-MiB")
		b.ReportMetric(float64(e.Snapshot().Objects.Len()), "objects")
		e.Close()
		st.Close()
	}
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkBulkImport: one transaction of 100,000 SIM cards and 100,000
// devices referring to them, committed durably (the engine's share of
// `amp import`; the CLI end to end is measured by `amp bench import`).
func BenchmarkBulkImport(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, set, st := benchEngine(b, b.TempDir())
		setupSite(b, e, set)
		var sims, devs []any
		for i := 0; i < 100_000; i++ {
			id := fmt.Sprintf("s%d", i)
			sims = append(sims, map[string]any{"sim-id": id, "imsi": fmt.Sprintf("315010%09d", i), "iccid": fmt.Sprintf("88%016dF", i)})
			devs = append(devs, map[string]any{"device-id": id, "imei": fmt.Sprintf("%015d", i), "sim-card": id})
		}
		loc, _ := schema.Resolve(set, "acme", []string{"site", "s1"})
		req := &Request{Edits: []Edit{{Op: OpMerge, Loc: loc, Value: map[string]any{"site-id": "s1", "sim-card": sims, "device": devs}}}}
		b.StartTimer()
		t0 := time.Now()
		if _, err := e.Submit(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "commit-s")
		b.StopTimer()
		e.Close()
		st.Close()
	}
}
