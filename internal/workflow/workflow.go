package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/store"
)

// The states of a run.
const (
	Running   = "running"
	Succeeded = "succeeded"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Retry bounds: a failed step is tried again after FirstRetry, doubling up
// to MaxRetry, and the run fails after MaxAttempts failures in a row.
const (
	FirstRetry  = time.Second
	MaxRetry    = time.Minute
	MaxAttempts = 8
	// MaxHistory bounds the events a run keeps (the oldest go first).
	MaxHistory = 200
)

// Run is one workflow run as the store keeps it and the API shows it.
type Run struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Subject string `json:"subject,omitempty"` // the REST path of what it works on
	State   string `json:"state"`
	Step    string `json:"step,omitempty"` // the step it is on (none once ended)
	// Waiting says what the current step waits for (a bake time, an
	// approval); empty while it works.
	Waiting  string    `json:"waiting,omitempty"`
	Attempts int       `json:"attempts,omitempty"` // failures in a row of the current step
	NextAt   time.Time `json:"next-at,omitzero"`
	Reason   string    `json:"reason,omitempty"` // why it failed or was cancelled
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	History  []Event   `json:"history"`
	// Data is the kind's own durable state.
	Data json.RawMessage `json:"data,omitempty"`
}

// Event is one step outcome in a run's history.
type Event struct {
	At      time.Time `json:"at"`
	Step    string    `json:"step"`
	Outcome string    `json:"outcome"` // done, retry, failed, cancelled, started
	Note    string    `json:"note,omitempty"`
}

// Ended reports whether the run is over.
func (r *Run) Ended() bool { return r.State != Running }

// Decode reads the run's data into v.
func (r *Run) Decode(v any) error {
	if len(r.Data) == 0 {
		return nil
	}
	return json.Unmarshal(r.Data, v)
}

// Outcome is what a step did.
type Outcome struct {
	// Next is the step to run next; "" with Done.
	Next string
	// Done ends the run, succeeded.
	Done bool
	// Fail ends the run, failed, with this reason.
	Fail string
	// Wait: the step is not finished; run it again after Wait. WaitingOn
	// says on what (shown in the run).
	Wait      time.Duration
	WaitingOn string
	// Data, when not nil, replaces the run's data (stored with the step's
	// outcome, in the same write).
	Data any
	// Note is recorded in the history with the step's outcome (a finished
	// step only).
	Note string
}

// Env is what a kind's steps work with.
type Env struct {
	Engine  *config.Engine
	Metrics prometheus.Registerer
	Now     func() time.Time
}

// Kind is a kind of workflow.
type Kind struct {
	Name string
	// Step runs the run's current step (r.Step). An error is retried with
	// backoff; a step is idempotent, as it may run again after a crash.
	Step func(ctx context.Context, env Env, r *Run) (Outcome, error)
	// Cancelled, when set, runs once when a run is cancelled (before it is
	// recorded as cancelled), e.g. to record why in the subject's status.
	Cancelled func(ctx context.Context, env Env, r *Run, reason string) error
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
)

// Register adds a kind; a second one of the same name is a programming
// error.
func Register(k Kind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic(fmt.Sprintf("workflow: kind %q registered twice", k.Name))
	}
	kinds[k.Name] = k
}

