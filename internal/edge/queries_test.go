package edge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// TestSiteQueries: a site query wakes its cluster's waiting agent at once
// (unchanged, the queries queued), is handed out once, and its answer
// reaches the asker; only that cluster may answer it. An agent that is
// not connected is unavailable at once; one not waiting when the query
// is queued has its next request answered at once; a query whose asker
// gave up can no longer be answered.
func TestSiteQueries(t *testing.T) {
	s := newSite(t, clusters)
	reg := prometheus.NewRegistry()
	h := s.hub(edge.Options{Registry: reg})
	ctx := context.Background()
	x, _ := h.Desired(ctx, "ace-x", 0, "", 0)
	if _, err := h.Ask(ctx, "ace-x", wire.SiteQuery{API: wire.APIQuery, Form: "query=up"}); schema.KindOf(err) != schema.KindUnavailable {
		t.Fatalf("a query for an agent that never checked in: %v", err)
	}
	if _, _, err := h.Checkin(ctx, "ace-x", checkinOf(x, time.Now(), true), edge.Credential{}); err != nil {
		t.Fatal(err)
	}

	// The agent waits; a query wakes it: unchanged, queries queued.
	woke := make(chan *wire.Desired, 1)
	go func() {
		d, err := h.Desired(ctx, "ace-x", x.Index, x.Digest, time.Minute)
		if err != nil {
			t.Error(err)
		}
		woke <- d
	}()
	for deadline := time.Now().Add(10 * time.Second); metric(t, reg, "amp_edge_waiting_agents") != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the agent's request never waited")
		}
	}
	type result struct {
		a   wire.SiteAnswer
		err error
	}
	asked := make(chan result, 1)
	go func() {
		a, err := h.Ask(ctx, "ace-x", wire.SiteQuery{API: wire.APIQuery, Form: "query=up"})
		asked <- result{a, err}
	}()
	select {
	case d := <-woke:
		if d != nil {
			t.Fatalf("woken with a change: %+v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the query did not wake the waiting agent")
	}
	if !h.QueriesQueued("ace-x") || h.QueriesQueued("ace-y") {
		t.Fatal("QueriesQueued does not say which cluster's agent has queries")
	}
	qs := h.TakeQueries("ace-x")
	if len(qs) != 1 || qs[0].Form != "query=up" || qs[0].ID == "" || len(h.TakeQueries("ace-x")) != 0 || h.QueriesQueued("ace-x") {
		t.Fatalf("taken: %+v", qs)
	}
	// Another cluster cannot answer it; its own can, once.
	if err := h.Answer("ace-y", qs[0].ID, wire.SiteAnswer{Status: 200, Body: []byte(`{}`)}); schema.KindOf(err) != schema.KindNotFound {
		t.Fatalf("ace-y answering ace-x's query: %v", err)
	}
	if err := h.Answer("ace-x", qs[0].ID, wire.SiteAnswer{Status: 200, Body: []byte(`{"status":"success"}`)}); err != nil {
		t.Fatal(err)
	}
	if r := <-asked; r.err != nil || r.a.Status != 200 || string(r.a.Body) != `{"status":"success"}` {
		t.Fatalf("the asker got %+v %v", r.a, r.err)
	}
	if err := h.Answer("ace-x", qs[0].ID, wire.SiteAnswer{Status: 200, Body: []byte(`{}`)}); schema.KindOf(err) != schema.KindNotFound {
		t.Fatalf("a second answer: %v", err)
	}

	// Queued while the agent is not waiting: its next request is
	// answered at once rather than parked. The asker gives up meanwhile:
	// its query can no longer be answered.
	qctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := h.Ask(qctx, "ace-x", wire.SiteQuery{API: wire.APIQuery, Form: "query=up"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an unanswered query: %v", err)
	}
	done := make(chan struct{})
	go func() {
		h.Desired(ctx, "ace-x", x.Index, x.Digest, time.Minute)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent's next request was parked though a query had been queued")
	}
	if qs := h.TakeQueries("ace-x"); len(qs) != 0 {
		t.Fatalf("a query its asker gave up is still handed out: %+v", qs)
	}
}
