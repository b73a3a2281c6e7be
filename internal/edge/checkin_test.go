package edge_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/provision/cluster"
	"github.com/amp-edge/amp/internal/schema"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// checkinOf is what an agent of ace-x holding d reports at agent time at.
func checkinOf(d *wire.Desired, at time.Time, ready bool) *wire.Checkin {
	c := &wire.Checkin{AgentVersion: "v1.2.3", AgentTime: at,
		Facts: wire.Facts{KubernetesVersion: "v1.35.4", Nodes: []wire.Node{
			{Name: "server-1", Labels: map[string]string{"a": "1", "zone": "east", "node-role.kubernetes.io/control-plane": "true"}, Ready: ready},
			{Name: "server-2", Taints: []string{"gpu=true:NoSchedule"}, Ready: true}}},
		Applied: wire.Applied{Index: d.Index, Digest: d.Digest}}
	for _, o := range d.Objects {
		c.Objects = append(c.Objects, wire.ObjectStatus{Kind: o.Kind, Name: o.Name, Digest: o.Digest, State: wire.StateApplied, At: at})
	}
	return c
}

// stateWrites counts the operational state writes the engine makes.
func stateWrites(t *testing.T, eng *config.Engine) func() int {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := eng.WatchState(ctx)
	return func() int {
		n := 0
		for {
			select {
			case <-ch:
				n++
			default:
				return n
			}
		}
	}
}

