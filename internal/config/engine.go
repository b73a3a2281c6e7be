package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	iradix "github.com/hashicorp/go-immutable-radix/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/schema/migrate"
	"github.com/amp-edge/amp/internal/store"
)

var (
	mustCache sync.Map // *schema.Node -> bool
	tracer    = otel.Tracer("github.com/amp-edge/amp/internal/config")
)

// ErrClosed is returned for requests made after Close.
var ErrClosed = &schema.Error{Kind: schema.KindUnavailable, Message: "the configuration engine is shutting down"}

// Snapshot is an immutable view of the whole configuration at one index.
// Readers take one with Engine.Snapshot and never wait for writers.
type Snapshot struct {
	Index   uint64
	Objects *iradix.Tree[*Object]
	Refs    *iradix.Tree[struct{}]
	Uniq    *iradix.Tree[string]
	// State holds operational state (config false subtrees) by object key:
	// reported by backends and agents, merged into reads, not versioned.
	State  *iradix.Tree[map[string]any]
	schema *schema.Schema
	// back caches, per migrated version, the snapshot that reads it
	// through the conversion (ReadThrough); nil caches nothing. A copy
	// made for a state change shares it: its objects are the same.
	back *sync.Map
}

// View returns a DataNode-capable view of the snapshot.
func (s *Snapshot) view() *view { return &view{t: s.Objects, schema: s.schema, state: s.State} }

// Get returns one object.
func (s *Snapshot) Get(key string) (*Object, bool) { return s.Objects.Get([]byte(key)) }

// Options configure an Engine.
type Options struct {
	// MaxBatch bounds how many queued transactions one group commit takes.
	MaxBatch int
	// RetainCount and RetainAge bound the history kept for diff, rollback
	// and point-in-time reads (0 = unbounded). The newer of the two limits
	// wins: a record is dropped only when both say so.
	RetainCount uint64
	RetainAge   time.Duration
	Logger      *slog.Logger
	Metrics     *Metrics
	// Replica names this replica in the records it commits (shared
	// stores; see Record.Replica).
	Replica string
	// Now is the clock (tests inject one).
	Now func() time.Time
	// Backends decides which values a backend endpoint leaf
	// (ampx:backend-endpoint) may take in an enterprise; nil accepts any
	// well-typed value (engines that drive no backend, such as tests and
	// offline tools). amp serve always sets it.
	Backends BackendPolicy
	// Exclusive, when set, runs one-off work that replicas sharing the
	// store must not run at once (the store upgrade): see elect.Elector.
	// Nil runs it directly (a store of one replica).
	Exclusive func(ctx context.Context, name string, fn func() error) error
	// Elapsed is a monotonic clock: the time since any fixed origin, which
	// no step of the wall clock moves (default: Go's monotonic clock).
	// Retention by age measures with it (retentionNow); tests inject one.
	Elapsed func() time.Duration
}

// BackendPolicy is the operator's grant of backends to enterprises
// (internal/endpoint.Registry): nil when enterprise may set a leaf of
// backend kind (core, upf) to value, else the rule it breaks.
type BackendPolicy interface {
	Check(enterprise, kind, value string) error
}

// Request is one transaction to commit.
type Request struct {
	Edits     []Edit
	Targets   []TargetEdit
	Principal string
	// Groups and Address (the caller's network address) are kept in the
	// transaction log so that an audit record lost in a crash is
	// re-recorded whole (docs/security.md, "Audit trail").
	Groups  []string
	Address string
	Source  string // api, gnmi, cli, import, rollback, …
	Message string
	DryRun  bool
	// WantChanges asks for the leaf-level changes in the Result of a
	// committed transaction (a dry run always has them). They cost a diff
	// per object, so plain writes skip them; GET /transactions/{index}
	// shows them later.
	WantChanges bool
	// Rollback, when non-zero, asks to undo that transaction.
	Rollback uint64
	// Migrate, when set, moves every object of one version of a model set
	// into another (migrate.go).
	Migrate *migrate.Plan
}

