// Package agent is the edge agent's run loop (`amp agent`, docs/agent.md):
// it enforces the desired state cached in its state directory from the
// first second, with or without AMP; long-polls AMP for changes and
// applies them (a delta is checked against the digest of the whole state,
// else the whole state is asked for); corrects drift the appliers' watches
// see; checks in at every interval with the cluster's facts, what it
// applied and, once the link is back, the outage; renews its certificate
// at two thirds of its life; and journals all of it, so a kill -9 at any
// point resumes from the cache.
//
// When the certificate has expired while AMP was out of reach, the agent
// stops calling AMP, keeps enforcing, and says loudly how to recover (a
// new token and `amp agent register`, which keeps the cached state).
//
// It imports internal/agent/..., internal/edge/wire, the standard library,
// Prometheus' client and OpenTelemetry, never the server's packages.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/agent/link"
	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/agent")

// Defaults of Options.
const (
	DefaultInterval = 30 * time.Second // check-in, when AMP named none
	DefaultWait     = 55 * time.Second // long-poll of the desired state
	DefaultResync   = time.Minute      // re-apply the whole state (watches correct drift at once)
)

// Options configure Run.
type Options struct {
	Dir      *state.Dir
	Registry *apply.Registry
	// Facts reads the cluster's facts for a check-in (nil: none).
	Facts func(context.Context) (wire.Facts, error)
	// Interval overrides AMP's check-in interval (0: AMP's).
	Interval time.Duration
	// Server overrides the AMP address the agent enrolled with (empty:
	// agent.json's): another replica of the same AMP, or its new address.
	// The certificate and the pinned server CA stay the same.
	Server  string
	Wait    time.Duration // 0: DefaultWait
	Resync  time.Duration // 0: DefaultResync
	Version string
	Log     *slog.Logger
	Metrics *Metrics // nil: none
	// Backoff is the link's retry policy (zero: link.DefaultBackoff).
	Backoff link.Backoff
	Now     func() time.Time
	// PrometheusURL is the site's Prometheus, which AMP's site queries
	// are run against (queries.go); empty: they are answered with an
	// error saying so.
	PrometheusURL string
}

// Agent is one running agent.
type Agent struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	cfg      *state.Config
	id       *state.Identity
	client   *link.Client
	held     *wire.Desired // the whole desired state enforced; nil: none yet
	journal  *state.Journal
	statuses map[wire.Ref]wire.ObjectStatus
	interval time.Duration
	askFull  bool // the last delta did not add up: ask for the whole state

	checkinMu   sync.Mutex   // one check-in at a time
	facts       wire.Facts   // the last facts read (checkinMu held)
	nextCheckin atomic.Int64 // the next periodic check-in's due time, Unix ns (0: now)

	// applyParent is the span the next enforce of held continues: the
	// pull of held in the trace of the commit that made it (not valid:
	// none, the enforce starts its own trace).
	applyParent trace.SpanContext
	// applying is the object the enforce goroutine is applying (Kind
	// empty: none) and interrupt stops that apply (nil: none runs): a new
	// state that changes or withdraws the object interrupts it, so a
	// release waited on until ready (up to its timeout, 5 minutes by
	// default) does not hold back the state that replaces it.
	applying  wire.Object
	interrupt context.CancelCauseFunc

	dirtyMu sync.Mutex
	dirty   map[wire.Ref]bool

	enforceAll chan struct{}
	dirtySig   chan struct{}
	kick       chan struct{}
	queriesSig chan struct{}
	prom       *http.Client // to the site's Prometheus
}