// TestCheckin: the first check-in is recorded as the cluster's report (in
// the declaration's terms) and agent state; the same check-in later (new
// agent and object times) writes nothing; a change of what it says, or of
// the clock skew by 5 s or more, is recorded again. The plan compares the
// declaration with the recorded report.
func TestCheckin(t *testing.T) {
	s := newSite(t, clusters)
	c := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	h := s.hub(edge.Options{Registry: reg, Now: c.now})
	ctx := context.Background()
	writes := stateWrites(t, s.eng)
	full, _ := h.Desired(ctx, "ace-x", 0, "", 0)

	ans, outcome, err := h.Checkin(ctx, "ace-x", checkinOf(full, c.now().Add(2*time.Second), true), edge.Credential{})
	if err != nil || outcome != edge.CheckinRecorded || ans.Desired.Digest != full.Digest || ans.Desired.Index != full.Index ||
		time.Duration(ans.Interval) != edge.DefaultInterval || !ans.ServerNow.Equal(c.now()) {
		t.Fatalf("first check-in: %+v %s %v", ans, outcome, err)
	}
	if n := writes(); n != 2 {
		t.Fatalf("the first check-in made %d state writes, want 2 (report, agent)", n)
	}
	st := s.eng.Snapshot()
	state, _ := st.State.Get([]byte(cluster.Key(s.set, "ace-x")))
	b, _ := json.Marshal(state)
	for _, want := range []string{`"agent-version":"v1.2.3"`, `"clock-skew-seconds":2`, `"connected":true`, `"applied-digest":"` + full.Digest + `"`,
		`"last-seen":"2026-12-07T12:00:00Z"`, `{"at":"2026-12-07T12:00:02Z","drift":false,"kind":"node","name":"server-1","state":"applied"}`,
		`"kubernetes-version":"v1.35.4"`, `"node-label":["a=1","node-role.kubernetes.io/control-plane=true","zone=east"]`, `"role":["controlplane"]`,
		`"taint":["gpu=true:NoSchedule"]`, `"ready":true`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the recorded state lacks %s:\n%s", want, b)
		}
	}
	decl, rep, _, _ := cluster.Load(st, s.set, "ace-x")
	if steps := cluster.Plan(decl, rep); len(steps) != 1 || steps[0].Object != "node" || steps[0].Name != "server-1" || steps[0].Action != "change" {
		// The declaration says worker; the site's node is a control plane.
		t.Fatalf("plan against the agent's report: %+v", steps)
	}

	// Thirty seconds later: the same facts, objects checked again.
	for range 3 {
		c.add(30 * time.Second)
		_, outcome, err := h.Checkin(ctx, "ace-x", checkinOf(full, c.now().Add(2*time.Second), true), edge.Credential{})
		if err != nil || outcome != edge.CheckinUnchanged {
			t.Fatalf("an unchanged check-in: %s %v", outcome, err)
		}
	}
	if n := writes(); n != 0 {
		t.Fatalf("unchanged check-ins made %d state writes", n)
	}
	if got := metric(t, reg, "amp_edge_last_checkin_timestamp_seconds", "cluster", "ace-x"); got != float64(c.now().Unix()) {
		t.Fatalf("last check-in %v, want %v", got, c.now().Unix())
	}
	// A clock that drifted 4 s (under the step): nothing; 6 s: recorded.
	if _, outcome, _ := h.Checkin(ctx, "ace-x", checkinOf(full, c.now().Add(6*time.Second), true), edge.Credential{}); outcome != edge.CheckinUnchanged {
		t.Fatalf("a skew under the step: %s", outcome)
	}
	if _, outcome, _ := h.Checkin(ctx, "ace-x", checkinOf(full, c.now().Add(8*time.Second), true), edge.Credential{}); outcome != edge.CheckinRecorded {
		t.Fatalf("a skew past the step: %s", outcome)
	}
	// A node no longer ready: recorded.
	if _, outcome, _ := h.Checkin(ctx, "ace-x", checkinOf(full, c.now().Add(8*time.Second), false), edge.Credential{}); outcome != edge.CheckinRecorded {
		t.Fatalf("a changed check-in: %s", outcome)
	}
	if n := writes(); n != 4 {
		t.Fatalf("two recorded check-ins made %d state writes, want 4", n)
	}
	if got := metric(t, reg, "amp_edge_checkins_total", "outcome", "unchanged"); got != 4 {
		t.Fatalf("unchanged check-ins counted %v", got)
	}
	// The same check-in with a renewed certificate: recorded, with the
	// certificate's serial and expiry; the same certificate again: nothing.
	renewed := edge.Credential{Serial: "5eed", NotAfter: c.now().Add(90 * 24 * time.Hour)}
	for i, want := range []string{edge.CheckinRecorded, edge.CheckinUnchanged} {
		if _, outcome, _ := h.Checkin(ctx, "ace-x", checkinOf(full, c.now().Add(8*time.Second), false), renewed); outcome != want {
			t.Fatalf("check-in %d with a renewed certificate: %s, want %s", i, outcome, want)
		}
	}
	state, _ = s.eng.Snapshot().State.Get([]byte(cluster.Key(s.set, "ace-x")))
	b, _ = json.Marshal(state)
	if !strings.Contains(string(b), `"certificate-serial":"5eed"`) || !strings.Contains(string(b), `"certificate-not-after":"2027-03-07T12:01:30Z"`) {
		t.Fatalf("the agent state lacks the certificate:\n%s", b)
	}
	if _, _, err := h.Checkin(ctx, "nope", checkinOf(full, c.now(), true), edge.Credential{}); schema.KindOf(err) != schema.KindNotFound {
		t.Fatalf("a check-in of an undeclared cluster: %v", err)
	}
}

