package config

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/models"
)

// BenchmarkEtcdWriters64 (issue 5): 64 writers of single-object
// transactions through the engine on a three-member etcd cluster (Debian's
// etcd-server, local), against raw etcd Puts by 64 writers of the same
// value size, same cluster, same run. Target: AMP >= 50% of raw.
//
//	go test -run '^$' -bench EtcdWriters64 -benchtime 6400x ./internal/config/
func BenchmarkEtcdWriters64(b *testing.B) {
	c := etcd.Start(b, 3)
	eps := strings.Split(c.Endpoints(), ",")
	ctx := context.Background()

	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	// A one-SIM transaction's log record is about this size.
	value := strings.Repeat("x", 320)
	per := b.N/64 + 1
	run := func(op func(n int64) error) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					if err := op(next.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(per*64) / time.Since(start).Seconds()
	}

	sch, err := schema.Load(models.FS)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenEtcd(ctx, store.EtcdConfig{Endpoints: eps, Prefix: "/amp-bench/"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e, err := Open(sch, st, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	set := sch.Set("aether", "2.1.x")
	setupSite(b, e, set)

	b.ResetTimer()
	raw := run(func(n int64) error {
		_, err := cli.Put(ctx, fmt.Sprintf("/raw-bench/%d", n), value)
		return err
	})
	amp := run(func(n int64) error {
		_, err := e.Submit(ctx, &Request{Edits: []Edit{simEdit(set, n)}, Source: "bench"})
		return err
	})
	// The same 64 writers spread over two replicas of one prefix: they
	// compete for each index, so the loser of a race re-runs its batch.
	r, err := Open(sch, e.store, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	two := run(func(n int64) error {
		eng := e
		if n%2 == 1 {
			eng = r
		}
		_, err := eng.Submit(ctx, &Request{Edits: []Edit{simEdit(set, n+int64(per*64))}, Source: "bench"})
		return err
	})
	b.StopTimer()
	b.ReportMetric(raw, "raw-etcd-put/s")
	b.ReportMetric(amp, "amp-txn/s")
	b.ReportMetric(amp/raw, "ratio")
	b.ReportMetric(two, "amp-2-replicas-txn/s")
}

// BenchmarkReplicaApply (issue 5): how long after one replica acknowledges
// a transaction another replica has applied it (its watch delivers it),
// with 16 writers on the first replica and three Debian etcd members.
// Baseline in the same run: a raw etcd watcher's delay behind raw Puts of
// the same size by 16 writers. Target: AMP p99 <= 50 ms.
//
//	go test -run '^$' -bench ReplicaApply -benchtime 4000x ./internal/config/
func BenchmarkReplicaApply(b *testing.B) {
	c := etcd.Start(b, 3)
	eps := strings.Split(c.Endpoints(), ",")
	ctx := context.Background()
	a, set := replicaEngine(b, c.Endpoints(), "/amp-apply/")
	r, _ := replicaEngine(b, c.Endpoints(), "/amp-apply/")
	setupSite(b, a, set)
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	watcher, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer watcher.Close()
	value := strings.Repeat("x", 320)

	// delays runs n writes by 16 writers; write returns the key it wrote
	// once acknowledged, and the delivered channel reports keys as the
	// other side sees them.
	delays := func(n int, write func(i int64) (uint64, error), delivered <-chan uint64) []time.Duration {
		var mu sync.Mutex
		acked := map[uint64]time.Time{}
		seen := map[uint64]time.Time{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for k := range delivered {
				mu.Lock()
				seen[k] = time.Now()
				complete := len(seen) >= n
				mu.Unlock()
				if complete {
					return
				}
			}
		}()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					k, err := write(i)
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					acked[k] = time.Now()
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatal("the other side did not see every write within 30 s")
		}
		var out []time.Duration
		for k, at := range acked {
			out = append(out, max(0, seen[k].Sub(at)))
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[int(float64(len(d)-1)*p)].Microseconds()) / 1000
	}

	b.ResetTimer()
	// Raw etcd: the watcher's delay behind acknowledged Puts.
	wctx, cancel := context.WithCancel(ctx)
	rawSeen := make(chan uint64, 1024)
	go func() {
		defer close(rawSeen)
		for resp := range watcher.Watch(wctx, "/raw-apply/", clientv3.WithPrefix()) {
			for _, ev := range resp.Events {
				rawSeen <- uint64(ev.Kv.CreateRevision)
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // the watch is established
	raw := delays(b.N, func(i int64) (uint64, error) {
		resp, err := cli.Put(ctx, fmt.Sprintf("/raw-apply/%d", i), value)
		if err != nil {
			return 0, err
		}
		return uint64(resp.Header.Revision), nil
	}, rawSeen)
	cancel()

	// AMP: replica r applies what replica a acknowledged.
	if _, err := r.WaitIndex(ctx, a.Snapshot().Index); err != nil {
		b.Fatal(err)
	}
	w, err := r.Watch(ctx, r.Snapshot().Index)
	if err != nil {
		b.Fatal(err)
	}
	ampSeen := make(chan uint64, 1024)
	go func() {
		defer close(ampSeen)
		for rec := range w.C {
			ampSeen <- rec.Index
		}
	}()
	amp := delays(b.N, func(i int64) (uint64, error) {
		res, err := a.Submit(ctx, &Request{Edits: []Edit{simEdit(set, i)}, Source: "bench"})
		if err != nil {
			return 0, err
		}
		return res.Index, nil
	}, ampSeen)
	b.StopTimer()
	b.ReportMetric(pct(amp, 0.50), "amp-p50-ms")
	b.ReportMetric(pct(amp, 0.99), "amp-p99-ms")
	b.ReportMetric(pct(raw, 0.50), "raw-watch-p50-ms")
	b.ReportMetric(pct(raw, 0.99), "raw-watch-p99-ms")
}
