// Package relay carries site queries between AMP replicas on one etcd: a
// replica asked about a site whose agent long-polls another replica
// writes the query to etcd; the replica holding the agent's link takes it
// (exactly once, by a delete-if-exists transaction), queues it for its
// agent, and writes the answer back, which the asker watches. Nothing of
// the caller is written: the query is restricted before it is relayed.
// Every key lives on the asking replica's lease, so a dead asker's
// queries and answers vanish with it. The embedded store has one replica
// and no relay.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// MaxAnswer bounds a relayed answer (bytes): etcd refuses requests over
// its --max-request-bytes, 1.5 MiB by default, well under what a site
// may answer (wire.MaxSiteAnswer). A larger one is relayed as a failure
// saying so.
const MaxAnswer = 1 << 20

// TooLarge is the reason a site answer over MaxAnswer is not relayed.
const TooLarge = "its answer is too large to relay between replicas (over 1 MiB); narrow the query"

// TTL is the lease of a replica's relayed keys, in seconds: how long they
// outlive a replica that stopped renewing it.
const TTL = 10

// Taker is the replica's side that runs a relayed query: Take reports
// whether this replica holds the link of cluster's agent and can queue a
// query for it now; Run queues q for it and waits for its answer until
// ctx ends.
type Taker interface {
	Take(cluster string) bool
	Run(ctx context.Context, cluster string, q wire.SiteQuery) (wire.SiteAnswer, error)
}

// envelope is a relayed query: the query, the asker's lease (the answer
// is written on it) and how long the asker waits.
type envelope struct {
	Query wire.SiteQuery `json:"query"`
	Lease int64          `json:"lease"`
	Wait  time.Duration  `json:"wait"`
}

// Relay is one replica's end of the relay.
type Relay struct {
	cli    *clientv3.Client
	prefix string // <store prefix>
	lease  clientv3.LeaseID
	taker  Taker
	log    *slog.Logger
	m      *metrics

	stop context.CancelFunc
	wg   sync.WaitGroup
}

type metrics struct {
	relayed *prometheus.CounterVec
}

// New starts this replica's end on cli under prefix (the store's):
// a lease of ttl seconds kept alive, and the watch of the queries other
// replicas relay, taken for taker. Close stops it and revokes the lease.
func New(cli *clientv3.Client, prefix string, ttl int64, taker Taker, reg prometheus.Registerer, log *slog.Logger) (*Relay, error) {
	if log == nil {
		log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l, err := cli.Grant(lctx, ttl)
	if err != nil {
		stop()
		return nil, fmt.Errorf("the site query relay's lease: %w", err)
	}
	ka, err := cli.KeepAlive(ctx, l.ID)
	if err != nil {
		stop()
		return nil, fmt.Errorf("the site query relay's lease: %w", err)
	}
	r := &Relay{cli: cli, prefix: prefix, lease: l.ID, taker: taker, log: log.With("component", "edge.relay"), stop: stop,
		m: &metrics{relayed: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "amp_edge_relayed_queries_total",
			Help: "Site queries relayed between replicas, by role (asked: this replica wrote one for another's agent; taken: it ran one for another replica) and result (ok, too-large, failed, unanswered, lost).",
		}, []string{"role", "result"})}}
	// The watch starts at the current revision: queries written before
	// this replica started were for replicas that were there then.
	wc := cli.Watch(clientv3.WithRequireLeader(ctx), r.queryKey(""), clientv3.WithPrefix(), clientv3.WithFilterDelete())
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		for range ka { // drain: the client renews while it is read
		}
	}()
	go r.watch(ctx, wc)
	return r, nil
}

// Close stops taking queries and revokes the lease: this replica's
// relayed keys go with it.
func (r *Relay) Close() {
	r.stop()
	r.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = r.cli.Revoke(ctx, r.lease)
}

func (r *Relay) queryKey(cluster string) string {
	if cluster == "" {
		return r.prefix + "sitequeries/"
	}
	return r.prefix + "sitequeries/" + cluster + "/"
}
func (r *Relay) answerKey(id string) string { return r.prefix + "siteanswers/" + id }