// New loads the state directory: the cached desired state and journal
// (a corrupt file is reported and set aside, never half-read) and the
// credentials (without them the agent enforces its cache only).
func New(o Options) (*Agent, error) {
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	if o.Resync == 0 {
		o.Resync = DefaultResync
	}
	if o.Backoff.Attempts == 0 {
		o.Backoff = link.DefaultBackoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	a := &Agent{
		o: o, log: o.Log.With("component", "agent"),
		statuses:   map[wire.Ref]wire.ObjectStatus{},
		dirty:      map[wire.Ref]bool{},
		enforceAll: make(chan struct{}, 1),
		dirtySig:   make(chan struct{}, 1),
		kick:       make(chan struct{}, 1),
		queriesSig: make(chan struct{}, 1),
		prom:       &http.Client{},
		interval:   DefaultInterval,
	}
	held, err := o.Dir.Desired()
	if err != nil {
		// Enforcing nothing is safe; enforcing half a state is not. AMP
		// sends the whole state again once it is reachable.
		a.log.Error("the cached desired state cannot be trusted: it is ignored until AMP sends the state again", "error", err)
		held = nil
	}
	a.held = held
	j, err := o.Dir.Journal()
	if err != nil {
		a.log.Error("the status journal cannot be trusted: starting a new one", "error", err)
		j = &state.Journal{}
	}
	if held == nil {
		j.Applied = wire.Applied{}
	} else {
		j.Applied = wire.Applied{Index: held.Index, Digest: held.Digest}
	}
	for _, st := range j.Objects {
		a.statuses[wire.Ref{Kind: st.Kind, Name: st.Name}] = st
	}
	a.journal = j
	if j.Outage != nil {
		j.Outage.Restarts++ // restarted while AMP was unreachable
	}
	if err := o.Dir.SaveJournal(j); err != nil {
		return nil, err
	}
	if err := a.loadCredentials(); err != nil {
		a.log.Error("no usable credentials: the agent enforces its cached state but cannot reach AMP; run amp agent register", "error", err)
	}
	o.Metrics.setHeld(held)
	return a, nil
}

func (a *Agent) loadCredentials() error {
	cfg, err := a.o.Dir.Config()
	if err != nil {
		return err
	}
	id, err := a.o.Dir.Identity()
	if err != nil {
		return err
	}
	if a.o.Server != "" {
		cfg.Server = a.o.Server
	}
	c, err := link.New(cfg.Server, id.Cluster, id.Cert, id.ServerCA)
	if err != nil {
		return err
	}
	c.Backoff, c.Version = a.o.Backoff, a.o.Version
	c.OnQueries = func() { signal(a.queriesSig) }
	if a.client != nil {
		a.client.Close()
	}
	a.cfg, a.id, a.client = cfg, id, c
	if cfg.Interval > 0 {
		a.interval = time.Duration(cfg.Interval)
	}
	a.o.Metrics.setCertificate(id.Leaf.NotAfter)
	return nil
}

// Run runs the agent until ctx ends.
func Run(ctx context.Context, o Options) error {
	a, err := New(o)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// Run enforces the cached state at once, then runs the watches, the
// link and the check-ins until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	goFn := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	if a.held != nil {
		a.log.Info("enforcing the cached desired state", "index", a.held.Index, "digest", a.held.Digest, "objects", len(a.held.Objects))
		signal(a.enforceAll)
	}
	goFn(a.enforceLoop)
	for _, kind := range a.o.Registry.Kinds() {
		ap, _ := a.o.Registry.Applier(kind)
		if w, ok := ap.(apply.Watcher); ok {
			goFn(func(ctx context.Context) {
				if err := w.Watch(ctx, func(name string) { a.markDirty(wire.Ref{Kind: kind, Name: name}) }); err != nil && ctx.Err() == nil {
					a.log.Error("watch", "kind", kind, "error", err)
				}
			})
		}
	}
	if a.client != nil {
		a.log.Info("agent started", "cluster", a.id.Cluster, "server", a.cfg.Server, "certificate-not-after", a.id.Leaf.NotAfter)
	}
	goFn(a.pollLoop)
	goFn(a.newsLoop)
	goFn(a.queryLoop)
	<-ctx.Done()
	wg.Wait()
	a.mu.Lock()
	if a.client != nil {
		a.client.Close()
	}
	a.mu.Unlock()
	return nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (a *Agent) markDirty(ref wire.Ref) {
	a.dirtyMu.Lock()
	a.dirty[ref] = true
	a.dirtyMu.Unlock()
	signal(a.dirtySig)
}

func (a *Agent) takeDirty() []wire.Ref {
	a.dirtyMu.Lock()
	defer a.dirtyMu.Unlock()
	refs := make([]wire.Ref, 0, len(a.dirty))
	for r := range a.dirty {
		refs = append(refs, r)
	}
	clear(a.dirty)
	return refs
}

// enforceLoop is the only goroutine that acts on the site: the whole
// state at start, on a new state and at every resync; single objects
// when a watch saw them change.
func (a *Agent) enforceLoop(ctx context.Context) {
	t := time.NewTicker(a.o.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.enforceAll:
			a.enforce(ctx)
		case <-t.C:
			a.enforce(ctx)
		case <-a.dirtySig:
			a.enforceRefs(ctx, a.takeDirty())
		}
	}
}