// Result says what a committed (or dry-run) transaction did.
type Result struct {
	Index  uint64    `json:"index"`
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	DryRun bool      `json:"dry-run,omitempty"`
	// Unchanged says the request would not change anything: nothing was
	// recorded, and Index is the current index (ID is empty).
	Unchanged bool     `json:"unchanged,omitempty"`
	Changes   []Change `json:"changes"`
}

type pending struct {
	ctx     context.Context
	req     *Request
	done    chan outcome
	promote chan struct{} // closed-over signal: "you lead now"
	start   time.Time
}

type outcome struct {
	res *Result
	err error
}

// Engine is the configuration engine: it validates and commits transactions
// in one goroutine (group commit), publishes snapshots, keeps history and
// feeds watchers.
type Engine struct {
	schema *schema.Schema
	store  store.Store
	opts   Options
	log    *slog.Logger
	m      *Metrics
	// The wall clock and the monotonic one when the engine opened, for
	// retentionNow.
	wall0    time.Time
	elapsed0 time.Duration

	snap atomic.Pointer[Snapshot]

	// Group commit, leader/follower style: the first writer to find no
	// leader commits the queued batch itself and hands leadership to the
	// next waiter, so a lone writer never switches goroutines and
	// concurrent writers share fsyncs.
	mu       sync.Mutex // guards queue, leading, closed
	queue    []*pending
	leading  bool
	closed   bool
	idle     *sync.Cond // signalled when leadership ends
	commitMu sync.Mutex // held while a batch commits or a checkpoint runs
	closing  chan struct{}
	stopped  chan struct{}
	kick     chan struct{} // asks for a checkpoint now

	watchMu  sync.Mutex
	watchers map[*watcher]struct{}

	stateMu       sync.Mutex
	stateWatchers map[*stateWatcher]struct{}

	// dirty holds the keys changed since the last checkpoint (guarded by
	// commitMu).
	dirty map[string]struct{}
	// maintaining is set while this engine writes checkpoints and compacts
	// history: always on a store of its own, only while elected on a
	// shared one (see Maintain).
	maintaining atomic.Bool

	// shared is the store as store.Shared when other replicas commit to it
	// too; follow then applies their transactions (replica.go).
	shared     store.Shared
	followKick chan struct{}
	followDone chan struct{}
	stateDone  chan struct{}
	// stateRev is the store revision of the newest state write applied
	// per key (shared stores; commitMu held).
	stateRev map[string]int64

	waitMu   sync.Mutex
	advanced chan struct{} // closed at the next publish (WaitIndex)

	checks checks // adapters' commit-time validation (check.go)
}

