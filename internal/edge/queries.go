package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// MaxSiteQueries bounds the site queries queued or running per cluster:
// more are refused (unavailable) rather than piled up behind an agent
// that does not take them.
const MaxSiteQueries = 32

// siteCall is one site query, from Ask to its answer. It holds no
// goroutine of its own: the asker waits on answer.
type siteCall struct {
	cluster string
	q       wire.SiteQuery
	answer  chan wire.SiteAnswer // buffered: Answer never blocks
}

// queries is a cluster's part of the site queries (h.mu held).
type queries struct {
	queued []*siteCall // not taken by the agent yet, oldest first
	open   int         // queued or taken, not answered
	// untold: queued while no desired-state request of the agent was
	// waiting; its next one is answered at once, saying so.
	untold bool
}

// Ask queues q (its ID is set here) for cluster id's agent, wakes the
// agent's waiting desired-state request so that it comes for it, and
// waits for the agent's answer until ctx ends. It never dials the site.
// An agent linked to another replica on the same store (the store says
// it is connected, this replica did not hear it) is asked through that
// replica (relay); one connected to none is an unavailable error at
// once, and one that does not answer is ctx's error.
func (h *Hub) Ask(ctx context.Context, id string, q wire.SiteQuery) (wire.SiteAnswer, error) {
	ctx, span := tracer.Start(ctx, "edge.Ask", trace.WithAttributes(attribute.String("amp.cluster", id), attribute.String("amp.api", q.API)))
	defer span.End()
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	q.ID = hex.EncodeToString(raw[:])
	if h.relay != nil && !h.holds(id) && h.storeConnected(id) {
		span.SetAttributes(attribute.Bool("amp.relayed", true))
		return h.relay.Ask(ctx, id, q)
	}
	return h.askLocal(ctx, id, q)
}

// holds says whether this replica heard cluster id's agent itself and
// holds its link now.
func (h *Hub) holds(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entries[id]
	return e != nil && e.connected && !e.gone && e.heard()
}

// storeConnected says whether the store records cluster id's agent as
// connected (to any replica).
func (h *Hub) storeConnected(id string) bool {
	up, _ := h.dir.State(h.sch, h.eng.Snapshot(), id)["agent"]["connected"].(bool)
	return up
}

// Take implements relay.Taker: this replica holds the link of cluster
// id's agent and has room for one more query.
func (h *Hub) Take(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entries[id]
	return e != nil && e.connected && !e.gone && e.heard() && e.queries.open < MaxSiteQueries
}

// Run implements relay.Taker: another replica's query q (its ID set
// there) is queued for this replica's agent like one asked here.
func (h *Hub) Run(ctx context.Context, id string, q wire.SiteQuery) (wire.SiteAnswer, error) {
	ctx, span := tracer.Start(ctx, "edge.Ask", trace.WithAttributes(attribute.String("amp.cluster", id), attribute.String("amp.api", q.API), attribute.Bool("amp.relayed", true)))
	defer span.End()
	return h.askLocal(ctx, id, q)
}

// askLocal queues q for cluster id's agent linked to this replica and waits for
// its answer until ctx ends.
func (h *Hub) askLocal(ctx context.Context, id string, q wire.SiteQuery) (wire.SiteAnswer, error) {
	c := &siteCall{cluster: id, q: q, answer: make(chan wire.SiteAnswer, 1)}
	h.mu.Lock()
	e := h.entries[id]
	switch {
	case e == nil || !e.connected || e.gone:
		h.mu.Unlock()
		return wire.SiteAnswer{}, schema.Errorf(schema.KindUnavailable, LinkPath(id), "the agent of cluster %q is not connected", id)
	case e.queries.open >= MaxSiteQueries:
		h.mu.Unlock()
		return wire.SiteAnswer{}, schema.Errorf(schema.KindUnavailable, LinkPath(id), "%d queries are open for cluster %q already", MaxSiteQueries, id)
	case h.calls[q.ID] != nil:
		h.mu.Unlock()
		return wire.SiteAnswer{}, schema.Errorf(schema.KindConflict, LinkPath(id), "query %q is open already", q.ID)
	}
	if h.calls == nil {
		h.calls = map[string]*siteCall{}
	}
	h.calls[q.ID] = c
	e.queries.queued = append(e.queries.queued, c)
	e.queries.open++
	// The waiting requests are answered now (304, QueriesHeader); with
	// none waiting, the agent's next request is answered at once.
	woken := e.waiters
	e.waiters = nil
	for _, w := range woken {
		w.timer.Stop()
		h.m.waiting.Dec()
	}
	e.queries.untold = len(woken) == 0
	h.mu.Unlock()
	for _, w := range woken {
		go h.finish(w, false)
	}

	select {
	case a := <-c.answer:
		return a, nil
	case <-ctx.Done():
		h.mu.Lock()
		if h.calls[q.ID] == c {
			delete(h.calls, q.ID)
			e.queries.queued = slices.DeleteFunc(e.queries.queued, func(x *siteCall) bool { return x == c })
			e.queries.open--
			h.mu.Unlock()
			trace.SpanFromContext(ctx).RecordError(ctx.Err())
			return wire.SiteAnswer{}, ctx.Err()
		}
		h.mu.Unlock()
		return <-c.answer, nil // answered meanwhile
	}
}

// QueriesQueued says whether queries wait for cluster id's agent to take
// them: its desired-state answers carry wire.QueriesHeader.
func (h *Hub) QueriesQueued(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entries[id]
	return e != nil && len(e.queries.queued) > 0
}

// TakeQueries hands cluster id's agent the queries queued for it, oldest
// first; each is handed out once.
func (h *Hub) TakeQueries(id string) []wire.SiteQuery {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []wire.SiteQuery{}
	e := h.entries[id]
	if e == nil {
		return out
	}
	for _, c := range e.queries.queued {
		out = append(out, c.q)
	}
	e.queries.queued, e.queries.untold = nil, false
	return out
}

// CheckOpen is nil when query qid of cluster id waits for its answer,
// else the not-found error Answer would return: an answer to any other
// is refused before its body is read.
func (h *Hub) CheckOpen(id, qid string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.calls[qid]; c == nil || c.cluster != id {
		return notOpen(id, qid)
	}
	return nil
}

// Answer takes cluster id's agent's answer to query qid. A query that is
// not open for that cluster (answered already, given up by its asker, or
// another cluster's) is not found.
func (h *Hub) Answer(id, qid string, a wire.SiteAnswer) error {
	h.mu.Lock()
	c := h.calls[qid]
	if c == nil || c.cluster != id {
		h.mu.Unlock()
		return notOpen(id, qid)
	}
	delete(h.calls, qid)
	if e := h.entries[id]; e != nil {
		e.queries.queued = slices.DeleteFunc(e.queries.queued, func(x *siteCall) bool { return x == c })
		e.queries.open--
	}
	h.mu.Unlock()
	c.answer <- a
	return nil
}

// takeUntold reports, once, that queries were queued while none of e's
// agent's requests waited (h.mu held).
func (e *entry) takeUntold() bool {
	u := e.queries.untold
	e.queries.untold = false
	return u
}

// Clusters lists the declared clusters, as of now.
func (h *Hub) Clusters() []Cluster { return h.dir.Clusters(h.sch, h.eng.Snapshot()) }

func notOpen(id, qid string) error {
	return schema.Errorf(schema.KindNotFound, LinkPath(id)+"/queries/"+schema.EscapeSegment(qid), "no query %q is waiting for this cluster's answer (answered already, or its asker gave up)", qid)
}
