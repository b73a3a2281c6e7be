package netlimit

import (
	"reflect"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestLimiter: a source gets PerWindow attempts per window, then waits for
// the window's end; other sources are not held up, up to MaxSources.
func TestLimiter(t *testing.T) {
	c := &clock{time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)}
	l := &Limiter{PerWindow: 2, Window: time.Minute, MaxSources: 2, Now: c.now}
	var got []time.Duration
	for range 3 {
		got = append(got, l.Allow("a"))
	}
	c.t = c.t.Add(20 * time.Second)
	got = append(got, l.Allow("a"), l.Allow("b"), l.Allow("c"))
	c.t = c.t.Add(40 * time.Second)
	// a's window ended; c still finds a and b tracked, until b's ends.
	got = append(got, l.Allow("a"), l.Allow("c"))
	c.t = c.t.Add(20 * time.Second)
	got = append(got, l.Allow("c"))
	want := []time.Duration{0, 0, time.Minute, 40 * time.Second, 0, time.Minute, 0, time.Minute, 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}
