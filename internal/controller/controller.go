package controller

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/controller")

// State of one object in its backend.
const (
	InSync  = "in-sync"
	Pending = "pending"
	Error   = "error"
	// Degraded: the backend took the object, but it cannot hold all the
	// configuration asks for (Desired.Degraded says what is missing).
	// Never reported as in-sync.
	Degraded = "degraded"
	// Progressing: a long push is under way and reported how far it has
	// come (Status.Message, Status.Progress); not applied yet.
	Progressing = "progressing"
)

// Status is what the controller knows about one backend object.
type Status struct {
	Adapter      string   `json:"adapter"`
	ID           string   `json:"id"`
	Backend      string   `json:"backend"`
	Sources      []string `json:"sources,omitempty"`
	Status       string   `json:"status"`
	AppliedIndex uint64   `json:"applied-index"`
	WantedIndex  uint64   `json:"wanted-index"`
	// ChangedIndex is the index whose configuration last changed what the
	// backend should hold for this object.
	ChangedIndex uint64    `json:"changed-index"`
	Message      string    `json:"message,omitempty"`
	Attempts     int       `json:"attempts,omitempty"`
	LastAttempt  time.Time `json:"last-attempt,omitempty"`
	Deleting     bool      `json:"deleting,omitempty"`
	// Progress is how far a progressing push has come, from 0 to 1.
	Progress *float64 `json:"progress,omitempty"`
	// Terminal: the backend refused the object for a reason retrying
	// cannot fix; it is tried again only once its content changes.
	Terminal bool `json:"terminal,omitempty"`
}

// Options tune a Controller.
type Options struct {
	Logger *slog.Logger
	// ProbeEvery is how often each backend is asked what it holds, to
	// detect restarts that lost state.
	ProbeEvery time.Duration
	BackoffMin time.Duration
	BackoffMax time.Duration
	// PushTimeout bounds one push or delete.
	PushTimeout time.Duration
	Metrics     *Metrics
}

// Controller keeps one adapter's backends in line with the configuration.
type Controller struct {
	eng  *config.Engine
	ad   Adapter
	opts Options
	log  *slog.Logger
	m    *Metrics

	mu        sync.Mutex
	objs      map[string]*entry                       // by adapter id
	queues    map[string]map[string]trace.SpanContext // backend -> ids due for a push, with the trace that asked
	workers   map[string]chan struct{}                // backend -> its worker's kick
	runCtx    context.Context
	processed uint64        // newest index rendered and attempted
	changed   chan struct{} // signalled when processed or statuses move
	// attempted wakes the loop after a worker's batch, to arm the retry
	// timer for the objects that just failed (pushes run beside the loop).
	attempted chan struct{}
	lastFull  time.Time
	// health is, per backend, whether its last push failed, so repeated
	// failures are logged once per change of state, with a count.
	health map[string]*backendHealth
	// probing is set while a probe of the backends runs.
	probing atomic.Bool
	// waiters maps an object to those waiting for it (Desired.DependsOn),
	// queued again when its push or delete goes through; referrers maps
	// an object to the applied objects that depend on it, which its
	// delete waits for.
	waiters, referrers map[string]map[string]bool
}

type entry struct {
	desired Desired
	applied []byte // body the backend is known to hold (nil: unknown/none)
	st      Status
	next    time.Time // retry not before
	// backoff is the un-jittered delay of the last retry (0: none yet);
	// only a success or a new body resets it, never another reconcile.
	backoff time.Duration
	// retrying: a retry is queued or under way. The object stays due
	// (its next time is only moved when the attempt ends), so without it
	// any wake-up of the loop meanwhile queued it again: two pushes at
	// once, and a backend in trouble hit twice per step of the backoff.
	retrying bool
	// blocked is the object this one waits for (see Controller.blocker).
	blocked string
	// terminal: the last attempt failed terminally; only new content
	// is tried.
	terminal bool
	// appliedDeps are the dependencies of the body the backend holds.
	appliedDeps []string
}

// backendHealth counts one backend's failed pushes since it last worked.
type backendHealth struct {
	failures int
	since    time.Time
}