// Open loads the current state from st and starts the committer.
func Open(sch *schema.Schema, st store.Store, opts Options) (*Engine, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Elapsed == nil {
		origin := time.Now()
		opts.Elapsed = func() time.Duration { return time.Since(origin) }
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	// Transaction ids come from a pool of random bytes, not one getrandom
	// system call per transaction.
	uuid.EnableRandPool()
	e := &Engine{
		schema:   sch,
		store:    st,
		opts:     opts,
		wall0:    opts.Now(),
		elapsed0: opts.Elapsed(),
		log:      opts.Logger.With("component", "config"),
		m:        opts.Metrics,
		closing:  make(chan struct{}),
		kick:     make(chan struct{}, 1),
		stopped:  make(chan struct{}),
		watchers: map[*watcher]struct{}{},
		dirty:    map[string]struct{}{},

		stateWatchers: map[*stateWatcher]struct{}{},
	}
	e.shared, _ = st.(store.Shared)
	e.maintaining.Store(e.shared == nil)
	exclusive := opts.Exclusive
	if exclusive == nil {
		exclusive = func(_ context.Context, _ string, fn func() error) error { return fn() }
	}
	// Replicas of a new release started together on an old store take
	// turns: the one that upgrades second finds the marker and does
	// nothing, instead of writing back values it read before the first
	// one's upgrade and later commits.
	if err := exclusive(context.Background(), "store-upgrade", e.upgradeStore); err != nil {
		return nil, err
	}
	start := time.Now()
	snap, err := e.load()
	for attempt := 1; e.shared != nil && errors.Is(err, store.ErrCompacted) && attempt < 3; attempt++ {
		// Another replica checkpointed and compacted while we read.
		e.dirty = map[string]struct{}{}
		snap, err = e.load()
	}
	if err != nil {
		return nil, err
	}
	e.idle = sync.NewCond(&e.mu)
	e.publish(snap)
	e.m.storeSize.Set(float64(st.Size()))
	e.log.Info("configuration loaded", "index", snap.Index, "objects", snap.Objects.Len(), "duration", time.Since(start).String())
	e.warnReservedTargets(snap)
	if err := e.retireFromHistory(); err != nil {
		e.log.Warn("could not look for enterprises deleted before ids were retired; trying again at the next start", "error", err)
	}
	go e.run()
	if e.shared != nil {
		e.followKick = make(chan struct{}, 1)
		e.followDone = make(chan struct{})
		e.followKick <- struct{}{} // whatever was committed since load
		go e.follow()
		e.stateRev = map[string]int64{}
		e.stateDone = make(chan struct{})
		go e.followState()
	}
	return e, nil
}

// Schema returns the loaded schema.
func (e *Engine) Schema() *schema.Schema { return e.schema }

// Meta is the store's metadata: small durable records beside the
// configuration, shared by every replica and never versioned (API tokens,
// a cluster's registration tokens).
func (e *Engine) Meta() store.Meta { return e.store }

// Snapshot returns the newest committed state.
func (e *Engine) Snapshot() *Snapshot { return e.snap.Load() }

// load reads every object, then rebuilds the reference and unique indexes.
func (e *Engine) load() (*Snapshot, error) {
	txn := iradix.New[*Object]().Txn()
	var bad []string
	err := e.store.Objects(func(key string, value []byte) error {
		var node *schema.Node
		if !reservedKey(key) {
			loc, err := e.schema.ParseObjectKey(key)
			if err != nil {
				bad = append(bad, key)
				return nil
			}
			node = loc.Node
		}
		o, err := decodeObject(key, node, value)
		if err != nil {
			return err
		}
		txn.Insert([]byte(key), o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load objects: %w", err)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("load objects: %d stored objects do not fit the loaded models (first: %s); start with the models they were written with", len(bad), bad[0])
	}
	// Replay the log written after the last checkpoint.
	replayed := 0
	cp, last := e.store.CheckpointIndex(), e.store.LastIndex()
	if last > cp {
		err := e.store.Log(cp+1, last, false, func(_ uint64, raw []byte) error {
			r, err := e.decodeRecord(raw)
			if err != nil {
				return err
			}
			for _, c := range r.Changes {
				if c.After == nil {
					txn.Delete([]byte(c.Key))
				} else {
					txn.Insert([]byte(c.Key), c.After)
				}
				e.dirty[c.Key] = struct{}{}
			}
			replayed++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("replay log after checkpoint %d: %w", cp, err)
		}
	}
	if replayed > 0 {
		e.log.Info("replayed the log after the last checkpoint", "transactions", replayed)
	}
	tree := txn.CommitOnly()
	snap := &Snapshot{Index: last, Objects: tree, State: iradix.New[map[string]any](), schema: e.schema, back: &sync.Map{}}
	// Rebuild indexes as one big validation-free pass.
	w := &work{e: e, base: &Snapshot{Objects: tree, Refs: iradix.New[struct{}](), Uniq: iradix.New[string](), schema: e.schema}, before: map[string]*Object{}}
	val := &validator{w: w, v: &view{t: tree, schema: e.schema}, refs: w.base.Refs.Txn(), uniq: w.base.Uniq.Txn(), probs: &w.probs, mustDone: map[string]bool{}}
	tree.Root().Walk(func(k []byte, o *Object) bool {
		if o.Node == nil {
			return false
		}
		d := val.v.node(o)
		val.indexRefs(d, nil, o)
		val.checkUnique(o)
		return false
	})
	snap.Refs = val.refs.CommitOnly()
	snap.Uniq = val.uniq.CommitOnly()
	return snap, nil
}

// indexRefs records the references of an object without checking anything
// else (start-up).
func (val *validator) indexRefs(d *dnode, inner []string, o *Object) {
	m, _ := d.data.(map[string]any)
	for _, c := range d.sch.Children {
		v, ok := m[c.Name]
		if !ok || c.Kind == schema.List {
			continue
		}
		cinner := append(append([]string{}, inner...), c.Name)
		switch {
		case c.Kind == schema.Container:
			val.indexRefs(&dnode{v: d.v, obj: o, sch: c, data: v, inner: cinner, parent: d}, cinner, o)
		case c.Type != nil && c.Type.Base == schema.TLeafref:
			val.checkLeafref(d, c, v, cinner, o)
		case c.Ref != nil:
			val.checkRef(c, v, cinner, o)
		}
	}
}

// Submit validates and commits a transaction and returns once it is durable
// (or, for a dry run, once it has been validated).
func (e *Engine) Submit(ctx context.Context, req *Request) (*Result, error) {
	ctx, span := tracer.Start(ctx, "config.Submit", trace.WithAttributes(
		attribute.Int("amp.edits", len(req.Edits)), attribute.String("amp.source", req.Source), attribute.Bool("amp.dry_run", req.DryRun)))
	defer span.End()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &pending{ctx: ctx, req: req, done: make(chan outcome, 1), promote: make(chan struct{}, 1), start: time.Now()}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	e.queue = append(e.queue, p)
	lead := !e.leading
	e.leading = true
	e.mu.Unlock()
	// Once queued, the transaction may commit: wait for the outcome even if
	// the caller gives up, so "acknowledged" and "committed" never differ.
	var out outcome
	if lead {
		e.lead(p)
		out = <-p.done
	} else {
		select {
		case out = <-p.done:
		case <-p.promote:
			e.lead(p)
			out = <-p.done
		}
	}
	if out.err != nil {
		span.RecordError(out.err)
	} else {
		span.SetAttributes(attribute.Int64("amp.index", int64(out.res.Index)))
	}
	return out.res, out.err
}

// lead commits queued batches until the one holding self is done, then
// hands leadership to the next waiter (or gives it up).
func (e *Engine) lead(self *pending) {
	for {
		e.mu.Lock()
		n := len(e.queue)
		if n > e.opts.MaxBatch {
			n = e.opts.MaxBatch
		}
		batch := append([]*pending(nil), e.queue[:n]...)
		e.queue = e.queue[n:]
		e.mu.Unlock()
		mine := false
		for _, p := range batch {
			mine = mine || p == self
		}
		e.commitMu.Lock()
		e.commitBatch(batch)
		if len(e.dirty) >= checkpointDirty {
			select {
			case e.kick <- struct{}{}:
			default:
			}
		}
		e.commitMu.Unlock()
		if mine {
			e.mu.Lock()
			if len(e.queue) > 0 {
				e.queue[0].promote <- struct{}{}
			} else {
				e.leading = false
				e.idle.Broadcast()
			}
			e.mu.Unlock()
			return
		}
	}
}

// Close stops accepting requests, lets the queued ones commit, writes a
// final checkpoint and stops.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for e.leading {
		e.idle.Wait()
	}
	e.mu.Unlock()
	close(e.closing)
	<-e.stopped
	if e.followDone != nil {
		<-e.followDone
		<-e.stateDone
	}
	e.watchMu.Lock()
	for w := range e.watchers {
		w.fail(ErrClosed)
	}
	e.watchMu.Unlock()
	return nil
}

// run does the periodic work: checkpoints and history compaction.
func (e *Engine) run() {
	defer close(e.stopped)
	compactEvery := time.NewTicker(time.Minute)
	defer compactEvery.Stop()
	checkpointTick := time.NewTicker(checkpointEvery)
	defer checkpointTick.Stop()
	for {
		select {
		case <-checkpointTick.C:
			e.checkpoint()
		case <-e.kick:
			e.checkpoint()
		case <-compactEvery.C:
			if !e.maintaining.Load() {
				continue
			}
			e.commitMu.Lock()
			e.compact()
			e.commitMu.Unlock()
		case <-e.closing:
			e.checkpoint()
			return
		}
	}
}

type staged struct {
	p      *pending
	res    *Result
	commit store.Commit
	rec    *Record
}

// checkpointEvery and checkpointDirty bound how much log a restart replays.
const (
	checkpointEvery = 2 * time.Second
	checkpointDirty = 100_000
)

// checkpointChunk bounds one checkpoint write transaction, so commits
// (which need bbolt's single writer lock too) wait for one chunk at most.
const checkpointChunk = 5000

// checkpoint writes the objects changed since the last checkpoint. It takes
// the dirty set and the newest snapshot under commitMu, then writes without
// it, in key order and in chunks, and moves the checkpoint index last.
func (e *Engine) checkpoint() {
	e.commitMu.Lock()
	if !e.maintaining.Load() {
		// Another replica checkpoints; Maintain marks what is due if
		// this one takes over.
		clear(e.dirty)
	}
	if len(e.dirty) == 0 {
		e.commitMu.Unlock()
		return
	}
	snap := e.snap.Load()
	dirty := e.dirty
	e.dirty = map[string]struct{}{}
	e.commitMu.Unlock()

	start := time.Now()
	keys := make([]string, 0, len(dirty))
	for k := range dirty {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var err error
	for i := 0; i < len(keys) && err == nil; i += checkpointChunk {
		j := min(i+checkpointChunk, len(keys))
		var puts []store.KV
		var deletes []string
		for _, k := range keys[i:j] {
			if o, ok := snap.Get(k); ok {
				puts = append(puts, store.KV{Key: k, Value: encodeObject(o)})
			} else {
				deletes = append(deletes, k)
			}
		}
		err = e.store.WriteObjects(puts, deletes)
	}
	if err == nil {
		err = e.store.SetCheckpoint(snap.Index)
	}
	if err != nil {
		e.log.Error("checkpoint failed; will retry", "error", err)
		e.commitMu.Lock()
		for k := range dirty {
			e.dirty[k] = struct{}{}
		}
		e.commitMu.Unlock()
		return
	}
	e.m.checkpointSeconds.Observe(time.Since(start).Seconds())
}

// conflictBudget bounds how long a batch keeps being re-run after other
// replicas took its index; each retry first applies what they committed.
// Between retries the batch backs off for a random while that grows with
// each conflict, so a replica that keeps losing the race for the next index
// gets its turn instead of starving.
const conflictBudget = 10 * time.Second

func (e *Engine) commitBatch(batch []*pending) {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		ok, base := e.stage(batch)
		if len(ok) == 0 {
			return
		}
		commits := make([]store.Commit, len(ok))
		for i := range ok {
			commits[i] = ok[i].commit
		}
		syncStart := time.Now()
		err := e.retire(ok)
		if err == nil {
			err = e.store.Commit(commits)
		}
		if errors.Is(err, store.ErrConflict) && time.Since(start) < conflictBudget {
			// Another replica committed first: apply what it did, then
			// validate the batch again on top of it, as if it had queued
			// behind those transactions here.
			e.m.conflicts.Inc()
			time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6))))
			// Reading what the others committed can fail for a moment
			// too (an etcd election); keep at it within the budget.
			for err = e.catchUp(); err != nil && time.Since(start) < conflictBudget; err = e.catchUp() {
				time.Sleep(100 * time.Millisecond)
			}
			if err == nil {
				batch = batch[:0]
				for _, s := range ok {
					batch = append(batch, s.p)
				}
				continue
			}
		}
		if err != nil {
			e.log.Error("store commit failed; the batch is refused", "error", err, "transactions", len(ok))
			for _, s := range ok {
				e.m.txns.WithLabelValues(s.p.req.Source, "error").Inc()
				s.p.done <- outcome{err: &schema.Error{Kind: schema.KindUnavailable, Message: "store commit failed: " + err.Error()}}
			}
			return
		}
		e.committed(ok, base, syncStart, time.Now())
		if time.Since(start) > time.Second {
			e.log.Warn("slow group commit", "transactions", len(ok), "duration", time.Since(start).String(), "attempts", attempt)
		}
		return
	}
}

