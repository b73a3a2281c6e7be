// Package elect decides which AMP replica runs work that must have one
// active instance: each controller (one pusher per backend, so no double
// pushes) and the maintainer that checkpoints and compacts history. On the
// embedded store there is one replica and it always leads; on etcd the
// replicas campaign in an election of etcd's concurrency package, held by a
// lease that lapses TTL seconds after its holder stops renewing it.
package elect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Elector runs work that must run on one replica at a time.
type Elector interface {
	// Lead runs fn each time this replica becomes the leader of name,
	// until ctx ends; fn's context ends when leadership is lost, and fn
	// must stop acting then. Lead returns when ctx ends and fn returned.
	Lead(ctx context.Context, name string, fn func(ctx context.Context))
	// Leader names the replica leading name now ("" if none).
	Leader(ctx context.Context, name string) (string, error)
	// Exclusive runs fn while no other replica runs an Exclusive of the
	// same name: one-off work every replica would otherwise start at once
	// (the store upgrade on the first start of a new release).
	Exclusive(ctx context.Context, name string, fn func() error) error
}

// Metrics are the elector's series: which elections this replica leads.
type Metrics struct {
	leading *prometheus.GaugeVec
	changes *prometheus.CounterVec
}

// NewMetrics registers the series on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		leading: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amp_leader",
			Help: "1 while this replica leads the election (controller/<adapter>, maintenance), 0 while another replica does.",
		}, []string{"election"}),
		changes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_leader_changes_total",
			Help: "Times this replica gained or lost leadership, by election and event (gained, lost).",
		}, []string{"election", "event"}),
	}
}

// Local is the elector of a replica that is alone (the embedded store).
type Local struct{ M *Metrics }

// Lead implements Elector: a lone replica always leads.
func (l Local) Lead(ctx context.Context, name string, fn func(ctx context.Context)) {
	if l.M != nil {
		l.M.leading.WithLabelValues(name).Set(1)
	}
	fn(ctx)
}

// Leader implements Elector: a lone replica leads everything it runs.
func (Local) Leader(context.Context, string) (string, error) { return "this replica", nil }

// Exclusive implements Elector: a lone replica has nobody to exclude.
func (Local) Exclusive(_ context.Context, _ string, fn func() error) error { return fn() }

// Etcd elects among the replicas that share an etcd prefix.
type Etcd struct {
	Client *clientv3.Client
	// Prefix is the store's key prefix; elections live under
	// <Prefix>elect/<name>.
	Prefix string
	// ID names this replica in the election (who leads is readable with
	// etcdctl get --prefix <Prefix>elect/).
	ID string
	// TTL is the lease in seconds: how long a dead leader's leadership
	// outlives it, so the bound on hand-over after a crash.
	TTL     int
	Log     *slog.Logger
	Metrics *Metrics
}

// Lead implements Elector.
func (e *Etcd) Lead(ctx context.Context, name string, fn func(ctx context.Context)) {
	log := e.Log.With("election", name, "replica", e.ID)
	gauge := e.Metrics.leading.WithLabelValues(name)
	gauge.Set(0)
	for ctx.Err() == nil {
		if err := e.term(ctx, name, log, gauge, fn); err != nil && ctx.Err() == nil {
			log.Warn("election interrupted; campaigning again", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// Exclusive implements Elector with a mutex of etcd's concurrency package
// under <Prefix>lock/<name>, held by a lease: a replica killed while holding
// it releases it TTL seconds later.
func (e *Etcd) Exclusive(ctx context.Context, name string, fn func() error) error {
	sess, err := concurrency.NewSession(e.Client, concurrency.WithTTL(e.TTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer sess.Close()
	mu := concurrency.NewMutex(sess, e.Prefix+"lock/"+name)
	if err := mu.TryLock(ctx); errors.Is(err, concurrency.ErrLocked) {
		e.Log.Info("waiting for another replica", "lock", name, "replica", e.ID)
		err = mu.Lock(ctx)
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = mu.Unlock(uctx)
	}()
	return fn()
}

// term campaigns once and, if elected, runs fn until leadership or ctx ends.
func (e *Etcd) term(ctx context.Context, name string, log *slog.Logger, gauge prometheus.Gauge, fn func(ctx context.Context)) error {
	sess, err := concurrency.NewSession(e.Client, concurrency.WithTTL(e.TTL), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer sess.Close()
	// Everything of this term ends when the lease does: a campaign still
	// waiting must not win on a lapsed lease, and a leader that can no
	// longer renew must stop before another replica's lease lets it lead.
	tctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-sess.Done():
			cancel()
		case <-tctx.Done():
		}
	}()
	el := concurrency.NewElection(sess, e.Prefix+"elect/"+name)
	if err := el.Campaign(tctx, e.ID); err != nil {
		return err
	}
	gauge.Set(1)
	e.Metrics.changes.WithLabelValues(name, "gained").Inc()
	log.Info("leading")
	fn(tctx)
	gauge.Set(0)
	e.Metrics.changes.WithLabelValues(name, "lost").Inc()
	if ctx.Err() == nil && tctx.Err() != nil {
		log.Warn("lost leadership (the lease lapsed: etcd unreachable for longer than its TTL)", "ttl_seconds", e.TTL)
	}
	// Hand over now rather than when the lease lapses.
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	_ = el.Resign(rctx)
	return nil
}

// Leader implements Elector. The leader is the candidate whose key under
// the election's prefix is oldest, as concurrency.Election.Leader reads it
// (that needs a session of its own, which a mere reader should not hold).
func (e *Etcd) Leader(ctx context.Context, name string) (string, error) {
	resp, err := e.Client.Get(ctx, e.Prefix+"elect/"+name+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("who leads %s: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