// New creates a controller for one adapter.
func New(eng *config.Engine, ad Adapter, opts Options) *Controller {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ProbeEvery <= 0 {
		opts.ProbeEvery = 5 * time.Second
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 100 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.PushTimeout <= 0 {
		opts.PushTimeout = 10 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	return &Controller{eng: eng, ad: ad, opts: opts, log: opts.Logger.With("component", "controller", "adapter", ad.Name()),
		m: opts.Metrics, objs: map[string]*entry{}, changed: make(chan struct{}), attempted: make(chan struct{}, 1),
		queues: map[string]map[string]trace.SpanContext{}, workers: map[string]chan struct{}{}, health: map[string]*backendHealth{},
		waiters: map[string]map[string]bool{}, referrers: map[string]map[string]bool{}}
}

// Run reconciles until ctx ends: a full reconcile first, then on every
// committed transaction, on retry deadlines and on backend probes.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()
	for ctx.Err() == nil {
		err := c.runWatch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// A gap in the watch (lag, compaction, engine restart): start over
		// with a full reconcile.
		c.log.Warn("watch ended; full reconcile", "error", err)
		time.Sleep(c.opts.BackoffMin)
	}
	return nil
}

func (c *Controller) runWatch(ctx context.Context) error {
	snap := c.eng.Snapshot()
	w, err := c.eng.Watch(ctx, snap.Index)
	if err != nil {
		return err
	}
	c.reconcile(ctx, snap, true, nil)
	probe := time.NewTicker(c.opts.ProbeEvery)
	defer probe.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	var changed <-chan struct{} // nil (never ready) unless the adapter is a Trigger
	if t, ok := c.ad.(Trigger); ok {
		changed = t.Changed()
	}
	for {
		c.resetRetry(retry)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			changed = c.ad.(Trigger).Changed()
			c.log.Debug("reconciling after the adapter's inputs changed")
			c.reconcile(ctx, c.eng.Snapshot(), false, nil)
		case rec, ok := <-w.C:
			if !ok {
				if err := w.Err(); err != nil {
					return err
				}
				return errors.New("watch closed")
			}
			// Coalesce: whatever else is queued is covered by the newest
			// snapshot. The reconcile continues the trace of the newest
			// request and links the others, so a trace runs from the API
			// call to the backend push.
			spans := []trace.SpanContext{rec.Span}
			relevant := c.watches(rec)
			changed := changedKeys(nil, rec)
		drain:
			for {
				select {
				case r, ok := <-w.C:
					if !ok {
						break drain
					}
					spans = append(spans, r.Span)
					relevant = relevant || c.watches(r)
					changed = changedKeys(changed, r)
				default:
					break drain
				}
			}
			snap := c.eng.Snapshot()
			if !relevant {
				c.mu.Lock()
				if snap.Index > c.processed {
					c.processed = snap.Index
				}
				c.mu.Unlock()
				c.notify()
				continue
			}
			c.log.Debug("reconciling after a commit", "index", rec.Index)
			c.reconcile(traceContext(ctx, spans), snap, false, changed)
		case <-c.attempted: // the loop's top re-arms the retry timer
		case <-retry.C:
			c.retryDue(ctx)
		case <-probe.C:
			// Probes run beside the loop: a slow backend's answer must not
			// hold up the reconcile of the next commit. One at a time.
			if c.probing.CompareAndSwap(false, true) {
				go func() {
					defer c.probing.Store(false)
					c.probe(ctx)
				}()
			}
		}
	}
}

// watches reports whether a transaction touches what the adapter watches
// (everything, for an adapter that does not say).
func (c *Controller) watches(rec *config.Record) bool {
	w, ok := c.ad.(Watcher)
	if !ok {
		return true
	}
	for _, ch := range rec.Changes {
		for _, p := range w.Watches() {
			if strings.HasPrefix(ch.Key, p) || strings.HasPrefix(p, ch.Key+"/") || strings.HasPrefix(ch.Key, "@target/") {
				return true
			}
		}
	}
	return false
}

// changedKeys adds to m the object keys a transaction changed and every
// key above them (a change to a child entry changes its parent's subtree),
// so touched is a lookup per source.
func changedKeys(m map[string]bool, rec *config.Record) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	for _, ch := range rec.Changes {
		for k := ch.Key; k != "" && !m[k]; {
			m[k] = true
			i := strings.LastIndexByte(k, '/')
			if i < 0 {
				break
			}
			k = k[:i]
		}
	}
	return m
}

