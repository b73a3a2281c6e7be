package config

import (
	"context"
	"fmt"
	"log/slog"
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
	b.StopTimer()
	b.ReportMetric(raw, "raw-etcd-put/s")
	b.ReportMetric(amp, "amp-txn/s")
	b.ReportMetric(amp/raw, "ratio")
}
