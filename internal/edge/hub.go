package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge/relay"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/edge")

// Options configure a Hub.
type Options struct {
	// Interval is the check-in interval agents are told (default: the
	// --agent-checkin-interval flag, Interval). A cluster is disconnected
	// after two intervals without a check-in or an open wait.
	Interval time.Duration
	// WriteEvery bounds how often a connected agent's last-seen alone is
	// written to the store (default: the --agent-last-seen-every flag,
	// LastSeenEvery): between those writes it is kept in memory and in
	// amp_edge_last_checkin_timestamp_seconds, so another replica on the
	// same store sees a last-seen up to WriteEvery old.
	WriteEvery time.Duration
	// Registry receives the amp_edge_ metrics (nil: unregistered).
	Registry prometheus.Registerer
	Logger   *slog.Logger
	Now      func() time.Time
}

// Hub is the central end of the agent link for one engine: each cluster's
// desired state cached with its digest, the agents waiting for a change,
// and what the agents last reported. Two engine watches feed it, of the
// commits and of the operational state (a rollout's staged version is
// state): a change rebuilds the cached state of the clusters it affects
// (Source.Affects) and wakes only the waiters of those whose digest moved,
// so an unchanged check or wait costs the same whatever the fleet size.
type Hub struct {
	eng  *config.Engine
	sch  *schema.Schema
	dir  Directory
	srcs []Source
	opts Options
	m    *metrics
	log  *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry    // by cluster id: those asked about since start
	calls   map[string]*siteCall // open site queries, by id (queries.go)
	// relay asks the replica holding an agent's link on a shared etcd
	// (nil on the embedded store: one replica holds every link).
	relay *relay.Relay

	// stateBase is the snapshot the state watch started from and
	// stateSeen each object's state as the watch last delivered it: the
	// Before of the next write of it (Change.Before). Run goroutine only.
	stateBase *config.Snapshot
	stateSeen map[string]map[string]any
	// stateLost are the keys of objects deleted since (apply): their
	// next state write rebuilds every cached state.
	stateLost map[string]bool

	stop context.CancelFunc
	done chan struct{}
	// processed is the index of the newest transaction applied.
	processed atomic.Uint64
	// states counts the operational state writes applied.
	states atomic.Uint64
}

// entry is one cluster's cached desired state and its agent's link.
type entry struct {
	c         Cluster
	cur, prev *state    // prev: the state before the last change (a delta's base)
	asOf      uint64    // the snapshot index cur was built at; nil cur: not built yet
	gone      bool      // the cluster was deleted
	changedAt time.Time // commit time of the last change, for the delivery histogram
	waiters   []*waiter // requests waiting for a change (wait.go)
	queries   queries   // site queries for its agent (queries.go)

	seen      time.Time // last check-in or desired-state request
	connected bool
	digest    [32]byte // of the last recorded check-in, without its times
	skew      int64    // clock skew recorded with it, in seconds
	written   time.Time
	// seeded is the last-seen the store gave when this replica started
	// (seed); while seen equals it, this replica has not heard from the
	// agent and knows only what the store says.
	seeded time.Time
}

// heard says whether this replica heard from e's agent itself.
func (e *entry) heard() bool { return !e.seen.IsZero() && !e.seen.Equal(e.seeded) }

// skewStep is how far an agent's clock skew must move before it is
// written again: a synchronised clock reads ±1 s by network latency alone.
const skewStep = 5