// touched reports whether any source (or an object below one) changed.
func touched(changed map[string]bool, sources []string) bool {
	for _, src := range sources {
		if changed[src] {
			return true
		}
	}
	return false
}

// appliedStatus is an object's status once its backend holds it.
func appliedStatus(d Desired) string {
	if d.Degraded != "" {
		return Degraded
	}
	return InSync
}

// traceContext makes the newest valid span the parent and links the rest.
func traceContext(ctx context.Context, spans []trace.SpanContext) context.Context {
	var links []trace.Link
	var parent trace.SpanContext
	for i := len(spans) - 1; i >= 0; i-- {
		if !spans[i].IsValid() {
			continue
		}
		if !parent.IsValid() {
			parent = spans[i]
			continue
		}
		links = append(links, trace.Link{SpanContext: spans[i]})
	}
	if !parent.IsValid() {
		return ctx
	}
	return context.WithValue(trace.ContextWithRemoteSpanContext(ctx, parent), linksKey{}, links)
}

type linksKey struct{}

// reconcile renders the snapshot and pushes what differs from what the
// backends are known to hold (everything, when full).
//
// changed holds the keys the transactions since the last reconcile changed
// (nil for a full reconcile).
func (c *Controller) reconcile(ctx context.Context, snap *config.Snapshot, full bool, changed map[string]bool) {
	opts := traceAttrs(c.ad.Name(), snap.Index, full)
	if links, _ := ctx.Value(linksKey{}).([]trace.Link); len(links) > 0 {
		opts = append(opts, trace.WithLinks(links...))
	}
	ctx, span := tracer.Start(ctx, "controller.reconcile", opts...)
	defer span.End()
	start := time.Now()
	desired := c.ad.Render(snap)
	checkDependencies(desired)
	c.mu.Lock()
	var work []string
	for id, d := range desired {
		e, ok := c.objs[id]
		if !ok {
			e = &entry{st: Status{Adapter: c.ad.Name(), ID: id}}
			c.objs[id] = e
		}
		bodyChanged := !ok || !bytes.Equal(e.desired.Body, d.Body) || e.desired.Err != d.Err || e.desired.Degraded != d.Degraded
		if bodyChanged || e.st.Deleting || (d.Err != "" && touched(changed, d.Sources)) {
			// An object in error whose sources changed counts as changed
			// too: a write to it must not be answered in-sync.
			e.st.ChangedIndex = snap.Index
		}
		e.desired = d
		e.st.Backend, e.st.Sources, e.st.Deleting = d.Backend, d.Sources, false
		if d.Err != "" {
			e.st.Status, e.st.Message, e.st.WantedIndex, e.st.Progress, e.blocked = Error, d.Err, snap.Index, nil, ""
			continue
		}
		// An object failing with unchanged content keeps its backoff: no
		// other pass (a commit elsewhere, a full resync) pushes it; its
		// retries (retryDue) do, on their schedule. One refused for good
		// (terminal) waits for new content.
		failingLater := !bodyChanged && e.st.Status == Error && (!e.next.IsZero() || e.terminal)
		if bodyChanged {
			e.next, e.backoff = time.Time{}, 0 // new content is tried at once
			e.terminal, e.st.Terminal = false, false
		}
		switch {
		case failingLater:
			e.st.WantedIndex = snap.Index // retryDue pushes it on its schedule
		case !full && !bodyChanged && (e.st.Status == Pending || e.st.Status == Progressing):
			// Queued or being pushed with this very body already: pushing
			// it again after that would only double the backend's load.
		case full || !bytes.Equal(e.applied, d.Body):
			e.st.Status, e.st.WantedIndex = Pending, snap.Index
			work = append(work, id)
		default: // the backend holds this body already (a revert to it, say)
			e.st.Status, e.st.Message = appliedStatus(d), d.Degraded
			e.st.AppliedIndex, e.st.WantedIndex = snap.Index, snap.Index
		}
	}
	for id, e := range c.objs {
		if _, ok := desired[id]; ok {
			continue
		}
		if e.applied == nil && e.st.Status != Pending {
			delete(c.objs, id) // never reached the backend: nothing to undo
			continue
		}
		if e.st.Deleting && e.st.Status == Error && (!e.next.IsZero() || e.terminal) {
			e.st.WantedIndex = snap.Index // a failing delete keeps its backoff
			continue
		}
		if !e.st.Deleting {
			e.next, e.backoff = time.Time{}, 0
			e.terminal, e.st.Terminal = false, false
			e.st.ChangedIndex = snap.Index
		}
		e.st.Status, e.st.Deleting, e.st.WantedIndex = Pending, true, snap.Index
		work = append(work, id)
	}
	work = append(work, c.unblocked()...)
	c.mu.Unlock()
	if full {
		go c.deleteStrays(ctx, desired) // probes of dead backends must not hold up pushes
	}
	c.attempt(ctx, work) // each backend's worker orders its batch (order)
	c.mu.Lock()
	if snap.Index > c.processed {
		c.processed = snap.Index
	}
	if full {
		c.lastFull = time.Now()
		c.m.fullSync.WithLabelValues(c.ad.Name()).SetToCurrentTime()
	}
	c.mu.Unlock()
	c.m.reconcileSeconds.WithLabelValues(c.ad.Name()).Observe(time.Since(start).Seconds())
	c.notify()
}

