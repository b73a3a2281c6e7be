package elect

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// candidate is one replica's elector and what its work saw.
type candidate struct {
	el      *Etcd
	cli     *clientv3.Client
	leading atomic.Bool
	terms   atomic.Int32
}

func newCandidate(t *testing.T, endpoint, id string) *candidate {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return &candidate{cli: cli, el: &Etcd{Client: cli, Prefix: "/elect-test/", ID: id, TTL: 2, Log: slog.New(slog.DiscardHandler), Metrics: NewMetrics(nil)}}
}

// run campaigns until ctx ends; overlap counts moments two candidates led.
func (c *candidate) run(ctx context.Context, others *atomic.Int32, overlap *atomic.Int32) {
	c.el.Lead(ctx, "controller/test", func(ctx context.Context) {
		if others.Add(1) > 1 {
			overlap.Add(1)
		}
		c.leading.Store(true)
		c.terms.Add(1)
		<-ctx.Done()
		c.leading.Store(false)
		others.Add(-1)
	})
}

func waitUntil(t *testing.T, cond func() bool, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestOneLeaderAndHandOver: of two candidates exactly one leads; when it
// stops, the other leads at once (resign); when the leader's process loses
// etcd (its client closes, as in a crash), the other leads within the
// lease's TTL; never both at once.
func TestOneLeaderAndHandOver(t *testing.T) {
	c := etcd.Start(t, 1)
	ep := c.Members[0].ClientURL
	var leaders, overlap atomic.Int32
	a, b := newCandidate(t, ep, "a"), newCandidate(t, ep, "b")
	actx, stopA := context.WithCancel(context.Background())
	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	aDone := make(chan struct{})
	go func() { a.run(actx, &leaders, &overlap); close(aDone) }()
	waitUntil(t, a.leading.Load, "a to lead")
	go b.run(bctx, &leaders, &overlap)
	time.Sleep(500 * time.Millisecond)
	if b.leading.Load() {
		t.Fatal("b leads while a does")
	}

	// a stops: it resigns, b leads without waiting for a lease to lapse.
	stopA()
	<-aDone
	if d := waitUntil(t, b.leading.Load, "b to lead after a resigned"); d > time.Second {
		t.Errorf("hand-over after a resignation took %s", d)
	}

	// a campaigns again, then b "crashes": its connection to etcd is cut,
	// so its lease lapses; a leads within the TTL (2 s) plus a little.
	a2 := newCandidate(t, ep, "a")
	a2ctx, stopA2 := context.WithCancel(context.Background())
	defer stopA2()
	go a2.run(a2ctx, &leaders, &overlap)
	time.Sleep(300 * time.Millisecond)
	b.cli.Close()
	d := waitUntil(t, a2.leading.Load, "a to lead after b lost etcd")
	t.Logf("took over %s after the leader lost etcd (TTL 2 s)", d)
	waitUntil(t, func() bool { return !b.leading.Load() }, "b to stop leading once its lease is gone")
	if n := overlap.Load(); n != 0 {
		t.Fatalf("two candidates led at once %d times", n)
	}
}