// TestCheckinRefused: a malformed check-in is refused naming the member
// and the reason, before anything is written.
func TestCheckinRefused(t *testing.T) {
	for _, tc := range []struct{ body, path string }{
		{`{"agent-version":"v1","agent-time":"2026-12-07T12:00:00Z","facts":{"nodes":[{"name":"n1","taints":["gpu"]}]}}`, "/facts/nodes/0/taints/0"},
		{`{"agent-version":"v1","agent-time":"2026-12-07T12:00:00Z","facts":{"nodes":[{"name":"n1"},{"name":"n1"}]}}`, "/facts/nodes/1/name"},
		{`{"agent-time":"2026-12-07T12:00:00Z"}`, "/agent-version"},
		{`{"agent-version":"v1"}`, "/agent-time"},
		{`{"agent-version":"v1","agent-time":"2026-12-07T12:00:00Z","objects":[{"kind":"node","name":"n1","state":"done"}]}`, "/objects/0/state"},
		{`{"agent-version":"v1","agent-time":"2026-12-07T12:00:00Z","applied":{"index":1,"digest":"xyz"}}`, "/applied/digest"},
		{`{"agent-version":"v1","agent-time":"2026-12-07T12:00:00Z","extra":1}`, "/"},
		{`{"agent-version":"v1","agent-time":"2026-12-07T12:00:00Z","outage":{"lost-at":"2026-12-07T12:00:00Z","regained-at":"2026-12-07T11:00:00Z"}}`, "/outage"},
	} {
		_, err := edge.DecodeCheckin([]byte(tc.body))
		var se *schema.Error
		if !errors.As(err, &se) || se.Kind != schema.KindInvalid {
			t.Errorf("%s: %v, want invalid", tc.body, err)
			continue
		}
		found := false
		for _, p := range se.Problems {
			found = found || p.Path == tc.path
		}
		if !found {
			t.Errorf("%s: %+v does not name %s", tc.body, se, tc.path)
		}
	}
	if _, err := edge.DecodeCheckin(make([]byte, edge.MaxCheckinBody+1)); schema.KindOf(err) != schema.KindTooLarge {
		t.Errorf("an oversized check-in: %v", err)
	}
}

// TestSweeper: an agent silent for two intervals is disconnected (state
// and metric), unless it holds a wait open; its next check-in connects it
// again.
func TestSweeper(t *testing.T) {
	s := newSite(t, clusters)
	c := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	h := s.hub(edge.Options{Registry: reg, Now: c.now, Interval: 20 * time.Millisecond})
	ctx := context.Background()
	full, _ := h.Desired(ctx, "ace-x", 0, "", 0)
	if _, _, err := h.Checkin(ctx, "ace-x", checkinOf(full, c.now(), true), edge.Credential{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Checkin(ctx, "ace-y", checkinOf(full, c.now(), true), edge.Credential{}); err != nil {
		t.Fatal(err)
	}
	connected := func(id string, want float64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); metric(t, reg, "amp_edge_connected", "cluster", id) != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("amp_edge_connected of %s never became %v", id, want)
			}
		}
	}
	connected("ace-x", 1)
	// ace-x holds a wait open; ace-y does not.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h.Desired(wctx, "ace-x", full.Index, full.Digest, time.Hour)
	}()
	for deadline := time.Now().Add(10 * time.Second); metric(t, reg, "amp_edge_waiting_agents") != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the wait never started")
		}
	}
	c.add(time.Minute)
	connected("ace-y", 0) // a sweep ran after the minute: it spared ace-x
	if got := metric(t, reg, "amp_edge_connected", "cluster", "ace-x"); got != 1 {
		t.Fatalf("an agent holding a wait was disconnected (%v)", got)
	}
	cancel()
	<-done
	c.add(time.Minute)
	connected("ace-x", 0)
	// The state is written after the metric is set.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		state, _ := s.eng.Snapshot().State.Get([]byte(cluster.Key(s.set, "ace-x")))
		a, _ := state["agent"].(map[string]any)
		if a["connected"] == false && a["last-seen"] == "2026-12-07T12:01:00Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent state after two silent intervals: %v", a)
		}
	}
	_, o, _ := h.Checkin(ctx, "ace-x", checkinOf(full, c.now(), true), edge.Credential{})
	if o != edge.CheckinRecorded {
		t.Fatalf("the check-in after a disconnection: %s", o)
	}
	connected("ace-x", 1)
	state, _ := s.eng.Snapshot().State.Get([]byte(cluster.Key(s.set, "ace-x")))
	if a, _ := state["agent"].(map[string]any); a["connected"] != true {
		t.Fatalf("agent state after reconnecting: %v", a)
	}
}