// deleteStrays removes objects a backend holds that nothing renders any
// more (left from before a restart of AMP).
func (c *Controller) deleteStrays(ctx context.Context, desired map[string]Desired) {
	backends := map[string]bool{}
	for _, d := range desired {
		backends[d.Backend] = true
	}
	var wg sync.WaitGroup
	for b := range backends {
		wg.Add(1)
		go func(b string) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, c.opts.PushTimeout)
			held, err := c.ad.Held(pctx, b)
			cancel()
			if err != nil {
				return // unreachable: the pushes will report it
			}
			for id := range held {
				if _, ok := desired[id]; ok {
					continue
				}
				dctx, cancel := context.WithTimeout(ctx, c.opts.PushTimeout)
				if err := c.ad.Delete(dctx, id, b); err != nil {
					c.log.Warn("could not delete a stray object", "id", id, "backend", b, "error", err)
				}
				cancel()
			}
		}(b)
	}
	wg.Wait()
}

// attempt queues the given objects for their backends' workers: each
// backend has its own worker, pushing its objects in dependency order, so
// an unreachable or slow backend delays no other, in this round or later
// ones (an object that depends on one of its objects waits for it).
func (c *Controller) attempt(ctx context.Context, ids []string) {
	sc := trace.SpanContextFromContext(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		e, ok := c.objs[id]
		if !ok {
			continue
		}
		b := e.desired.Backend
		q := c.queues[b]
		if q == nil {
			q = map[string]trace.SpanContext{}
			c.queues[b] = q
		}
		q[id] = sc
		kick, ok := c.workers[b]
		if !ok {
			kick = make(chan struct{}, 1)
			c.workers[b] = kick
			go c.worker(c.runCtx, b, kick)
		}
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// worker pushes one backend's queued objects until ctx ends.
func (c *Controller) worker(ctx context.Context, backend string, kick chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		c.mu.Lock()
		q := c.queues[backend]
		c.queues[backend] = nil
		c.mu.Unlock()
		ids := make([]string, 0, len(q))
		for id := range q {
			ids = append(ids, id)
		}
		c.mu.Lock()
		c.order(ids)
		c.mu.Unlock()
		c.attemptSerial(ctx, ids, q)
		c.updateGauges()
		c.notify()
		select {
		case c.attempted <- struct{}{}:
		default: // the loop has a wake-up pending already
		}
	}
}

// attemptSerial pushes the objects of one backend one after the other,
// each push span continuing the trace that asked for it.
func (c *Controller) attemptSerial(ctx context.Context, ids []string, traces map[string]trace.SpanContext) {
	for _, id := range ids {
		c.mu.Lock()
		e, ok := c.objs[id]
		if !ok {
			c.mu.Unlock()
			continue
		}
		e.blocked = ""
		if dep := c.blocker(id, e); dep != "" {
			e.retrying = false
			c.wait(id, e, dep)
			c.mu.Unlock()
			continue
		}
		d, deleting, wanted := e.desired, e.st.Deleting, e.st.WantedIndex
		c.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, c.opts.PushTimeout)
		pctx = context.WithValue(pctx, progressKey{}, func(msg string, f float64) { c.progress(e, msg, f) })
		if sc := traces[id]; sc.IsValid() {
			pctx = trace.ContextWithRemoteSpanContext(pctx, sc)
		}
		pctx, span := tracer.Start(pctx, "controller.push", traceAttrs(c.ad.Name(), wanted, false)...)
		span.SetAttributes(attribute.String("amp.object", id), attribute.Bool("amp.delete", deleting))
		start := time.Now()
		var err error
		op := "push"
		if deleting {
			op = "delete"
			err = c.ad.Delete(pctx, id, d.Backend)
		} else {
			err = c.ad.Push(pctx, id, d)
		}
		span.End()
		cancel()
		c.m.pushSeconds.WithLabelValues(c.ad.Name(), op).Observe(time.Since(start).Seconds())
		c.mu.Lock()
		e.retrying = false
		e.st.Attempts++
		e.st.LastAttempt = time.Now()
		e.st.Progress = nil
		released := c.released(id) // ordered after this attempt, whatever its outcome
		switch {
		case err != nil && IsTerminal(err):
			// The backend answered, and refused: it works, and retrying
			// would be refused again. New content is tried (reconcile).
			c.m.pushes.WithLabelValues(c.ad.Name(), op, "error").Inc()
			c.m.terminal.WithLabelValues(c.ad.Name(), op).Inc()
			e.st.Status, e.st.Message, e.st.Terminal = Error, err.Error(), true
			e.terminal, e.next, e.backoff = true, time.Time{}, 0
			c.log.WarnContext(ctx, "backend refused the object; not retried until it changes", "op", op, "id", id, "backend", d.Backend, "error", err)
		case err != nil:
			c.m.pushes.WithLabelValues(c.ad.Name(), op, "error").Inc()
			e.st.Status, e.st.Message = Error, err.Error()
			var delay time.Duration
			e.backoff, delay = nextBackoff(e.backoff, c.opts.BackoffMin, c.opts.BackoffMax)
			e.next = time.Now().Add(delay)
			c.failed(ctx, d.Backend, id, op, err, delay)
		default:
			c.m.pushes.WithLabelValues(c.ad.Name(), op, "ok").Inc()
			c.worked(ctx, d.Backend)
			if deleting {
				c.setApplied(id, nil)
				delete(c.objs, id)
			} else {
				e.applied = d.Body
				c.setApplied(id, d.DependsOn)
				e.backoff, e.next = 0, time.Time{}
				if bytes.Equal(e.desired.Body, d.Body) {
					e.st.Status, e.st.Message, e.st.AppliedIndex, e.st.Attempts = appliedStatus(e.desired), e.desired.Degraded, wanted, 0
				} // else a newer render is queued and stays pending
			}
		}
		c.mu.Unlock()
		if len(released) > 0 {
			c.attempt(ctx, released)
		}
	}
}

