package edge_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/provision/cluster"
)

// TestReplicasAgreeOnTheLink: two hubs on one engine are two replicas on
// one store. The agent checks in at A, then moves to B. A, silent, judges
// the link after two intervals: it finds B's later record in the store,
// forgets the link (its metric series too) and writes nothing over it;
// A's status then shows the store's view, connected. (Without that, A
// wrote "disconnected" over B's record and kept showing its own memory.)
func TestReplicasAgreeOnTheLink(t *testing.T) {
	s := newSite(t, clusters)
	c := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	regA := prometheus.NewRegistry()
	a := s.hub(edge.Options{Registry: regA, Now: c.now, Interval: 20 * time.Millisecond, WriteEvery: time.Hour})
	b := s.hub(edge.Options{Now: c.now, Interval: 20 * time.Millisecond, WriteEvery: time.Hour})
	ctx := context.Background()
	full, _ := a.Desired(ctx, "ace-x", 0, "", 0)
	if _, o, err := a.Checkin(ctx, "ace-x", checkinOf(full, c.now(), true), edge.Credential{}); err != nil || o != edge.CheckinRecorded {
		t.Fatalf("the check-in at A: %s %v", o, err)
	}
	if st, err := b.Status("ace-x", false); err != nil || !st.Connected || st.LastSeen != "2026-12-07T12:00:00Z" {
		t.Fatalf("B's view of a link A holds: %+v %v", st, err)
	}

	c.add(time.Second)
	if _, o, err := b.Checkin(ctx, "ace-x", checkinOf(full, c.now(), true), edge.Credential{}); err != nil || o != edge.CheckinRecorded {
		t.Fatalf("the first check-in at B: %s %v", o, err)
	}
	// The agent keeps talking to B while A's sweeper runs.
	c.add(time.Minute)
	if _, o, err := b.Checkin(ctx, "ace-x", checkinOf(full, c.now(), true), edge.Credential{}); err != nil || o != edge.CheckinUnchanged {
		t.Fatalf("the next check-in at B: %s %v", o, err)
	}
	for deadline := time.Now().Add(10 * time.Second); metric(t, regA, "amp_edge_connected", "cluster", "ace-x") != -1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("A never let go of the link (amp_edge_connected %v)", metric(t, regA, "amp_edge_connected", "cluster", "ace-x"))
		}
	}
	state, _ := s.eng.Snapshot().State.Get([]byte(cluster.Key(s.set, "ace-x")))
	if ag, _ := state["agent"].(map[string]any); ag["connected"] != true || ag["last-seen"] != "2026-12-07T12:00:01Z" {
		t.Fatalf("the stored link after A's sweep: %v (want B's record)", ag)
	}
	for name, h := range map[string]*edge.Hub{"A": a, "B": b} {
		if st, err := h.Status("ace-x", false); err != nil || !st.Connected {
			t.Fatalf("%s's view after the move: %+v %v", name, st, err)
		}
	}
}
