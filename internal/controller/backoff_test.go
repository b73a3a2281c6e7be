package controller

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/config"
)

// TestBackoffSchedule: 100 ms doubling to 30 s; the jitter adds up to a
// fifth and never goes under the schedule (the bug was a stored jittered
// value below the floor, so every retry came after 50–100 ms).
func TestBackoffSchedule(t *testing.T) {
	min, max := 100*time.Millisecond, 30*time.Second
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000}
	var cur time.Duration
	for i, w := range want {
		w *= time.Millisecond
		for range 50 { // the jitter is random: check the bounds many times
			base, delay := nextBackoff(cur, min, max)
			if base != w {
				t.Fatalf("step %d: base %v, want %v", i, base, w)
			}
			if delay < base || delay > base+base/5 || delay > max {
				t.Fatalf("step %d: delay %v outside [%v, min(%v, %v)]", i, delay, base, base+base/5, max)
			}
		}
		cur, _ = nextBackoff(cur, min, max)
	}
}

// TestFailingObjectKeepsItsBackoff: reconciles for other commits, and full
// resyncs, neither reset a failing object's backoff nor push it early; new
// content for it does.
func TestFailingObjectKeepsItsBackoff(t *testing.T) {
	eng, ctx := openAcme(t)
	submit := func(path, body string) *config.Record {
		t.Helper()
		rec, err := eng.Transaction(submitJSON(t, ctx, eng, config.OpMerge, path, body))
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	submit("traffic-class/tc1", `{"qci":1}`)
	ad := &memAdapter{held: map[string][]byte{}, failing: true}
	// A long floor, so no retry is due while the test runs.
	c := New(eng, ad, Options{BackoffMin: time.Hour, BackoffMax: 2 * time.Hour})
	c.runCtx = ctx
	c.reconcile(ctx, eng.Snapshot(), true, nil)
	var first entry
	for {
		c.mu.Lock()
		e := *c.objs["tc/tc1"]
		c.mu.Unlock()
		if e.st.Status == Error {
			first = e
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if first.backoff != time.Hour || first.st.Attempts != 1 {
		t.Fatalf("after one failure: backoff %v, attempts %d", first.backoff, first.st.Attempts)
	}
	check := func(what string) {
		t.Helper()
		c.mu.Lock()
		e := *c.objs["tc/tc1"]
		c.mu.Unlock()
		if e.st.Status != Error || e.backoff != first.backoff || !e.next.Equal(first.next) {
			t.Fatalf("%s: status %s, backoff %v→%v, next %v→%v", what, e.st.Status, first.backoff, e.backoff, first.next, e.next)
		}
	}
	// Another object changes: tc1 is not touched.
	rec := submit("traffic-class/tc2", `{"qci":2}`)
	c.reconcile(ctx, eng.Snapshot(), false, changedKeys(nil, rec))
	check("a commit of another object")
	// tc1 changes without changing what the backend should hold.
	rec = submit("traffic-class/tc1", `{"description":"same qci"}`)
	c.reconcile(ctx, eng.Snapshot(), false, changedKeys(nil, rec))
	check("a commit that leaves tc1's body as it was")
	c.reconcile(ctx, eng.Snapshot(), true, nil)
	check("a full reconcile")
	// New content is tried at once, with a fresh backoff.
	rec = submit("traffic-class/tc1", `{"qci":3}`)
	c.reconcile(ctx, eng.Snapshot(), false, changedKeys(nil, rec))
	c.mu.Lock()
	e := *c.objs["tc/tc1"]
	c.mu.Unlock()
	if e.backoff == first.backoff && e.next.Equal(first.next) {
		t.Fatalf("new content kept the old backoff: %+v", e.st)
	}
}

// TestRetryUnderWayIsNotQueuedAgain: while a retry's push is under way the
// object is still due (its next time moves when the attempt ends), so
// every other wake-up of the loop meanwhile used to queue it again: the
// backend got the same push twice in a row (seen through the binary in
// TestSDCoreBackoffThroughTheBinary).
func TestRetryUnderWayIsNotQueuedAgain(t *testing.T) {
	ad := newScript(map[string]Desired{"dg": {Backend: "core", Body: []byte("dg")}})
	var pushes atomic.Int32
	gate := make(chan struct{})
	ad.pushFn = func(ctx context.Context, _ string) error {
		if pushes.Add(1) == 2 { // the retry: held until the test lets it go
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		return errors.New("backend says 503")
	}
	eng, ctx := openAcme(t)
	c := New(eng, ad, Options{BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, PushTimeout: time.Minute})
	c.runCtx = ctx
	c.reconcile(ctx, eng.Snapshot(), true, nil)
	until(t, c, "the first push failed", func(by map[string]Status) bool { return by["dg"].Status == Error })
	time.Sleep(5 * time.Millisecond) // its retry is due
	c.retryDue(ctx)
	for pushes.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	c.retryDue(ctx) // wake-ups while the retry is under way
	c.retryDue(ctx)
	close(gate)
	until(t, c, "the retry ended", func(by map[string]Status) bool { return by["dg"].Attempts == 2 })
	time.Sleep(100 * time.Millisecond) // a push queued meanwhile would go now
	if n := pushes.Load(); n != 2 {
		t.Fatalf("%d pushes: the retry was queued again while under way", n)
	}
}
