package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/config"
)

// scriptAdapter renders whatever the test sets (a Trigger re-renders it)
// and records every push and delete in order; pushFn, when set, decides a
// push's outcome.
type scriptAdapter struct {
	mu      sync.Mutex
	desired map[string]Desired
	changed chan struct{}
	ops     []string // "push id" / "delete id", in order
	held    map[string]bool
	pushFn  func(ctx context.Context, id string) error
}

func newScript(desired map[string]Desired) *scriptAdapter {
	return &scriptAdapter{desired: desired, changed: make(chan struct{}), held: map[string]bool{}}
}

func (a *scriptAdapter) Name() string { return "script" }

func (a *scriptAdapter) Render(*config.Snapshot) map[string]Desired {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]Desired, len(a.desired))
	for id, d := range a.desired {
		out[id] = d
	}
	return out
}

// set replaces what Render returns and has the controller render again.
func (a *scriptAdapter) set(desired map[string]Desired) {
	a.mu.Lock()
	a.desired = desired
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

func (a *scriptAdapter) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

func (a *scriptAdapter) Push(ctx context.Context, id string, d Desired) error {
	a.mu.Lock()
	fn := a.pushFn
	a.mu.Unlock()
	if fn != nil {
		if err := fn(ctx, id); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ops = append(a.ops, "push "+id)
	a.held[id] = true
	return nil
}

func (a *scriptAdapter) Delete(_ context.Context, id, _ string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ops = append(a.ops, "delete "+id)
	delete(a.held, id)
	return nil
}

func (a *scriptAdapter) Held(context.Context, string) (map[string]bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]bool{}
	for id := range a.held {
		out[id] = true
	}
	return out, nil
}

func (a *scriptAdapter) opsSoFar() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ops)
}