// heldObjects is a snapshot of the state enforced (nil: none yet).
func (a *Agent) heldObjects() ([]wire.Object, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held == nil {
		return nil, false
	}
	return append([]wire.Object(nil), a.held.Objects...), true
}

// takeHeld is heldObjects with the span its apply continues, once.
func (a *Agent) takeHeld() ([]wire.Object, trace.SpanContext, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held == nil {
		return nil, trace.SpanContext{}, false
	}
	parent := a.applyParent
	a.applyParent = trace.SpanContext{}
	return append([]wire.Object(nil), a.held.Objects...), parent, true
}

// enforce applies the whole held state: a new state's first apply
// ("agent.apply") is a child of its pull, in the trace of the commit that
// made it; a resync or a drift correction ("agent.enforce") is a trace of
// its own.
func (a *Agent) enforce(ctx context.Context) {
	objs, parent, ok := a.takeHeld()
	if !ok {
		return // nothing held yet: never prune on no information
	}
	name := "agent.enforce"
	if parent.IsValid() {
		ctx, name = trace.ContextWithSpanContext(ctx, parent), "agent.apply"
	}
	ctx, span := tracer.Start(ctx, name, trace.WithAttributes(attribute.Int("amp.objects", len(objs))))
	defer span.End()
	ctx, done := a.interruptible(ctx)
	defer done()
	outs, removed, err := a.o.Registry.ApplyAll(ctx, objs)
	if a.superseded(ctx, span) {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "apply")
		var inv *apply.Invalid
		if errors.As(err, &inv) {
			// Only a state that passed the same check is ever held; an
			// agent without an applier the cached state needs lands here.
			a.log.Error("the held desired state is refused by this agent's appliers", "error", err)
		} else {
			a.log.Warn("enforce", "error", err)
		}
		a.setLastError(err)
	}
	for _, r := range removed {
		a.log.Info("removed what is no longer desired", "object", r)
	}
	a.record(outs)
}

func (a *Agent) enforceRefs(ctx context.Context, refs []wire.Ref) {
	objs, ok := a.heldObjects()
	if !ok {
		return
	}
	want := map[wire.Ref]bool{}
	for _, r := range refs {
		want[r] = true
	}
	ctx, done := a.interruptible(ctx)
	defer done()
	var outs []apply.Outcome
	for _, o := range objs {
		if want[wire.Ref{Kind: o.Kind, Name: o.Name}] {
			outs = append(outs, a.o.Registry.Apply(ctx, o))
		}
	}
	if a.superseded(ctx, trace.SpanFromContext(ctx)) {
		return
	}
	a.record(outs)
}

// errSuperseded interrupts an apply whose object a new state changed or
// withdrew.
var errSuperseded = errors.New("a new desired state changes or withdraws the object being applied")