// Ask relays q (its ID set) for cluster's agent, held by another replica,
// and waits for the answer until ctx ends (ctx's error then). The keys
// are deleted when it returns.
func (r *Relay) Ask(ctx context.Context, cluster string, q wire.SiteQuery) (a wire.SiteAnswer, err error) {
	result := "ok"
	defer func() { r.m.relayed.WithLabelValues("asked", result).Inc() }()
	wait := time.Duration(0)
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	env, err := json.Marshal(envelope{Query: q, Lease: int64(r.lease), Wait: wait})
	if err != nil {
		result = "failed"
		return wire.SiteAnswer{}, err
	}
	qk, ak := r.queryKey(cluster)+q.ID, r.answerKey(q.ID)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	put, err := r.cli.Put(ctx, qk, string(env), clientv3.WithLease(r.lease))
	if err != nil {
		result = "failed"
		return wire.SiteAnswer{}, fmt.Errorf("relaying the query to the replica holding the agent's link: %w", err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer dcancel()
		_, _ = r.cli.Txn(dctx).Then(clientv3.OpDelete(qk), clientv3.OpDelete(ak)).Commit()
	}()
	// The answer is watched from the query's revision: it cannot come
	// earlier, nor be missed.
	wc := r.cli.Watch(clientv3.WithRequireLeader(wctx), ak, clientv3.WithRev(put.Header.Revision), clientv3.WithFilterDelete())
	for resp := range wc {
		if err := resp.Err(); err != nil {
			result = "failed"
			return wire.SiteAnswer{}, err
		}
		for _, ev := range resp.Events {
			if err := json.Unmarshal(ev.Kv.Value, &a); err != nil {
				result = "failed"
				return wire.SiteAnswer{}, fmt.Errorf("the relayed answer: %w", err)
			}
			if a.Status == 0 {
				result = "failed"
			}
			return a, nil
		}
	}
	if ctx.Err() != nil {
		result = "unanswered"
		return wire.SiteAnswer{}, ctx.Err()
	}
	result = "lost"
	return wire.SiteAnswer{}, errors.New("the watch of the relayed answer ended")
}

// watch takes the queries other replicas relay for agents this replica
// holds, until ctx ends.
func (r *Relay) watch(ctx context.Context, wc clientv3.WatchChan) {
	defer r.wg.Done()
	for {
		for resp := range wc {
			for _, ev := range resp.Events {
				if ev.Type != clientv3.EventTypePut || ev.Kv.CreateRevision != ev.Kv.ModRevision {
					continue
				}
				r.consider(ctx, string(ev.Kv.Key), ev.Kv.Value)
			}
		}
		if ctx.Err() != nil {
			return
		}
		// The watch broke (compaction, lost leader): queries written
		// meanwhile are lost to this replica; their askers time out.
		r.log.Warn("the site query relay's watch ended; watching again")
		time.Sleep(time.Second)
		wc = r.cli.Watch(clientv3.WithRequireLeader(ctx), r.queryKey(""), clientv3.WithPrefix(), clientv3.WithFilterDelete())
	}
}

// consider takes the relayed query at key if this replica holds its
// cluster's agent and no other replica took it first, and runs it.
func (r *Relay) consider(ctx context.Context, key string, value []byte) {
	rest := strings.TrimPrefix(key, r.queryKey(""))
	cluster, _, ok := strings.Cut(rest, "/")
	if !ok || !r.taker.Take(cluster) {
		return
	}
	var env envelope
	if err := json.Unmarshal(value, &env); err != nil {
		r.log.Warn("a relayed site query does not decode; left to expire", "key", key, "error", err)
		return
	}
	// Delete-if-exists: of the replicas that consider it, exactly one
	// takes it (and none once its asker gave up).
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := r.cli.Txn(tctx).If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).Then(clientv3.OpDelete(key)).Commit()
	cancel()
	if err != nil || !resp.Succeeded {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.run(ctx, cluster, env)
	}()
}

// run runs a taken query at this replica's agent and writes its answer on
// the asker's lease.
func (r *Relay) run(ctx context.Context, cluster string, env envelope) {
	wait := env.Wait
	if wait <= 0 {
		wait = time.Minute
	}
	qctx, cancel := context.WithTimeout(ctx, wait)
	a, err := r.taker.Run(qctx, cluster, env.Query)
	cancel()
	result := "ok"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		r.m.relayed.WithLabelValues("taken", "unanswered").Inc()
		return // the asker gives up at the same time
	case err != nil:
		a, result = wire.SiteAnswer{Error: err.Error()}, "failed"
	case len(a.Body) > MaxAnswer:
		a, result = wire.SiteAnswer{Error: TooLarge}, "too-large"
	case a.Status == 0:
		result = "failed"
	}
	b, _ := json.Marshal(a)
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if _, err := r.cli.Put(pctx, r.answerKey(env.Query.ID), string(b), clientv3.WithLease(clientv3.LeaseID(env.Lease))); err != nil {
		result = "lost" // the asker's lease is gone: nobody waits
	}
	r.m.relayed.WithLabelValues("taken", result).Inc()
}