// progress records what a long push reported (Progress) while the object
// has a push outstanding (a report arriving after the push ended, or on
// an object meanwhile in error, is dropped).
func (c *Controller) progress(e *entry, msg string, fraction float64) {
	c.mu.Lock()
	if e.st.Status != Pending && e.st.Status != Progressing {
		c.mu.Unlock()
		return
	}
	e.st.Status, e.st.Message, e.st.Progress = Progressing, msg, &fraction
	c.mu.Unlock()
	c.notify()
}

// nextBackoff returns the next un-jittered delay (min at first, then
// doubling up to max) and the delay to wait: that one plus up to a fifth
// more of jitter, capped at max. The jitter only adds, so no retry comes
// sooner than the schedule says (docs/controllers.md).
func nextBackoff(cur, min, max time.Duration) (base, delay time.Duration) {
	base = min
	if cur >= min {
		base = cur * 2
	}
	if base > max {
		base = max
	}
	delay = base + time.Duration(rand.Int64N(int64(base/5)+1))
	if delay > max {
		delay = max
	}
	return base, delay
}

// failed logs a failed push: at warning level when its backend was
// working (a change of state), quietly while it keeps failing, so a dead
// backend costs one line, not one per retry. Called with c.mu held.
func (c *Controller) failed(ctx context.Context, backend, id, op string, err error, retryIn time.Duration) {
	h := c.health[backend]
	if h == nil {
		h = &backendHealth{since: time.Now()}
		c.health[backend] = h
	}
	h.failures++
	c.m.failing.WithLabelValues(c.ad.Name()).Set(float64(len(c.health)))
	level := slog.LevelDebug
	msg := "push failed again; will retry"
	if h.failures == 1 {
		level, msg = slog.LevelWarn, "backend push failed; retrying with backoff, logging again when it recovers"
	}
	c.log.Log(ctx, level, msg, "op", op, "id", id, "backend", backend, "error", err, "retry_in", retryIn.String(), "failures", h.failures)
}