// NewHub starts a hub on eng with the registered directory and sources;
// Close stops it.
func NewHub(eng *config.Engine, opts Options) (*Hub, error) {
	dir, srcs := registered()
	if dir == nil {
		return nil, errors.New("edge: no cluster directory is registered (the inventory's cluster wing registers it)")
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Duration(Interval)
	}
	if opts.WriteEvery <= 0 {
		opts.WriteEvery = time.Duration(LastSeenEvery)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, stop := context.WithCancel(context.Background())
	h := &Hub{eng: eng, sch: eng.Schema(), dir: dir, srcs: srcs, opts: opts, m: metricsFor(opts.Registry),
		log: opts.Logger.With("component", "edge"), entries: map[string]*entry{}, stop: stop, done: make(chan struct{})}
	h.seed()
	states := eng.WatchState(ctx)
	h.stateBase, h.stateSeen, h.stateLost = eng.Snapshot(), map[string]map[string]any{}, map[string]bool{}
	w, err := eng.Watch(ctx, eng.Snapshot().Index)
	if err != nil {
		stop()
		return nil, err
	}
	if cli, prefix, ok := etcdOf(eng.Meta()); ok {
		if h.relay, err = relay.New(cli, prefix, relay.TTL, h, opts.Registry, opts.Logger); err != nil {
			stop()
			return nil, err
		}
	}
	go h.run(ctx, w, states)
	return h, nil
}

// etcdOf finds the etcd client under a store shared by replicas.
func etcdOf(m store.Meta) (*clientv3.Client, string, bool) {
	for {
		switch s := m.(type) {
		case interface {
			Client() *clientv3.Client
			Prefix() string
		}:
			return s.Client(), s.Prefix(), true
		case interface{ Unwrap() store.Store }:
			m = s.Unwrap()
		default:
			return nil, "", false
		}
	}
}

// Close stops the hub's watch and sweeper, and its end of the relay.
func (h *Hub) Close() {
	h.stop()
	<-h.done
}

// seed takes the clusters the store says are connected (a shared store
// keeps state across restarts) as connected since their stored last-seen,
// so the sweeper disconnects those whose agent does not come back: to
// this replica or, with replicas, to another one, which writes their
// last-seen at least every WriteEvery.
func (h *Hub) seed() {
	snap := h.eng.Snapshot()
	now := h.opts.Now()
	for _, c := range h.dir.Clusters(h.sch, snap) {
		a := h.dir.State(h.sch, snap, c.ID)["agent"]
		if up, _ := a["connected"].(bool); !up {
			continue
		}
		seen := now
		if s, ok := a["last-seen"].(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil && t.Before(now) {
				seen = t
			}
		}
		e := &entry{c: c, seen: seen, connected: true, written: seen, seeded: seen}
		h.entries[c.ID] = e
		h.m.setLink(c, true, seen)
	}
}

// run feeds commits and state writes to the cache and sweeps, until Close
// or the engine closes.
func (h *Hub) run(ctx context.Context, w *config.Watch, states <-chan config.StateChange) {
	defer close(h.done)
	if h.relay != nil {
		defer h.relay.Close()
	}
	sweep := time.NewTicker(max(h.opts.Interval/2, 100*time.Millisecond))
	defer sweep.Stop()
	for {
		select {
		case rec, ok := <-w.C:
			if ok {
				h.apply(rec)
				h.processed.Store(rec.Index)
				continue
			}
			if ctx.Err() != nil || errors.Is(w.Err(), config.ErrClosed) {
				return
			}
			// Lagged (or history compacted under it): start again from
			// now and rebuild every cached state, waking the clusters
			// whose digest moved.
			h.log.Warn("the edge hub's watch fell behind; rebuilding the cached desired states", "processed", h.processed.Load(), "error", w.Err())
			var err error
			if w, err = h.eng.Watch(ctx, h.eng.Snapshot().Index); err != nil {
				h.log.Error("the edge hub cannot watch the configuration", "error", err)
				return
			}
			h.rebuildAll()
		case sc, ok := <-states:
			if ok {
				h.applyState(sc)
				h.states.Add(1)
				continue
			}
			if ctx.Err() != nil {
				return
			}
			// Lagged: state is not versioned, so there is nothing to
			// resume from; watch again and rebuild every cached state.
			h.log.Warn("the edge hub's state watch fell behind; rebuilding the cached desired states")
			states = h.eng.WatchState(ctx)
			h.stateBase, h.stateSeen, h.stateLost = h.eng.Snapshot(), map[string]map[string]any{}, map[string]bool{}
			h.rebuildAll()
		case <-sweep.C:
			h.sweep(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// affected returns the clusters changes may affect as of snap (h.mu
// held), asking srcs: a source's Wildcard is every cached cluster.
func (h *Hub) affected(snap *config.Snapshot, srcs []Source, changes []Change) map[string]bool {
	var out map[string]bool
	for _, ch := range changes {
		for _, s := range srcs {
			for _, id := range s.Affects(h.sch, snap, ch) {
				if out == nil {
					out = map[string]bool{}
				}
				if id != Wildcard {
					out[id] = true
					continue
				}
				for cached := range h.entries {
					out[cached] = true
				}
			}
		}
	}
	return out
}

// apply rebuilds the cached states a commit affects.
func (h *Hub) apply(rec *config.Record) {
	changes := make([]Change, len(rec.Changes))
	for i, ch := range rec.Changes {
		changes[i] = Change{Key: ch.Key}
		if ch.After == nil && h.hadState(ch.Key) {
			// A deleted object's state goes with it, unannounced, and
			// the state watch may already have delivered writes of it
			// declared again: the next write of the key has no Before
			// to trust.
			delete(h.stateSeen, ch.Key)
			h.stateLost[ch.Key] = true
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	snap := h.eng.Snapshot() // published before the watch hears of rec
	for id := range h.affected(snap, h.srcs, changes) {
		e := h.entries[id]
		if e == nil || e.cur == nil || e.asOf >= rec.Index {
			continue // not cached, or built from a snapshot that holds rec
		}
		h.rebuild(id, e, snap, rec.Index, rec.Time, rec.Span)
	}
}

// applyState rebuilds the cached states an operational state write
// affects (run goroutine). State has no index of its own: an object it
// changes gets the index of the configuration it was read with.
func (h *Hub) applyState(sc config.StateChange) {
	before, ok := h.stateSeen[sc.Key]
	if !ok {
		before, _ = h.stateBase.State.Get([]byte(sc.Key))
	}
	h.stateSeen[sc.Key] = sc.State // nil (cleared) too: no longer the base's
	if h.stateLost[sc.Key] {
		delete(h.stateLost, sc.Key)
		h.rebuildAll()
		return
	}
	h.rebuildAffected(h.srcs, Change{Key: sc.Key, State: true, Before: before, After: sc.State})
}

// hadState says whether the state watch saw state at key (run goroutine).
func (h *Hub) hadState(key string) bool {
	if st, ok := h.stateSeen[key]; ok {
		return st != nil
	}
	_, ok := h.stateBase.State.Get([]byte(key))
	return ok
}

// rebuildAffected rebuilds the cached states ch affects, asking srcs, as
// of the current snapshot.
func (h *Hub) rebuildAffected(srcs []Source, ch Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	snap := h.eng.Snapshot() // published before the watchers hear of ch
	for id := range h.affected(snap, srcs, []Change{ch}) {
		if e := h.entries[id]; e != nil && e.cur != nil {
			h.rebuild(id, e, snap, snap.Index, h.opts.Now(), trace.SpanContext{})
		}
	}
}

// Notify tells the hub of eng, when one runs, that what the source of
// kind keeps beside the configuration and state changed for the object
// ch.Key (ch.Aside set): the source says which clusters that affects, and
// their states are rebuilt before Notify returns. Changes a hub hears of
// otherwise (commits, state writes) need no Notify.
func Notify(eng *config.Engine, kind string, ch Change) {
	hubsMu.Lock()
	h := hubs[eng]
	hubsMu.Unlock()
	if h == nil {
		return
	}
	for _, s := range h.srcs {
		if s.Kind() == kind {
			h.rebuildAffected([]Source{s}, ch)
		}
	}
}

func (h *Hub) rebuildAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	snap := h.eng.Snapshot()
	for id, e := range h.entries {
		if e.cur != nil {
			h.rebuild(id, e, snap, snap.Index, h.opts.Now(), trace.SpanContext{})
		}
	}
}

// rebuild reads one cluster's state again as of snap (h.mu held); at is
// the transaction that caused it, committed at when by the request whose
// span is commit (not valid: none known).
func (h *Hub) rebuild(id string, e *entry, snap *config.Snapshot, at uint64, when time.Time, commit trace.SpanContext) {
	c, ok := h.dir.Cluster(h.sch, snap, id)
	if !ok {
		e.gone = true
		h.wake(e, when)
		delete(h.entries, id)
		h.m.forget(e.c)
		return
	}
	st, err := build(h.sch, snap, c, h.srcs, e.cur, at)
	if err != nil {
		h.log.Error("cannot build a cluster's desired state; its agents keep the previous one", "cluster", id, "error", err)
		return
	}
	if c.Site != e.c.Site && e.connected {
		h.m.forget(e.c)
		h.m.setLink(c, true, e.seen)
	}
	e.c, e.asOf = c, snap.Index
	if st.digest == e.cur.digest {
		st.commit = e.cur.commit
		e.cur = st
		return
	}
	st.commit = commit
	e.prev, e.cur = e.cur, st
	h.wake(e, when)
}

// wake answers the requests waiting on e's state (h.mu held).
func (h *Hub) wake(e *entry, when time.Time) {
	e.changedAt = when
	for _, w := range e.waiters {
		w.timer.Stop()
		h.m.waiting.Dec()
		go h.finish(w, true)
	}
	e.waiters = nil
}

// lookup returns the cluster's entry with its desired state built (h.mu
// held); an undeclared cluster is not found and leaves nothing behind.
func (h *Hub) lookup(id string) (*entry, error) {
	e := h.entries[id]
	if e != nil && e.cur != nil {
		return e, nil
	}
	snap := h.eng.Snapshot()
	c, ok := h.dir.Cluster(h.sch, snap, id)
	if !ok {
		if e != nil { // seeded from the store, deleted since
			delete(h.entries, id)
			h.m.forget(e.c)
		}
		return nil, notDeclared(id)
	}
	st, err := build(h.sch, snap, c, h.srcs, nil, 0)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = &entry{}
		h.entries[id] = e
	}
	e.c, e.cur, e.asOf = c, st, snap.Index
	return e, nil
}

// LinkPath is the path of a cluster's link routes, as errors name it.
func LinkPath(id string) string { return "/edge/v1/clusters/" + schema.EscapeSegment(id) }

func notDeclared(id string) error {
	return schema.Errorf(schema.KindNotFound, LinkPath(id), "no cluster %q is declared", id)
}

// Answer kinds of a desired-state request (amp_edge_desired_answers_total).
const (
	AnswerUnchanged = "unchanged"
	AnswerDelta     = "delta"
	AnswerFull      = "full"
)

// answer is the change from what the agent holds to cur: everything when
// it holds nothing (since 0) or a state older than the retained history;
// else a delta from the previous state (when that is what it holds) or
// from the configuration as of since.
func (h *Hub) answer(c Cluster, cur, prev *state, since uint64, digest string) (*wire.Desired, error) {
	if since == 0 || since > h.eng.Snapshot().Index {
		return cur.full(c.ID), nil
	}
	if prev != nil && prev.digest == digest {
		return cur.delta(c.ID, prev), nil
	}
	then, err := h.eng.At(since, c.Prefix)
	if schema.KindOf(err) == schema.KindGone {
		return cur.full(c.ID), nil
	}
	if err != nil {
		return nil, err
	}
	old, err := build(h.sch, then, c, h.srcs, nil, 0)
	if err != nil {
		return nil, err
	}
	d := cur.delta(c.ID, old)
	if len(d.Objects) == 0 && len(d.Removed) == 0 {
		// Its digest is not the state's at since: what it holds is not
		// what AMP sent; it starts over from everything.
		return cur.full(c.ID), nil
	}
	return d, nil
}

// sweep disconnects the agents silent for two intervals with no wait
// open, and writes the last-seen of the others at most every WriteEvery.
//
// With replicas on one store, an agent silent here may be talking to
// another replica: that one records its connection, then writes its
// last-seen at least every WriteEvery. So an agent this replica never
// heard from (seeded from the store) is judged only once its stored
// last-seen is older than WriteEvery and two intervals; and before
// writing a disconnection, the store is read: a last-seen later than
// this replica's means another replica heard from the agent since, and
// this one forgets the link (its metrics series too) instead of writing
// over that replica's record.
func (h *Hub) sweep(ctx context.Context) {
	type write struct {
		c         Cluster
		connected bool
		seen      time.Time
	}
	var writes []write
	now := h.opts.Now()
	snap := h.eng.Snapshot()
	h.mu.Lock()
	for _, e := range h.entries {
		switch {
		case !e.connected:
		case len(e.waiters) == 0 && now.Sub(e.seen) > 2*h.opts.Interval:
			if !e.heard() && now.Sub(e.seen) <= h.opts.WriteEvery+2*h.opts.Interval {
				break // another replica may hold it and write its last-seen later
			}
			if stored, ok := h.storedSeen(snap, e.c.ID); ok && stored.After(e.seen) {
				e.connected, e.seen, e.seeded, e.digest = false, time.Time{}, time.Time{}, [32]byte{}
				h.m.forget(e.c)
				break
			}
			e.connected = false
			e.digest = [32]byte{} // the next check-in is recorded whole
			h.m.setLink(e.c, false, e.seen)
			writes = append(writes, write{e.c, false, e.seen})
		case e.seen.After(e.written) && now.Sub(e.written) >= h.opts.WriteEvery:
			e.written = now
			writes = append(writes, write{e.c, true, e.seen})
		}
	}
	h.mu.Unlock()
	for _, w := range writes {
		err := h.dir.Record(ctx, h.eng, w.c.ID, "agent", config.OpMerge, map[string]any{"connected": w.connected, "last-seen": stamp(w.seen)})
		if err != nil && schema.KindOf(err) != schema.KindNotFound {
			h.log.Warn("cannot record an agent's link state", "cluster", w.c.ID, "connected", w.connected, "error", err)
		}
		if !w.connected {
			h.log.Info("cluster agent disconnected", "cluster", w.c.ID, "last_seen", stamp(w.seen))
		}
	}
}

// storedSeen is the last-seen the store holds for cluster id's agent, to
// the second.
func (h *Hub) storedSeen(snap *config.Snapshot, id string) (time.Time, bool) {
	s, _ := h.dir.State(h.sch, snap, id)["agent"]["last-seen"].(string)
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

var (
	hubsMu sync.Mutex
	hubs   = map[*config.Engine]*Hub{}
)

// For returns the hub of eng, started on first use with the registry of
// the server that asks (a process may run several servers, each with an
// engine of its own); it stops when the engine closes.
func For(eng *config.Engine, reg prometheus.Registerer) (*Hub, error) {
	hubsMu.Lock()
	defer hubsMu.Unlock()
	if h, ok := hubs[eng]; ok {
		return h, nil
	}
	h, err := NewHub(eng, Options{Registry: reg})
	if err != nil {
		return nil, fmt.Errorf("the agent link: %w", err)
	}
	hubs[eng] = h
	go func() {
		<-h.done
		hubsMu.Lock()
		delete(hubs, eng)
		hubsMu.Unlock()
	}()
	return h, nil
}