// stage validates each request of the batch on top of the ones before it.
// Invalid requests and dry runs are answered here; the rest are returned
// with the snapshot after all of them.
func (e *Engine) stage(batch []*pending) ([]staged, *Snapshot) {
	base := e.snap.Load()
	var ok []staged
	for _, p := range batch {
		_, span := tracer.Start(p.ctx, "config.validate")
		snap, st, err := e.apply(base, p.req)
		span.End()
		if err != nil {
			e.m.txns.WithLabelValues(p.req.Source, resultLabel(err)).Inc()
			p.done <- outcome{err: err}
			continue
		}
		if p.req.DryRun {
			e.m.txns.WithLabelValues(p.req.Source, "dry-run").Inc()
			p.done <- outcome{res: st.res}
			continue
		}
		if st.res.Unchanged {
			e.m.txns.WithLabelValues(p.req.Source, "unchanged").Inc()
			p.done <- outcome{res: st.res}
			continue
		}
		base = snap
		st.p = p
		ok = append(ok, st)
	}
	return ok, base
}

// committed publishes a durable batch: the snapshot, the answers, the
// spans, the dirty keys and the watchers.
func (e *Engine) committed(ok []staged, base *Snapshot, syncStart, syncEnd time.Time) {
	e.m.commitSeconds.Observe(syncEnd.Sub(syncStart).Seconds())
	// One span per transaction in each caller's trace, covering the shared
	// durable write of its group commit.
	for _, st := range ok {
		_, span := tracer.Start(st.p.ctx, "store.commit", trace.WithTimestamp(syncStart),
			trace.WithAttributes(attribute.Int("amp.batch_size", len(ok)), attribute.Int64("amp.index", int64(st.res.Index))))
		span.End(trace.WithTimestamp(syncEnd))
	}
	e.m.batchSize.Observe(float64(len(ok)))
	prev := e.snap.Load()
	e.publish(base)
	for _, s := range ok {
		e.m.txns.WithLabelValues(s.p.req.Source, "committed").Inc()
		e.m.txnSeconds.Observe(time.Since(s.p.start).Seconds())
		s.p.done <- outcome{res: s.res}
		e.log.Debug("transaction committed", "index", s.res.Index, "txn", s.res.ID, "principal", s.p.req.Principal, "source", s.p.req.Source, "changes", len(s.res.Changes))
	}
	recs := make([]*Record, len(ok))
	for i, s := range ok {
		s.rec.Span = trace.SpanContextFromContext(s.p.ctx)
		recs[i] = s.rec
	}
	e.markDirty(recs)
	e.notify(recs)
	if e.shared != nil {
		e.forgetStoredState(prev, recs)
	}
}