// worked ends a backend's failing state, logging how many pushes failed
// meanwhile. Called with c.mu held.
func (c *Controller) worked(ctx context.Context, backend string) {
	h := c.health[backend]
	if h == nil {
		return
	}
	delete(c.health, backend)
	c.m.failing.WithLabelValues(c.ad.Name()).Set(float64(len(c.health)))
	c.log.InfoContext(ctx, "backend push works again", "backend", backend, "failures", h.failures, "failing_for", time.Since(h.since).Round(time.Millisecond).String())
}

func (c *Controller) resetRetry(t *time.Timer) {
	c.mu.Lock()
	var soonest time.Time
	for _, e := range c.objs {
		if retriable(e) && (soonest.IsZero() || e.next.Before(soonest)) {
			soonest = e.next
		}
	}
	c.mu.Unlock()
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	if soonest.IsZero() {
		t.Reset(time.Hour)
		return
	}
	t.Reset(max(time.Until(soonest), time.Millisecond))
}

// retriable reports whether an object in error is retried on its backoff
// schedule: not one that cannot be rendered or was refused for good.
func retriable(e *entry) bool {
	return e.st.Status == Error && e.desired.Err == "" && !e.terminal
}

func (c *Controller) retryDue(ctx context.Context) {
	now := time.Now()
	var due []string
	c.mu.Lock()
	for id, e := range c.objs {
		if retriable(e) && !e.retrying && !e.next.After(now) {
			e.retrying = true
			due = append(due, id)
		}
	}
	c.mu.Unlock()
	if len(due) > 0 {
		sort.Strings(due)
		c.m.retries.WithLabelValues(c.ad.Name()).Add(float64(len(due)))
		c.attempt(ctx, due)
		c.notify()
	}
}

// probe asks each backend what it holds; objects it lost are pushed again.
func (c *Controller) probe(ctx context.Context) {
	c.mu.Lock()
	byBackend := map[string][]string{}
	for id, e := range c.objs {
		if e.applied != nil && !e.st.Deleting {
			byBackend[e.desired.Backend] = append(byBackend[e.desired.Backend], id)
		}
	}
	c.mu.Unlock()
	type answer struct {
		held map[string]bool
		err  error
	}
	answers := make(map[string]answer, len(byBackend))
	var amu sync.Mutex
	var wg sync.WaitGroup
	for b := range byBackend {
		wg.Add(1)
		go func(b string) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, c.opts.PushTimeout)
			held, err := c.ad.Held(pctx, b)
			cancel()
			amu.Lock()
			answers[b] = answer{held, err}
			amu.Unlock()
		}(b)
	}
	wg.Wait()
	for b, ids := range byBackend {
		held, err := answers[b].held, answers[b].err
		if err != nil {
			c.log.Debug("backend probe failed", "backend", b, "error", err)
			continue
		}
		var lost []string
		for _, id := range ids {
			if !held[id] {
				lost = append(lost, id)
			}
		}
		if len(lost) == 0 {
			continue
		}
		c.log.Info("backend lost objects (restarted?); resyncing it", "backend", b, "lost", len(lost))
		c.m.resyncs.WithLabelValues(c.ad.Name()).Inc()
		// Resync the whole backend: everything it should hold, in order.
		var all []string
		c.mu.Lock()
		for id, e := range c.objs {
			if e.desired.Backend == b && !e.st.Deleting && e.desired.Err == "" {
				e.applied = nil
				if e.st.Status == Error {
					continue // retried on its own schedule
				}
				e.st.Status = Pending
				all = append(all, id)
			}
		}
		c.mu.Unlock()
		c.attempt(ctx, all)
		c.notify()
	}
}