// runScript runs a controller over the adapter until the test ends; no
// probe and no commit wakes it: retries follow their own schedule.
func runScript(t *testing.T, ad *scriptAdapter, reg prometheus.Registerer) (*Controller, context.Context) {
	t.Helper()
	eng, ctx := openAcme(t)
	c := New(eng, ad, Options{ProbeEvery: time.Hour, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Metrics: NewMetrics(reg)})
	done := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	go func() { _ = c.Run(cctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, ctx
}

// until polls the controller's statuses until cond holds (or the test
// times out: a failure, not a measurement).
func until(t *testing.T, c *Controller, what string, cond func(map[string]Status) bool) map[string]Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		by := map[string]Status{}
		for _, s := range c.Statuses() {
			by[s.ID] = s
		}
		if cond(by) {
			return by
		}
		if time.Now().After(deadline) {
			t.Fatalf("never: %s; statuses %+v", what, by)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func allIn(status string, ids ...string) func(map[string]Status) bool {
	return func(by map[string]Status) bool {
		for _, id := range ids {
			if by[id].Status != status {
				return false
			}
		}
		return true
	}
}

// chain is a device group, a slice on the same core naming it and a UPF
// configuration (another backend) for the slice, with ids that sort the
// other way round.
func chain() map[string]Desired {
	return map[string]Desired{
		"c-dg":    {Backend: "core", Body: []byte("dg")},
		"b-slice": {Backend: "core", Body: []byte("slice"), DependsOn: []string{"c-dg"}},
		"a-upf":   {Backend: "upf", Body: []byte("upf"), DependsOn: []string{"b-slice"}},
	}
}

// TestDependencyOrder: pushes follow the declared dependencies, across
// backends, whatever the ids; deletes go the other way round.
func TestDependencyOrder(t *testing.T) {
	ad := newScript(chain())
	c, _ := runScript(t, ad, nil)
	until(t, c, "all in sync", allIn(InSync, "a-upf", "b-slice", "c-dg"))
	if got, want := ad.opsSoFar(), []string{"push c-dg", "push b-slice", "push a-upf"}; !slices.Equal(got, want) {
		t.Fatalf("pushes %v, want %v", got, want)
	}
	ad.set(map[string]Desired{})
	until(t, c, "all deleted", func(by map[string]Status) bool { return len(by) == 0 })
	if got, want := ad.opsSoFar()[3:], []string{"delete a-upf", "delete b-slice", "delete c-dg"}; !slices.Equal(got, want) {
		t.Fatalf("deletes %v, want %v", got, want)
	}
}

// TestDependencyWaitsForAttempt: while a dependency's push is under way
// its dependents wait, on every backend, and say what for; once it was
// attempted they go, even when it failed (dependencies order, they do not
// gate), and the failed one is retried on its own.
func TestDependencyWaitsForAttempt(t *testing.T) {
	ad := newScript(chain())
	inFlight, fail := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ad.pushFn = func(_ context.Context, id string) error {
		if id != "c-dg" {
			return nil
		}
		first := false
		once.Do(func() { first = true })
		if !first {
			return nil // the retry goes through
		}
		close(inFlight)
		<-fail
		return errors.New("core says 503")
	}
	c, _ := runScript(t, ad, nil)
	<-inFlight
	// The UPF configuration, on another backend, waits for the slice,
	// queued behind the device group on the core.
	by := until(t, c, "the UPF waiting", func(by map[string]Status) bool { return by["a-upf"].Message == "waiting for b-slice" })
	if s := by["a-upf"]; s.Status != Pending {
		t.Errorf("UPF configuration while the device group is pushed: %+v", s)
	}
	if ops := ad.opsSoFar(); len(ops) != 0 {
		t.Fatalf("pushed before the device group's push ended: %v", ops)
	}
	close(fail)
	until(t, c, "all in sync", allIn(InSync, "a-upf", "b-slice", "c-dg"))
	ops := ad.opsSoFar()
	if i, j := slices.Index(ops, "push b-slice"), slices.Index(ops, "push a-upf"); i < 0 || j < i || !slices.Contains(ops, "push c-dg") {
		t.Fatalf("pushes %v: want the slice, then the UPF, after the failed attempt, and the device group's retry", ops)
	}
}

// TestDependencyCycleAndMissing: a cycle is an error on each object in it,
// a dependency nothing renders an error on its dependent; neither is
// pushed, and the rest is.
func TestDependencyCycleAndMissing(t *testing.T) {
	ad := newScript(map[string]Desired{
		"x":    {Backend: "b", Body: []byte("x"), DependsOn: []string{"y"}},
		"y":    {Backend: "b", Body: []byte("y"), DependsOn: []string{"x"}},
		"self": {Backend: "b", Body: []byte("s"), DependsOn: []string{"self"}},
		"z":    {Backend: "b", Body: []byte("z"), DependsOn: []string{"nope"}},
		"w":    {Backend: "b", Body: []byte("w")},
	})
	c, _ := runScript(t, ad, nil)
	by := until(t, c, "w in sync, the rest in error", func(by map[string]Status) bool {
		return allIn(Error, "x", "y", "self", "z")(by) && by["w"].Status == InSync
	})
	for id, want := range map[string]string{
		"x": "dependency cycle: x → y → x", "y": "dependency cycle: x → y → x",
		"self": "dependency cycle: self → self", "z": "depends on nope, which the adapter does not render",
	} {
		if by[id].Message != want {
			t.Errorf("%s: %q, want %q", id, by[id].Message, want)
		}
	}
	if got := ad.opsSoFar(); !slices.Equal(got, []string{"push w"}) {
		t.Errorf("pushed %v, want only w", got)
	}
}

// TestProgress: a long push reports progress, shown as progressing with
// the message and fraction, not applied until it ends.
func TestProgress(t *testing.T) {
	ad := newScript(map[string]Desired{"release": {Backend: "helm", Body: []byte("v1")}})
	release := make(chan struct{})
	ad.pushFn = func(ctx context.Context, id string) error {
		Progress(ctx, "3 of 4 pods ready", 0.75)
		<-release
		return nil
	}
	c, ctx := runScript(t, ad, nil)
	by := until(t, c, "progressing", allIn(Progressing, "release"))
	if s := by["release"]; s.Message != "3 of 4 pods ready" || s.Progress == nil || *s.Progress != 0.75 {
		t.Errorf("status %+v", s)
	}
	wctx, cancel := context.WithCancel(ctx)
	cancel() // a progressing push is not applied: WaitApplied does not return done
	if _, err := c.WaitApplied(wctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitApplied while progressing = %v, want it still waiting", err)
	}
	close(release)
	by = until(t, c, "in sync", allIn(InSync, "release"))
	if s := by["release"]; s.Progress != nil || s.Message != "" {
		t.Errorf("after the push: %+v", s)
	}
}

// TestTerminalNotRetried: an error the adapter marks terminal is counted
// and shown, and not retried (while an ordinary error beside it is, many
// times) until the object's content changes.
func TestTerminalNotRetried(t *testing.T) {
	ad := newScript(map[string]Desired{
		"refused": {Backend: "b", Body: []byte("bad")},
		"flaky":   {Backend: "b", Body: []byte("f")},
	})
	var mu sync.Mutex
	attempts := map[string]int{}
	ad.pushFn = func(_ context.Context, id string) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[id]++
		switch {
		case id == "refused" && attempts[id] == 1:
			return Terminal(errors.New("backend: chart values invalid"))
		case id == "flaky" && attempts[id] < 5:
			return errors.New("backend says 503")
		}
		return nil
	}
	reg := prometheus.NewRegistry()
	c, _ := runScript(t, ad, reg)
	by := until(t, c, "flaky retried into sync", func(by map[string]Status) bool {
		return by["flaky"].Status == InSync && by["refused"].Status == Error
	})
	if s := by["refused"]; !s.Terminal || s.Message != "backend: chart values invalid" {
		t.Errorf("refused: %+v", s)
	}
	ad.set(map[string]Desired{ // a render with the same content
		"refused": {Backend: "b", Body: []byte("bad")},
		"flaky":   {Backend: "b", Body: []byte("f")},
	})
	mu.Lock()
	n := attempts["refused"]
	mu.Unlock()
	if n != 1 {
		t.Errorf("a terminal error was retried: %d attempts", n)
	}
	if v := testutil.ToFloat64(c.m.terminal.WithLabelValues("script", "push")); v != 1 {
		t.Errorf("amp_controller_terminal_errors_total = %v, want 1", v)
	}
	ad.set(map[string]Desired{
		"refused": {Backend: "b", Body: []byte("fixed")},
		"flaky":   {Backend: "b", Body: []byte("f")},
	})
	by = until(t, c, "new content pushed", allIn(InSync, "refused"))
	if by["refused"].Terminal {
		t.Errorf("still terminal after new content: %+v", by["refused"])
	}
	if !strings.Contains(strings.Join(ad.opsSoFar(), ","), "push refused") {
		t.Errorf("the new content was not pushed: %v", ad.opsSoFar())
	}
}