func resultLabel(err error) string {
	switch schema.KindOf(err) {
	case schema.KindInvalid:
		return "invalid"
	case schema.KindConflict:
		return "conflict"
	case schema.KindNotFound:
		return "not-found"
	case schema.KindPrecondition:
		return "precondition"
	case schema.KindGone:
		return "gone"
	}
	return "error"
}

// apply runs one request on base and returns the snapshot after it.
func (e *Engine) apply(base *Snapshot, req *Request) (*Snapshot, staged, error) {
	index := base.Index + 1
	w := &work{e: e, base: base, txn: base.Objects.Txn(), index: index, before: map[string]*Object{}}
	for _, te := range req.Targets {
		w.applyTarget(te)
	}
	for _, ed := range req.Edits {
		w.applyEdit(ed)
	}
	if len(req.Edits) > 0 && len(w.probs.List) == 0 {
		// Only what a request writes: a rollback or a migration restores
		// or converts objects as they were.
		w.expandRules()
	}
	if req.Migrate != nil && len(w.probs.List) == 0 {
		w.applyMigration(req.Migrate)
	}
	rollbackOf := uint64(0)
	if req.Rollback != 0 && len(w.probs.List) == 0 {
		if err := e.applyRollback(w, req.Rollback); err != nil {
			return nil, staged{}, err
		}
		rollbackOf = req.Rollback
	}
	w.refuseMigratedWrites()
	if err := w.probs.Err(); err != nil {
		return nil, staged{}, err
	}
	tree := w.txn.CommitOnly()
	refs, uniq := w.validate(tree)
	if err := w.probs.Err(); err != nil {
		return nil, staged{}, err
	}
	w.runChecks(func(key string) (*Object, bool) { return tree.Get([]byte(key)) })
	if err := w.probs.Err(); err != nil {
		return nil, staged{}, err
	}
	w.checkRules(&Snapshot{Index: index, Objects: tree, Refs: refs, Uniq: uniq, schema: e.schema, back: &sync.Map{}})
	if err := w.probs.Err(); err != nil {
		return nil, staged{}, err
	}
	now := e.opts.Now().UTC()
	rec := &Record{Index: index, ID: "uuid:" + uuid.NewString(), Time: now, Principal: req.Principal, Groups: req.Groups, Address: req.Address, Source: req.Source, Message: req.Message, RollbackOf: rollbackOf, Replica: e.opts.Replica}
	commit := store.Commit{Index: index}
	for _, key := range w.order {
		before := w.before[key]
		after, exists := tree.Get([]byte(key))
		if !exists {
			after = nil
		}
		if before == nil && after == nil {
			continue
		}
		if before != nil && after != nil && equalValue(before.Data, after.Data) {
			continue
		}
		rec.Changes = append(rec.Changes, ObjectChange{Key: key, Before: before, After: after})
	}
	sort.Slice(rec.Changes, func(i, j int) bool { return rec.Changes[i].Key < rec.Changes[j].Key })
	res := &Result{Index: index, ID: rec.ID, Time: now, DryRun: req.DryRun}
	if req.DryRun || req.WantChanges {
		res.Changes = e.Changes(rec)
	}
	if req.DryRun {
		res.Index, res.ID = 0, ""
		return base, staged{res: res}, nil
	}
	if len(rec.Changes) == 0 {
		// A write that changes nothing (the current value set again, a
		// re-import) is answered with the current index and recorded
		// nowhere: an empty transaction would only bury the real ones in
		// history and wake every watcher for nothing. On a shared store
		// this is judged against this replica's snapshot, as reads are.
		return base, staged{res: &Result{Index: base.Index, Time: now, Unchanged: true, Changes: []Change{}}}, nil
	}
	commit.Log = encodeRecord(rec)
	snap := &Snapshot{Index: index, Objects: tree, Refs: refs, Uniq: uniq, State: dropState(base.State, rec), schema: e.schema, back: &sync.Map{}}
	return snap, staged{res: res, commit: commit, rec: rec}, nil
}