func (c *Controller) notify() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *Controller) updateGauges() {
	counts := map[string]int{InSync: 0, Pending: 0, Progressing: 0, Error: 0, Degraded: 0}
	c.mu.Lock()
	for _, e := range c.objs {
		counts[e.st.Status]++
	}
	c.mu.Unlock()
	for s, n := range counts {
		c.m.objects.WithLabelValues(c.ad.Name(), s).Set(float64(n))
	}
}

// Statuses returns every object's status, sorted by id.
func (c *Controller) Statuses() []Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Status, 0, len(c.objs))
	for _, e := range c.objs {
		out = append(out, e.st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SourceEnterprises returns the enterprises of an object's sources (the
// tenant of each config key; none for a global set's): who may see its
// status.
func SourceEnterprises(sch *schema.Schema, sources []string) []string {
	var ents []string
	for _, src := range sources {
		if e := sch.TenantOfKey(src); e != "" {
			ents = append(ents, e)
		}
	}
	return ents
}

// Processed is the newest configuration index the controller has rendered
// and pushed (successfully or not).
func (c *Controller) Processed() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.processed
}

// WaitApplied blocks until the controller has processed index and every
// object whose backend content changed at or after index is no longer
// pending, then returns those objects' statuses (in-sync or error). When ctx
// ends first it returns what it has with ctx's error.
func (c *Controller) WaitApplied(ctx context.Context, index uint64) ([]Status, error) {
	for {
		c.mu.Lock()
		ch := c.changed
		done := c.processed >= index
		var out []Status
		pending := false
		for _, e := range c.objs {
			if e.st.ChangedIndex >= index {
				out = append(out, e.st)
				pending = pending || e.st.Status == Pending || e.st.Status == Progressing
			}
		}
		c.mu.Unlock()
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		if done && !pending {
			return out, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

func traceAttrs(adapter string, index uint64, full bool) []trace.SpanStartOption {
	return []trace.SpanStartOption{trace.WithAttributes(attribute.String("amp.adapter", adapter), attribute.Int64("amp.index", int64(index)), attribute.Bool("amp.full", full))}
}

// Metrics are a controller's Prometheus series.
type Metrics struct {
	pushes           *prometheus.CounterVec
	retries          *prometheus.CounterVec
	resyncs          *prometheus.CounterVec
	pushSeconds      *prometheus.HistogramVec
	reconcileSeconds *prometheus.HistogramVec
	objects          *prometheus.GaugeVec
	fullSync         *prometheus.GaugeVec
	failing          *prometheus.GaugeVec
	terminal         *prometheus.CounterVec
}

// NewMetrics creates controller metrics on reg (nil = unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_controller_pushes_total",
			Help: "Pushes and deletes to backends by adapter, operation and result."}, []string{"adapter", "op", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_controller_retries_total",
			Help: "Retried pushes after a failure."}, []string{"adapter"}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_controller_backend_resyncs_total",
			Help: "Backends resynced because they lost objects (restarted empty)."}, []string{"adapter"}),
		pushSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "amp_controller_push_duration_seconds",
			Help: "Latency of one push or delete.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"adapter", "op"}),
		reconcileSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "amp_controller_reconcile_duration_seconds",
			Help: "Time to render and push one reconcile.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"adapter"}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "amp_controller_objects",
			Help: "Backend objects by adapter and status (in-sync, degraded, pending, progressing, error)."}, []string{"adapter", "status"}),
		fullSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "amp_controller_last_full_sync_timestamp_seconds",
			Help: "When the adapter last completed a full reconcile."}, []string{"adapter"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "amp_controller_backends_failing",
			Help: "Backends whose last push failed (each logged once when it starts failing and once when it recovers)."}, []string{"adapter"}),
		terminal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_controller_terminal_errors_total",
			Help: "Pushes and deletes a backend refused for a reason retrying cannot fix (not retried until the object changes)."}, []string{"adapter", "op"}),
	}
	if reg != nil {
		reg.MustRegister(m.pushes, m.retries, m.resyncs, m.pushSeconds, m.reconcileSeconds, m.objects, m.fullSync, m.failing, m.terminal)
	}
	return m
}