// interruptible is ctx for one apply of the enforce goroutine, which
// accept interrupts (interruptForLocked) when the object being applied is
// changed or withdrawn; done ends it.
func (a *Agent) interruptible(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	a.mu.Lock()
	a.interrupt, a.applying = cancel, wire.Object{}
	a.mu.Unlock()
	ctx = apply.Starting(ctx, func(o wire.Object) {
		a.mu.Lock()
		a.applying = o
		a.mu.Unlock()
	})
	return ctx, func() {
		a.mu.Lock()
		a.interrupt, a.applying = nil, wire.Object{}
		a.mu.Unlock()
		cancel(nil)
	}
}

// interruptForLocked interrupts the apply under way when objs (a new
// whole state) changes or withdraws the object it is applying (a.mu
// held).
func (a *Agent) interruptForLocked(objs []wire.Object) {
	cur := a.applying
	if a.interrupt == nil || cur.Kind == "" {
		return
	}
	for _, o := range objs {
		if o.Kind == cur.Kind && o.Name == cur.Name && o.Digest == cur.Digest {
			return // the same object: its apply goes on
		}
	}
	a.log.Info("interrupting the apply of an object the new desired state changes or withdraws", "kind", cur.Kind, "name", cur.Name)
	a.o.Metrics.interrupted(cur.Kind)
	a.interrupt(errSuperseded)
}

// superseded reports whether the apply in ctx was interrupted by a new
// state: its outcomes are not recorded (an interrupted wait is no
// failure of the object), the new state's enforce follows at once.
func (a *Agent) superseded(ctx context.Context, span trace.Span) bool {
	if !errors.Is(context.Cause(ctx), errSuperseded) {
		return false
	}
	span.AddEvent("interrupted: " + errSuperseded.Error())
	return true
}

func (a *Agent) setLastError(err error) {
	a.mu.Lock()
	a.journal.LastError = err.Error()
	a.mu.Unlock()
}

// record keeps each outcome as its object's status and journals it. An
// object that was applied with the same digest and needed changes had
// drifted: that is counted and reported. An outcome that changed nothing
// of an applied object keeps its status as it was (a resync is no news).
func (a *Agent) record(outs []apply.Outcome) {
	if len(outs) == 0 {
		return
	}
	a.mu.Lock()
	news := false
	for _, out := range outs {
		st := out.Status
		ref := wire.Ref{Kind: st.Kind, Name: st.Name}
		prev, had := a.statuses[ref]
		a.o.Metrics.applied(st.Kind, st.State)
		sameApplied := had && prev.State == wire.StateApplied && prev.Digest == st.Digest
		switch {
		case st.State == wire.StateApplied && len(out.Changed) == 0 && sameApplied && sameObservation(prev, st):
			continue
		case st.State == wire.StateApplied && len(out.Changed) > 0 && sameApplied:
			st.Drift = true
			a.journal.Corrections++
			if a.journal.Outage != nil {
				a.journal.Outage.Corrections++
			}
			a.o.Metrics.driftCorrected(st.Kind)
			a.log.Warn("drift corrected", "kind", st.Kind, "name", st.Name, "changed", st.Message)
		case st.State == wire.StateFailed:
			if had && prev.State == wire.StateFailed && prev.Message == st.Message && prev.Digest == st.Digest {
				continue // the same failure again
			}
			a.journal.LastError = st.Kind + "/" + st.Name + ": " + st.Message
			a.log.Warn("apply failed", "kind", st.Kind, "name", st.Name, "error", st.Message)
		default:
			a.log.Info("applied", "kind", st.Kind, "name", st.Name, "changed", st.Message)
		}
		a.statuses[ref] = st
		news = true
	}
	if news {
		a.saveJournalLocked()
	}
	a.mu.Unlock()
	if news {
		signal(a.kick)
	}
}

// sameObservation: a workload's readiness and version are as reported
// before (a change is news even when nothing was applied; kinds without
// them are always the same).
func sameObservation(prev, st wire.ObjectStatus) bool {
	return (prev.Ready == nil) == (st.Ready == nil) && (prev.Ready == nil || *prev.Ready == *st.Ready) &&
		prev.Version == st.Version
}

