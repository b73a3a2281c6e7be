package workflow

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/store"
)

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// counting is a kind whose steps count how often each ran, fail while
// failures remain, and wait while waitFor says so.
type counting struct {
	ran      map[string]int
	failures int
	waitFor  bool
}

type countData struct{ Done []string }

var testKind = &counting{ran: map[string]int{}}

func init() {
	Register(Kind{Name: "test-count", Step: func(_ context.Context, _ Env, r *Run) (Outcome, error) {
		var d countData
		if err := r.Decode(&d); err != nil {
			return Outcome{}, err
		}
		testKind.ran[r.Step]++
		switch r.Step {
		case "one":
			return Outcome{Next: "two", Data: countData{Done: append(d.Done, "one")}}, nil
		case "two":
			if testKind.failures > 0 {
				testKind.failures--
				return Outcome{}, errors.New("flaky backend")
			}
			if testKind.waitFor {
				return Outcome{Wait: time.Minute, WaitingOn: "an approval"}, nil
			}
			return Outcome{Next: "three", Data: countData{Done: append(d.Done, "two")}}, nil
		default:
			return Outcome{Done: true, Note: "finished", Data: countData{Done: append(d.Done, r.Step)}}, nil
		}
	}})
}

func openStore(t *testing.T, dir string) *store.Bolt {
	t.Helper()
	s, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRunResumesAfterRestart: a run's steps each run once, in order, and a
// new engine over the same store (the process killed and started again)
// resumes at the step the run was on, not from the start.
func TestRunResumesAfterRestart(t *testing.T) {
	*testKind = counting{ran: map[string]int{}, waitFor: true}
	dir := t.TempDir()
	s := openStore(t, dir)
	c := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	e := New(s, Env{Now: c.now}, MetricsFor(nil))
	if _, err := e.Start("test-count", "r1", "/x", "one", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Start("test-count", "r1", "/x", "one", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("a second run with the same id: %v, want ErrExists", err)
	}
	ctx := context.Background()
	for range 3 {
		if err := e.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.Get("r1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Step != "two" || r.Waiting != "an approval" || r.State != Running {
		t.Fatalf("run waits at step two on an approval, got %+v", r)
	}
	// The process dies; a new one opens the same store.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	e = New(s, Env{Now: c.now}, MetricsFor(nil))
	testKind.waitFor = false
	c.t = c.t.Add(2 * time.Minute)
	for range 3 {
		if err := e.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r, err = e.Get("r1")
	if err != nil {
		t.Fatal(err)
	}
	var d countData
	if err := r.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if r.State != Succeeded || strings.Join(d.Done, ",") != "one,two,three" {
		t.Fatalf("run should succeed with one,two,three done: %+v %v", r, d.Done)
	}
	if testKind.ran["one"] != 1 || testKind.ran["three"] != 1 {
		t.Errorf("steps one and three ran %d and %d times, want once each (resumed, not restarted)", testKind.ran["one"], testKind.ran["three"])
	}
}

// TestRetryBackoffThenFail: a failing step is retried after 1 s, 2 s, 4 s
// …, not before, and the run fails after MaxAttempts failures in a row.
func TestRetryBackoffThenFail(t *testing.T) {
	*testKind = counting{ran: map[string]int{}, failures: 100}
	s := openStore(t, t.TempDir())
	defer s.Close()
	c := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	e := New(s, Env{Now: c.now}, MetricsFor(nil))
	if _, err := e.Start("test-count", "r2", "", "two", nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wait := FirstRetry
	for attempt := 1; attempt < MaxAttempts; attempt++ {
		if err := e.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		if testKind.ran["two"] != attempt {
			t.Fatalf("attempt %d: step ran %d times", attempt, testKind.ran["two"])
		}
		c.t = c.t.Add(wait - time.Millisecond)
		if err := e.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		if testKind.ran["two"] != attempt {
			t.Fatalf("attempt %d retried before its backoff of %s", attempt, wait)
		}
		c.t = c.t.Add(time.Millisecond)
		wait = min(wait*2, MaxRetry)
	}
	if err := e.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	r, _ := e.Get("r2")
	if r.State != Failed || !strings.Contains(r.Reason, "flaky backend") || !strings.Contains(r.Reason, "8 times") {
		t.Fatalf("run should fail after %d attempts with the cause: %+v", MaxAttempts, r)
	}
}

// TestCancel: a cancel request ends a waiting run before its next step; an
// ended run cannot be cancelled.
func TestCancel(t *testing.T) {
	*testKind = counting{ran: map[string]int{}, waitFor: true}
	s := openStore(t, t.TempDir())
	defer s.Close()
	c := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	e := New(s, Env{Now: c.now}, MetricsFor(nil))
	if _, err := e.Start("test-count", "r3", "", "two", nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Cancel("r3", "cancelled by alice"); err != nil {
		t.Fatal(err)
	}
	if err := e.Pass(ctx); err != nil { // before the wait is over: a cancel does not wait
		t.Fatal(err)
	}
	r, _ := e.Get("r3")
	if r.State != Cancelled || r.Reason != "cancelled by alice" || testKind.ran["two"] != 1 {
		t.Fatalf("run should be cancelled at once without running its step again: %+v (ran %d)", r, testKind.ran["two"])
	}
	if _, err := e.Cancel("r3", "again"); !errors.Is(err, ErrEnded) {
		t.Errorf("cancelling an ended run: %v, want ErrEnded", err)
	}
	if _, err := e.Cancel("nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancelling no run: %v, want ErrNotFound", err)
	}
}

// TestPanickingStepIsAnError: a step that panics is retried like a failed
// one (the runner, and so amp serve, goes on).
func TestPanickingStepIsAnError(t *testing.T) {
	Register(Kind{Name: "test-panic", Step: func(context.Context, Env, *Run) (Outcome, error) { panic("boom") }})
	s := openStore(t, t.TempDir())
	defer s.Close()
	c := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	e := New(s, Env{Now: c.now}, MetricsFor(nil))
	if _, err := e.Start("test-panic", "p1", "", "one", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, _ := e.Get("p1")
	if r.State != Running || r.Attempts != 1 || !strings.Contains(r.History[len(r.History)-1].Note, "panicked: boom") {
		t.Fatalf("a panicking step should be retried with the panic as its error: %+v", r)
	}
}
