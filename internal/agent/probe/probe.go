// Package probe is the edge agent's applier of kind "probe" (book chapter
// 6's end-to-end tests; docs/monitoring.md, "Probes"): it runs each probe
// of the desired state on its interval (the built-ins control-plane and
// user-plane, and declared http, tcp and icmp probes) and pushes every
// result to AMP at once over the agent's link, bypassing the site's
// Prometheus. While AMP is out of reach the results wait in the state
// directory (probes.json, at most MaxPending, the oldest dropped first
// and counted) and are pushed, oldest first, when the link returns; the
// probes keep running meanwhile, from the cached desired state, across
// restarts.
//
// It imports the wire protocol, the agent's state directory, Prometheus'
// client, OpenTelemetry and golang.org/x/net/icmp.
package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/agent/probe")

// MaxPending bounds the results kept while AMP is out of reach: two
// probes every 10 s fill it in about 5 hours. Past it the oldest go
// first; the gap shows centrally (amp_edge_last_update_timestamp_seconds).
const MaxPending = 4096

// maxPush is the most results one push carries (AMP takes up to 500).
const maxPush = 500

// Options configure a Runner.
type Options struct {
	Dir *state.Dir
	// Push sends results to AMP, oldest first (the agent's link).
	Push func(ctx context.Context, results []wire.ProbeResult) error
	// ReachAMP checks the link to AMP: the control-plane probe's first
	// half.
	ReachAMP func(ctx context.Context) error
	Log      *slog.Logger
	Registry prometheus.Registerer // nil: no metrics
	// MaxPending bounds the results kept unpushed (0: MaxPending).
	MaxPending int
	Now        func() time.Time
}

// Runner runs the site's probes and pushes their results.
type Runner struct {
	o   Options
	log *slog.Logger
	m   *metrics

	mu      sync.Mutex
	base    context.Context // the runner's life: probes outlive an apply
	running map[string]*running
	pending []wire.ProbeResult
	kick    chan struct{}
}

type running struct {
	spec wire.ProbeSpec
	stop context.CancelFunc
	done chan struct{}
}

// New is a runner whose results not yet pushed are read from dir.
func New(o Options) (*Runner, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPending <= 0 {
		o.MaxPending = MaxPending
	}
	r := &Runner{o: o, log: o.Log.With("component", "agent-probe"), m: newMetrics(o.Registry),
		base: context.Background(), running: map[string]*running{}, kick: make(chan struct{}, 1)}
	pending, err := o.Dir.PendingProbes()
	if err != nil {
		// A torn file loses what it held, not the agent: say so.
		r.log.Error("the probe results not yet pushed cannot be read: they are lost", "error", err)
	}
	r.pending = pending
	r.m.pending.Set(float64(len(pending)))
	return r, nil
}

// Validate checks a probe's spec before anything runs.
func (r *Runner) Validate(_ string, raw json.RawMessage) error {
	_, err := decode(raw)
	return err
}

func decode(raw json.RawMessage) (wire.ProbeSpec, error) {
	var s wire.ProbeSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, err
	}
	return s, s.Check()
}

// Apply runs the probe on its spec from now on: a new or changed probe is
// (re)started, an unchanged one left running. It reports no change: a
// probe is the agent's own activity, not something at the site that
// could drift (an agent restarted starts its probes again; that is no
// drift to correct).
func (r *Runner) Apply(_ context.Context, name string, raw json.RawMessage) ([]string, error) {
	spec, err := decode(raw)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.running[name]; ok {
		if reflect.DeepEqual(cur.spec, spec) {
			return nil, nil
		}
		r.stopLocked(name)
	}
	ctx, stop := context.WithCancel(r.base)
	p := &running{spec: spec, stop: stop, done: make(chan struct{})}
	r.running[name] = p
	go r.loop(ctx, name, p)
	r.log.Info("probe scheduled", "probe", name, "kind", spec.Kind, "target", spec.Target, "interval", time.Duration(spec.Interval))
	return nil, nil
}

// Running reports whether a probe of that name runs.
func (r *Runner) Running(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.running[name]
	return ok
}