func kindOf(name string) (Kind, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Metadata keys: the runs, and the cancel requests (a key of their own,
// so whoever takes a request never races the runner's writes of the run).
const (
	runPrefix    = "workflow/run/"
	cancelPrefix = "workflow/cancel/"
)

// IDPattern is what a run id is: it appears in REST paths and metadata keys.
var IDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$`)

// Errors of the API's calls.
var (
	ErrNotFound = errors.New("no such workflow run")
	ErrExists   = errors.New("a workflow run with this id exists")
	ErrEnded    = errors.New("the workflow run has ended")
)

// Engine keeps and runs the workflows of one configuration engine.
type Engine struct {
	meta    store.Meta
	env     Env
	metrics *Metrics
	wake    chan struct{}
	mu      sync.Mutex // one step at a time, and Start vs the runner
	// waitUntil is when each waiting run looks again: kept in memory
	// only, so a wait costs no write (after a restart a waiting step
	// simply looks again at once).
	waitUntil sync.Map // run id → time.Time
}

var (
	enginesMu sync.Mutex
	engines   = map[*config.Engine]*Engine{}
)

// For returns the workflow engine of eng (made on first use), its metrics
// registered with reg.
func For(eng *config.Engine, reg prometheus.Registerer) *Engine {
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if e, ok := engines[eng]; ok {
		return e
	}
	e := New(eng.Meta(), Env{Engine: eng, Metrics: reg, Now: time.Now}, MetricsFor(reg))
	engines[eng] = e
	return e
}

// New returns an engine keeping its runs in meta.
func New(meta store.Meta, env Env, m *Metrics) *Engine {
	if env.Now == nil {
		env.Now = time.Now
	}
	return &Engine{meta: meta, env: env, metrics: m, wake: make(chan struct{}, 1)}
}

// Wake makes the runner look at the runs now rather than at its next tick
// (a request it should honour at once: an approval, a cancel).
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Start records a new run of kind at its first step and wakes the runner.
func (e *Engine) Start(kind, id, subject, first string, data any) (*Run, error) {
	if _, ok := kindOf(kind); !ok {
		return nil, fmt.Errorf("workflow: no kind %q", kind)
	}
	if !IDPattern.MatchString(id) {
		return nil, fmt.Errorf("workflow: %q is not a run id", id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, err := e.meta.GetMeta(runPrefix + id); err != nil {
		return nil, err
	} else if old != nil {
		return nil, ErrExists
	}
	now := e.env.Now().UTC()
	r := &Run{ID: id, Kind: kind, Subject: subject, State: Running, Step: first, Created: now, Updated: now, NextAt: now,
		History: []Event{{At: now, Step: first, Outcome: "started"}}}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return nil, err
		}
		r.Data = b
	}
	if err := e.put(r); err != nil {
		return nil, err
	}
	e.metrics.Started.WithLabelValues(kind).Inc()
	e.Wake()
	return r, nil
}

// Get returns run id.
func (e *Engine) Get(id string) (*Run, error) {
	b, err := e.meta.GetMeta(runPrefix + id)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, ErrNotFound
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("workflow run %s: %w", id, err)
	}
	return &r, nil
}

// List returns every run, newest first.
func (e *Engine) List() ([]*Run, error) {
	var out []*Run
	err := e.meta.Metas(runPrefix, func(key string, b []byte) error {
		var r Run
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("workflow run %s: %w", key, err)
		}
		out = append(out, &r)
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID > out[j].ID
	})
	return out, err
}

// Cancel asks for run id to be cancelled, for reason (who asked): the
// runner honours it before the run's next step. A run that has ended
// cannot be cancelled (ErrEnded).
func (e *Engine) Cancel(id, reason string) (*Run, error) {
	r, err := e.Get(id)
	if err != nil {
		return nil, err
	}
	if r.Ended() {
		return r, ErrEnded
	}
	if err := e.meta.PutMeta(cancelPrefix+id, []byte(reason)); err != nil {
		return nil, err
	}
	e.Wake()
	return r, nil
}

// Tick is how often the runner looks at the runs without being woken.
const Tick = 250 * time.Millisecond

// Run runs the due steps of every running run until ctx ends: the leader's
// loop. It resumes runs left running by a previous process.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(Tick)
	defer t.Stop()
	for {
		if err := e.Pass(ctx); err != nil && ctx.Err() == nil {
			e.metrics.StoreErrors.Inc()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-e.wake:
		}
	}
}

// Pass runs one due step of every running run whose time has come (the
// runner's loop body; tests call it directly).
func (e *Engine) Pass(ctx context.Context) error {
	runs, err := e.List()
	if err != nil {
		return err
	}
	running := map[string]int{}
	var errs []error
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		r := runs[i]
		if r.Ended() {
			continue
		}
		running[r.Kind]++
		next := r.NextAt
		if w, ok := e.waitUntil.Load(r.ID); ok && w.(time.Time).After(next) {
			next = w.(time.Time)
		}
		if next.After(e.env.Now()) && !e.cancelAsked(r.ID) {
			continue
		}
		// A finished step's successor runs at once, not a tick later (a
		// gate opening promotes the next partition now), up to a bound so
		// one run cannot hold the runner.
		for range 16 {
			advanced, err := e.step(ctx, r.ID)
			if err != nil {
				errs = append(errs, err)
			}
			if !advanced || err != nil {
				break
			}
		}
	}
	e.metrics.setRunning(running)
	return errors.Join(errs...)
}

func (e *Engine) cancelAsked(id string) bool {
	b, err := e.meta.GetMeta(cancelPrefix + id)
	return err == nil && b != nil
}

// step runs run id's current step and records its outcome; advanced: it
// moved on to another step.
func (e *Engine) step(ctx context.Context, id string) (advanced bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.Get(id) // again, under the lock: the stored run is the truth
	if err != nil || r.Ended() {
		return false, err
	}
	k, ok := kindOf(r.Kind)
	now := e.env.Now().UTC()
	if !ok { // a kind this binary does not know: retried, so a newer binary may take it
		return false, e.retry(r, now, fmt.Errorf("no workflow kind %q in this binary", r.Kind))
	}
	if reason, err := e.meta.GetMeta(cancelPrefix + id); err != nil {
		return false, err
	} else if reason != nil {
		if k.Cancelled != nil {
			if err := k.Cancelled(ctx, e.env, r, string(reason)); err != nil {
				return false, e.retry(r, now, fmt.Errorf("cancel: %w", err))
			}
		}
		e.end(r, now, Cancelled, string(reason), "cancelled")
		if err := e.put(r); err != nil {
			return false, err
		}
		return false, e.meta.DeleteMeta(cancelPrefix + id)
	}
	sctx, span := tracer.Start(ctx, "workflow."+r.Kind+"."+stepName(r.Step))
	started := time.Now()
	out, err := runStep(sctx, k, e.env, r)
	span.End()
	e.metrics.StepSeconds.WithLabelValues(r.Kind).Observe(time.Since(started).Seconds())
	if err != nil {
		return false, e.retry(r, now, err)
	}
	prev, _ := json.Marshal(r)
	if out.Data != nil {
		b, err := json.Marshal(out.Data)
		if err != nil {
			return false, e.retry(r, now, err)
		}
		r.Data = b
	}
	r.Attempts = 0
	switch {
	case out.Fail != "":
		e.event(r, now, r.Step, "failed", out.Fail)
		e.end(r, now, Failed, out.Fail, "")
	case out.Done:
		e.event(r, now, r.Step, "done", out.Note)
		e.end(r, now, Succeeded, "", "")
	case out.Next != "":
		e.event(r, now, r.Step, "done", out.Note)
		r.Step, r.Waiting, r.NextAt = out.Next, "", now
		e.metrics.Steps.WithLabelValues(r.Kind, "done").Inc()
	default: // waiting
		e.waitUntil.Store(r.ID, now.Add(out.Wait))
		r.Waiting = out.WaitingOn
		if cur, _ := json.Marshal(r); string(cur) == string(prev) {
			return false, nil // nothing new to record: the same wait
		}
	}
	if out.Fail != "" || out.Done || out.Next != "" {
		e.waitUntil.Delete(r.ID)
	}
	r.Updated = now
	return out.Next != "" && out.Fail == "" && !out.Done, e.put(r)
}

// runStep runs a kind's step; a panic is the step's error (retried, then
// failing the run), never the server's end.
func runStep(ctx context.Context, k Kind, env Env, r *Run) (out Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("step %s panicked: %v", r.Step, p)
		}
	}()
	return k.Step(ctx, env, r)
}

// retry records a failed attempt and when the next one is.
func (e *Engine) retry(r *Run, now time.Time, cause error) error {
	r.Attempts++
	e.metrics.Steps.WithLabelValues(r.Kind, "error").Inc()
	slog.Warn("workflow step failed", "workflow", r.ID, "kind", r.Kind, "step", r.Step, "attempt", r.Attempts, "error", cause)
	if r.Attempts >= MaxAttempts {
		e.event(r, now, r.Step, "failed", cause.Error())
		e.end(r, now, Failed, fmt.Sprintf("step %s failed %d times: %v", r.Step, r.Attempts, cause), "")
	} else {
		wait := min(FirstRetry<<(r.Attempts-1), MaxRetry)
		e.event(r, now, r.Step, "retry", fmt.Sprintf("%v (attempt %d; next in %s)", cause, r.Attempts, wait))
		r.NextAt = now.Add(wait)
	}
	r.Updated = now
	return e.put(r)
}

func (e *Engine) end(r *Run, now time.Time, state, reason, outcome string) {
	if outcome != "" {
		e.event(r, now, r.Step, outcome, reason)
	}
	slog.Info("workflow ended", "workflow", r.ID, "kind", r.Kind, "state", state, "reason", reason)
	r.State, r.Reason, r.Waiting, r.Step, r.NextAt, r.Updated = state, reason, "", "", time.Time{}, now
	e.metrics.Ended.WithLabelValues(r.Kind, state).Inc()
}

func (e *Engine) event(r *Run, now time.Time, step, outcome, note string) {
	r.History = append(r.History, Event{At: now, Step: step, Outcome: outcome, Note: note})
	if n := len(r.History); n > MaxHistory {
		r.History = append(r.History[:0:0], r.History[n-MaxHistory:]...)
	}
}

func (e *Engine) put(r *Run) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return e.meta.PutMeta(runPrefix+r.ID, b)
}

// stepName is a step's name for span names: its first word (steps may
// carry an index, "stage/3").
func stepName(step string) string {
	for i, c := range step {
		if c == '/' {
			return step[:i]
		}
	}
	return step
}