// saveJournalLocked writes the journal with the statuses of the held
// objects (a.mu held).
func (a *Agent) saveJournalLocked() {
	a.journal.Objects = a.reportLocked(false)
	if err := a.o.Dir.SaveJournal(a.journal); err != nil {
		a.log.Error("write the journal", "error", err)
	}
}

// reportLocked is the status of every held object, in (kind, name)
// order; with refusals, the problems of a refused state replace the
// statuses of the objects they name.
func (a *Agent) reportLocked(refusals bool) []wire.ObjectStatus {
	var out []wire.ObjectStatus
	seen := map[wire.Ref]bool{}
	if refusals && a.journal.Refused != nil {
		for _, p := range a.journal.Refused.Problems {
			out = append(out, p)
			seen[wire.Ref{Kind: p.Kind, Name: p.Name}] = true
		}
	}
	if a.held != nil {
		for _, o := range a.held.Objects {
			ref := wire.Ref{Kind: o.Kind, Name: o.Name}
			if seen[ref] {
				continue
			}
			st, ok := a.statuses[ref]
			if !ok || st.Digest != o.Digest {
				st = wire.ObjectStatus{Kind: o.Kind, Name: o.Name, Digest: o.Digest, State: wire.StatePending}
			}
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// accept takes a desired state (whole or delta) from AMP: it computes the
// whole state it leads to, checks the digest and every object, caches it
// and has it enforced; a state that fails the check is refused whole
// and the previous one kept. It reports whether the answer was of use
// (false: it did not add up, and the agent asks again, after a pause).
// acceptPulled is accept of a state a long-poll started at started (its
// span poll) brought. When the state names the commit that made it, its
// pull is recorded in that commit's trace ("agent.pull", a child of the
// commit's request span, linked to the long-poll's own trace) and the
// apply that follows is the pull's child: one trace from the REST call to
// the site. A child rather than a link because the change is the apply's
// cause and its parent is known before it starts; the long-poll, which
// began before the commit, is only linked.
func (a *Agent) acceptPulled(d *wire.Desired, started time.Time, poll trace.SpanContext) bool {
	commit := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": d.Traceparent}))
	if !commit.IsValid() {
		return a.accept(context.Background(), d)
	}
	ctx, span := tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), commit), "agent.pull",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(started), trace.WithLinks(trace.Link{SpanContext: poll}),
		trace.WithAttributes(attribute.Int64("amp.index", int64(d.Index)), attribute.Bool("amp.full", d.Full), attribute.Int("amp.objects", len(d.Objects))))
	defer span.End()
	return a.accept(ctx, d)
}