// Prune stops the probes keep does not name.
func (r *Runner) Prune(_ context.Context, keep map[string]bool) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []string
	for name := range r.running {
		if !keep[name] {
			r.stopLocked(name)
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	return gone, nil
}

func (r *Runner) stopLocked(name string) {
	p := r.running[name]
	p.stop()
	delete(r.running, name)
	r.m.forget(name)
}

// loop runs one probe at once and then every interval until stopped.
func (r *Runner) loop(ctx context.Context, name string, p *running) {
	defer close(p.done)
	t := time.NewTicker(time.Duration(p.spec.Interval))
	defer t.Stop()
	for {
		r.run(ctx, name, p.spec)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// run runs the probe once and queues its result for AMP.
func (r *Runner) run(ctx context.Context, name string, spec wire.ProbeSpec) {
	ctx, span := tracer.Start(ctx, "agent.probe", trace.WithAttributes(attribute.String("amp.probe", name), attribute.String("amp.kind", spec.Kind)))
	start := r.o.Now()
	ok, msg := r.check(ctx, spec)
	took := r.o.Now().Sub(start)
	span.SetAttributes(attribute.Bool("amp.ok", ok))
	span.End()
	if ctx.Err() != nil && !ok {
		return // stopped mid-run: no result
	}
	res := wire.ProbeResult{Probe: name, Kind: spec.Kind, Target: spec.Target, OK: ok, Duration: took.Seconds(), At: start.UTC(), Message: clip(msg)}
	r.m.ran(name, ok, took)
	r.log.Debug("probe", "probe", name, "kind", spec.Kind, "ok", ok, "duration", took, "message", msg)
	r.enqueue(res)
}

// enqueue keeps a result until AMP has it, on disk, and wakes the pusher.
func (r *Runner) enqueue(res wire.ProbeResult) {
	r.mu.Lock()
	r.pending = append(r.pending, res)
	if over := len(r.pending) - r.o.MaxPending; over > 0 {
		r.pending = slices.Delete(r.pending, 0, over)
		r.m.dropped.Add(float64(over))
		r.log.Warn("AMP has been out of reach too long: the oldest probe results are dropped", "dropped", over, "kept", r.o.MaxPending)
	}
	r.saveLocked()
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Runner) saveLocked() {
	r.m.pending.Set(float64(len(r.pending)))
	if err := r.o.Dir.SavePendingProbes(r.pending); err != nil {
		r.log.Error("cannot keep the probe results not yet pushed on disk", "error", err)
	}
}

// Run pushes the results as they come, until ctx ends; it also stops the
// probes then. After a failed push it waits (1 s, doubling to 30 s)
// before trying again, the results kept meanwhile.
func (r *Runner) Run(ctx context.Context) {
	r.mu.Lock()
	r.base = ctx
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		for name := range r.running {
			r.stopLocked(name)
		}
		r.mu.Unlock()
	}()
	delay := time.Duration(0)
	for {
		if delay > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		} else {
			select {
			case <-ctx.Done():
				return
			case <-r.kick:
			}
		}
		switch err := r.pushOnce(ctx); {
		case err == nil:
			delay = 0
		case ctx.Err() != nil:
			return
		default:
			delay = min(max(2*delay, time.Second), 30*time.Second)
			r.log.Warn("cannot push probe results to AMP; they are kept and pushed when it answers", "pending", r.pendingCount(), "retry_in", delay, "error", err)
		}
	}
}

func (r *Runner) pendingCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// pushOnce pushes everything pending, maxPush at a time, oldest first.
func (r *Runner) pushOnce(ctx context.Context) error {
	for {
		r.mu.Lock()
		batch := slices.Clone(r.pending[:min(len(r.pending), maxPush)])
		r.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		if r.o.Push == nil {
			return fmt.Errorf("no link to AMP")
		}
		pctx, span := tracer.Start(ctx, "agent.probes.push", trace.WithAttributes(attribute.Int("amp.results", len(batch))))
		err := r.o.Push(pctx, batch)
		if err != nil {
			span.RecordError(err)
		}
		span.End()
		if err != nil {
			r.m.pushes.WithLabelValues("failed").Inc()
			return err
		}
		r.m.pushes.WithLabelValues("ok").Inc()
		r.mu.Lock()
		// What was pushed is the head of pending, unless more than
		// MaxPending arrived meanwhile and pushed it out.
		n := 0
		for n < len(batch) && n < len(r.pending) && r.pending[n] == batch[n] {
			n++
		}
		r.pending = slices.Delete(r.pending, 0, n)
		r.saveLocked()
		r.mu.Unlock()
	}
}

// maxText is the longest message a result carries (AMP refuses longer).
const maxText = 1000

// clip shortens a message to maxText bytes, on a character boundary.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