// compact drops history beyond the retention limits.
func (e *Engine) compact() {
	last := e.store.LastIndex()
	first := e.store.FirstIndex()
	keepFrom := first
	if n := e.opts.RetainCount; n > 0 && last > n && last-n+1 > keepFrom {
		keepFrom = last - n + 1
	}
	if age := e.opts.RetainAge; age > 0 {
		cutoff := e.retentionNow().Add(-age)
		byAge := first
		_ = e.store.Log(first, last, false, func(idx uint64, b []byte) error {
			rec, err := decodeRecordHeader(b)
			if err != nil || !rec.Time.Before(cutoff) {
				return errStop
			}
			byAge = idx + 1
			return nil
		})
		if e.opts.RetainCount == 0 || byAge < keepFrom {
			keepFrom = byAge
		}
	}
	if keepFrom > first {
		if err := e.store.Compact(keepFrom); err != nil {
			e.log.Error("history compaction failed", "error", err)
			return
		}
		e.log.Info("history compacted", "first_index", keepFrom)
		e.m.storeSize.Set(float64(e.store.Size()))
	}
}

// retentionNow is the time retention by age measures against: the wall
// clock, but never later than the wall clock at start plus the monotonic
// time since. A wall clock stepped forward (a bad NTP answer, a wrong RTC)
// would otherwise make all history look old and drop it in one pass; one
// stepped back only makes history look younger, so it is kept longer,
// never dropped early. The wall clock at start is trusted: amp serve
// should start after the clock is synchronised (docs/operations.md).
func (e *Engine) retentionNow() time.Time {
	now := e.opts.Now()
	if bound := e.wall0.Add(e.opts.Elapsed() - e.elapsed0); now.After(bound) {
		return bound
	}
	return now
}

var errStop = errors.New("stop")