// accept takes a desired state AMP sent: held and cached when it adds up
// to its digest and every applier takes it, refused (the previous one
// stays) otherwise. The span in ctx, if any, is its pull: the state's
// first apply continues it.
func (a *Agent) accept(ctx context.Context, d *wire.Desired) bool {
	pull := trace.SpanFromContext(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	objs := d.Objects
	if !d.Full {
		if a.held == nil {
			a.askFull = true
			return false
		}
		objs = mergeDelta(a.held.Objects, d)
	}
	if got := wire.StateDigest(objs); got != d.Digest {
		a.log.Warn("the desired state does not add up to AMP's digest: asking for the whole state", "index", d.Index, "digest", d.Digest, "computed", got)
		a.askFull = true
		return false
	}
	a.askFull = false
	if err := a.o.Registry.Check(objs); err != nil {
		var inv *apply.Invalid
		if !errors.As(err, &inv) {
			a.log.Error("check the desired state", "error", err)
			return false
		}
		a.log.ErrorContext(ctx, "refused a desired state: the previous one stays enforced", "index", d.Index, "digest", d.Digest, "error", err)
		pull.SetStatus(codes.Error, "refused")
		a.journal.Refused = &state.Refusal{Index: d.Index, Digest: d.Digest, Problems: inv.Problems}
		a.journal.LastError = err.Error()
		a.o.Metrics.refused()
		a.saveJournalLocked()
		signal(a.kick)
		return true
	}
	whole := &wire.Desired{Cluster: d.Cluster, Index: d.Index, Digest: d.Digest, Full: true, Objects: objs}
	// The cache first: killed after this, the agent resumes with the new
	// state from the cache; killed before, with the previous one.
	if err := a.o.Dir.SaveDesired(whole); err != nil {
		a.log.Error("cache the desired state (it is enforced, but a restart would go back to the previous one)", "error", err)
	}
	a.held = whole
	a.interruptForLocked(objs)
	a.applyParent = pull.SpanContext()
	a.journal.Applied = wire.Applied{Index: whole.Index, Digest: whole.Digest}
	a.journal.Refused = nil
	a.saveJournalLocked()
	a.o.Metrics.setHeld(whole)
	a.log.InfoContext(ctx, "new desired state", "index", whole.Index, "digest", whole.Digest, "objects", len(objs), "delta", !d.Full)
	signal(a.enforceAll)
	return true
}

// mergeDelta is held with a delta applied: changed and added objects
// replace or join, removed ones go.
func mergeDelta(held []wire.Object, d *wire.Desired) []wire.Object {
	byRef := make(map[wire.Ref]wire.Object, len(held)+len(d.Objects))
	for _, o := range held {
		byRef[wire.Ref{Kind: o.Kind, Name: o.Name}] = o
	}
	for _, o := range d.Objects {
		byRef[wire.Ref{Kind: o.Kind, Name: o.Name}] = o
	}
	for _, r := range d.Removed {
		delete(byRef, r)
	}
	out := make([]wire.Object, 0, len(byRef))
	for _, o := range byRef {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// pollFrom is what the next long-poll asks with: the held index (0 when
// a whole state is needed) and the digest AMP should not answer with
// (the held one, or a refused one).
func (a *Agent) pollFrom() (uint64, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held == nil || a.askFull {
		return 0, ""
	}
	if a.journal.Refused != nil {
		return a.held.Index, a.journal.Refused.Digest
	}
	return a.held.Index, a.held.Digest
}

// usableClient is the link to AMP, or nil and why AMP may not be
// called: not enrolled, or the certificate expired. An `amp agent
// register` run meanwhile (a new token, after an expiry or a revocation)
// is picked up without a restart: cert.pem changed, or the one held is
// unusable and the directory is read again.
func (a *Agent) usableClient() (*link.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		if mod, err := a.o.Dir.CertModTime(); err == nil && !mod.Equal(a.id.ModTime) {
			if err := a.loadCredentials(); err == nil {
				a.log.Info("new credentials in the state directory", "cluster", a.id.Cluster, "not-after", a.id.Leaf.NotAfter)
			}
		}
	}
	usable := func() error {
		if a.client == nil {
			return state.ErrNotEnrolled
		}
		if a.o.Now().After(a.id.Leaf.NotAfter) {
			return &expiredError{cluster: a.id.Cluster, notAfter: a.id.Leaf.NotAfter, dir: a.o.Dir.Path}
		}
		return nil
	}
	err := usable()
	if err == nil {
		return a.client, nil
	}
	if lerr := a.loadCredentials(); lerr == nil && usable() == nil {
		a.log.Info("new credentials in the state directory", "cluster", a.id.Cluster, "not-after", a.id.Leaf.NotAfter)
		return a.client, nil
	}
	if a.client != nil {
		a.lostLocked(err)
	}
	return nil, err
}

// Link is the link to AMP, or why AMP may not be called now (not
// enrolled, the certificate expired): for what else the agent sends over
// it (probe results).
func (a *Agent) Link() (*link.Client, error) { return a.usableClient() }

// expiredError is the loud message of an expired certificate.
type expiredError struct {
	cluster  string
	notAfter time.Time
	dir      string
}

func (e *expiredError) Error() string {
	return fmt.Sprintf("the certificate of cluster %s expired at %s: the agent keeps enforcing its cached desired state but no longer reaches AMP; "+
		"to recover, mint a token (amp cluster token %s) and run amp agent register --dir %s with it: the cached state is kept",
		e.cluster, e.notAfter.UTC().Format(time.RFC3339), e.cluster, e.dir)
}

// Chart downloads a chart archive the desired state names over the link
// (the Helm applier's source, behind its on-disk cache).
func (a *Agent) Chart(ctx context.Context, digest string) ([]byte, error) {
	client, err := a.usableClient()
	if err != nil {
		return nil, err
	}
	return client.Chart(ctx, digest)
}

// pollLoop long-polls AMP for the desired state and checks in between
// two polls, on the poll's connection: a poll waits no later than the
// next check-in's due time, so an agent holds one connection to AMP (a
// second TLS connection a minute per agent cost AMP a handshake each;
// 167 a second at 10,000 agents). A change still reaches the agent as
// soon as it is committed: the poll waits parked at AMP until then.
func (a *Agent) pollLoop(ctx context.Context) {
	fails := 0
	for ctx.Err() == nil {
		if !time.Now().Before(a.checkinDue()) {
			a.checkin(ctx)
		}
		client, err := a.usableClient()
		if err != nil {
			wait(ctx, time.Until(a.checkinDue()))
			continue
		}
		since, etag := a.pollFrom()
		// Never 0: a poll without ?wait= waits AMP's default.
		pollWait := max(min(a.o.Wait, time.Until(a.checkinDue())), time.Millisecond)
		// A long-poll outlives the wait; a dead connection must not hang
		// it forever.
		pctx, cancel := context.WithTimeout(ctx, pollWait+30*time.Second)
		started := a.o.Now()
		pctx, span := tracer.Start(pctx, "agent.desired", trace.WithAttributes(attribute.Int64("amp.since", int64(since))))
		d, err := client.Desired(pctx, since, etag, pollWait)
		span.End()
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil && (d == nil || a.acceptPulled(d, started, span.SpanContext())) {
			fails = 0
			continue
		}
		if err != nil {
			a.lost(err)
		}
		wait(ctx, min(a.o.Backoff.Delay(fails)+time.Second, time.Until(a.checkinDue())))
		fails++
	}
}

// checkinDue is when the next periodic check-in is due.
func (a *Agent) checkinDue() time.Time { return time.Unix(0, a.nextCheckin.Load()) }

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (a *Agent) currentInterval() time.Duration {
	if a.o.Interval > 0 {
		return a.o.Interval
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.interval
}

// lost records that AMP could not be reached: the outage starts (once).
func (a *Agent) lost(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lostLocked(err)
}

func (a *Agent) lostLocked(err error) {
	a.o.Metrics.setLink(false)
	if a.journal.Outage == nil {
		a.journal.Outage = &state.Outage{LostAt: a.o.Now().UTC()}
		a.log.Warn("lost the link to AMP: enforcing the held desired state meanwhile", "error", err)
	}
	if a.journal.Outage.LastError == err.Error() {
		return
	}
	a.journal.Outage.LastError = err.Error()
	a.journal.LastError = err.Error()
	a.saveJournalLocked()
}

// newsLoop checks in whenever an apply or a refusal has news, without
// waiting for the poll to end (that check-in opens a second connection
// while the poll's is parked; news is rare, the periodic check-ins ride
// the poll's connection).
func (a *Agent) newsLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		a.checkin(ctx)
	}
}

// checkin checks in now and sets the next periodic check-in an interval
// later. One at a time: the poll loop's and the news loop's never overlap.
func (a *Agent) checkin(ctx context.Context) {
	a.checkinMu.Lock()
	defer a.checkinMu.Unlock()
	defer func() { a.nextCheckin.Store(time.Now().Add(a.currentInterval()).UnixNano()) }()
	ctx, span := tracer.Start(ctx, "agent.checkin")
	defer span.End()
	client, err := a.usableClient()
	if err != nil {
		a.log.Error("AMP is not called", "error", err)
		return
	}
	if a.o.Facts != nil {
		// The Kubernetes API down must not read as a cluster without
		// nodes: the last facts read stand until it answers again.
		if f, err := a.o.Facts(ctx); err != nil {
			a.log.Warn("read the cluster's facts: reporting the last ones read", "error", err)
		} else {
			a.facts = f
		}
	}
	facts := a.facts
	// What the last attempt sent of the outage: it is closed only if it
	// was reported as it stands.
	var now time.Time
	var sent *state.Outage
	build := func() wire.Checkin {
		a.mu.Lock()
		defer a.mu.Unlock()
		now = a.o.Now().UTC()
		ci := wire.Checkin{
			AgentVersion: a.o.Version,
			AgentTime:    now,
			Facts:        facts,
			Applied:      a.journal.Applied,
			Objects:      a.reportLocked(true),
		}
		if ci.Objects == nil {
			ci.Objects = []wire.ObjectStatus{}
		}
		for i := range ci.Objects {
			ci.Objects[i].Message = clip(ci.Objects[i].Message)
		}
		sent = nil
		if o := a.journal.Outage; o != nil {
			cp := *o
			sent = &cp
			ci.Outage = &wire.Outage{LostAt: o.LostAt, RegainedAt: now, Restarts: o.Restarts, Corrections: o.Corrections, LastError: clip(o.LastError)}
		}
		return ci
	}
	ans, err := client.Checkin(ctx, build)
	if err != nil {
		if ctx.Err() == nil {
			a.lost(err)
		}
		return
	}
	a.mu.Lock()
	if o := a.journal.Outage; o != nil && sent != nil && *o == *sent {
		a.log.Info("the link to AMP is back; the outage is reported", "lost-at", o.LostAt, "restarts", o.Restarts, "corrections", o.Corrections)
		a.journal.Outage = nil
	}
	a.journal.LastCheckin = now
	if ans.Interval > 0 {
		a.interval = time.Duration(ans.Interval)
	}
	a.saveJournalLocked()
	renewAt := a.id.RenewAt()
	a.mu.Unlock()
	a.o.Metrics.setLink(true)
	a.o.Metrics.checkedIn(now)
	if !ans.ServerNow.IsZero() {
		if skew := ans.ServerNow.Sub(a.o.Now()); skew > time.Minute || skew < -time.Minute {
			a.log.Warn("the site's clock differs from AMP's", "skew", skew.Round(time.Second).String())
		}
	}
	if ans.RenewNow || !a.o.Now().Before(renewAt) {
		if err := a.renew(ctx, client); err != nil {
			a.log.Error("renew the certificate", "error", err)
		}
	}
}

// renew asks AMP for a new certificate of the site's key, writes it (the
// one file that changes) and uses it from the next connection on.
func (a *Agent) renew(ctx context.Context, client *link.Client) error {
	a.mu.Lock()
	cluster := a.id.Cluster
	a.mu.Unlock()
	csr, err := a.o.Dir.CSR(cluster)
	if err != nil {
		return err
	}
	cr, err := client.Renew(ctx, csr)
	if err != nil {
		return err
	}
	if err := a.o.Dir.SaveCredentials(cr, ""); err != nil {
		return err
	}
	id, err := a.o.Dir.Identity()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.id = id
	a.mu.Unlock()
	client.SetCertificate(id.Cert)
	a.o.Metrics.setCertificate(id.Leaf.NotAfter)
	a.log.Info("renewed the certificate", "serial", cr.Serial, "not-after", id.Leaf.NotAfter)
	return nil
}

// maxText is the longest text a check-in carries (AMP refuses longer).
const maxText = 1000

// clip shortens a message to maxText bytes, on a character boundary.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
