package edge

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// MaxWaiting bounds the requests waiting per cluster. Its agent keeps one
// open; a second is its reconnection while the first's connection is
// dead. A third answers the oldest at once (unchanged), so that a stolen
// certificate cannot pile up waiting requests.
const MaxWaiting = 2

// waiter is a request waiting for a change of its cluster's state. It
// holds no goroutine: a commit (wake), its timer or its cancellation
// answers it through deliver.
type waiter struct {
	e       *entry
	id      string
	since   uint64
	digest  string
	span    trace.SpanContext // the waiting request's: its answer's span is a child
	deliver func(*wire.Desired, error)
	timer   *time.Timer
}

// Desired answers a desired-state request of cluster id's agent, which
// holds the state of digest (its If-None-Match) as of index since. While
// digest is the current one it waits up to wait for a change; nil means
// unchanged (304), as it does when ctx ends first. The calling goroutine
// waits; Park is the same without it.
func (h *Hub) Desired(ctx context.Context, id string, since uint64, digest string, wait time.Duration) (d *wire.Desired, err error) {
	ctx, span := tracer.Start(ctx, "edge.Desired", trace.WithAttributes(attribute.String("amp.cluster", id),
		attribute.Int64("amp.since", int64(since)), attribute.String("amp.wait", wait.String())))
	defer func() { endAnswerSpan(span, d, err) }()
	type answer struct {
		d   *wire.Desired
		err error
	}
	ch := make(chan answer, 1)
	w, err := h.enqueue(ctx, id, since, digest, wait, func(d *wire.Desired, err error) { ch <- answer{d, err} })
	if err != nil {
		return nil, err
	}
	if w == nil {
		return h.now(id, since, digest)
	}
	select {
	case a := <-ch:
		return a.d, a.err
	case <-ctx.Done():
		if h.cancel(w) {
			return nil, nil // the client is gone
		}
		a := <-ch // answered meanwhile
		return a.d, a.err
	}
}

// Park is Desired without a goroutine waiting: when the request waits,
// deliver is registered and called once, from another goroutine, with the
// answer, and parked is true; otherwise nothing is registered and the
// caller answers it at once with Desired.
func (h *Hub) Park(ctx context.Context, id string, since uint64, digest string, wait time.Duration, deliver func(*wire.Desired, error)) (parked bool, err error) {
	w, err := h.enqueue(ctx, id, since, digest, wait, deliver)
	return w != nil, err
}

// enqueue registers a request that holds cluster id's current state and
// may wait; nil (and nothing registered): it is to be answered at once.
func (h *Hub) enqueue(ctx context.Context, id string, since uint64, digest string, wait time.Duration, deliver func(*wire.Desired, error)) (*waiter, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, err := h.lookup(id)
	if err != nil {
		return nil, err
	}
	e.seen = h.opts.Now()
	// Queries queued while it was not waiting: answered at once, so
	// that the agent comes for them (queries.go).
	if e.takeUntold() || e.cur.digest != digest || wait <= 0 {
		return nil, nil
	}
	if len(e.waiters) >= MaxWaiting {
		oldest := e.waiters[0]
		e.waiters = slices.Delete(e.waiters, 0, 1)
		oldest.timer.Stop()
		h.m.waiting.Dec()
		go h.finish(oldest, false)
	}
	w := &waiter{e: e, id: id, since: since, digest: digest, span: trace.SpanContextFromContext(ctx), deliver: deliver}
	w.timer = time.AfterFunc(wait, func() { h.expire(w) })
	e.waiters = append(e.waiters, w)
	h.m.waiting.Inc()
	return w, nil
}

// remove takes w off its entry's waiters (h.mu held); false: it was
// answered already.
func (h *Hub) remove(w *waiter) bool {
	i := slices.Index(w.e.waiters, w)
	if i < 0 {
		return false
	}
	w.e.waiters = slices.Delete(w.e.waiters, i, i+1)
	h.m.waiting.Dec()
	return true
}

// expire answers w when its wait is over.
func (h *Hub) expire(w *waiter) {
	h.mu.Lock()
	ok := h.remove(w)
	h.mu.Unlock()
	if ok {
		h.finish(w, false)
	}
}

// cancel takes w back unanswered; false: it was answered already.
func (h *Hub) cancel(w *waiter) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.remove(w) {
		return false
	}
	w.timer.Stop()
	w.e.seen = h.opts.Now() // connected while it waited
	return true
}

// finish answers w, off its entry's waiters; woke: a change ended its
// wait.
func (h *Hub) finish(w *waiter, woke bool) {
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), w.span)
	_, span := tracer.Start(ctx, "edge.Desired.answer", trace.WithAttributes(attribute.String("amp.cluster", w.id),
		attribute.Bool("amp.woke", woke)))
	h.mu.Lock()
	e := w.e
	e.seen = h.opts.Now()
	gone, cur, prev, c, changedAt := e.gone, e.cur, e.prev, e.c, e.changedAt
	h.mu.Unlock()
	if woke && cur != nil && cur.commit.IsValid() {
		span.AddLink(trace.Link{SpanContext: cur.commit}) // the commit that ended the wait
	}
	var d *wire.Desired
	err := notDeclared(w.id)
	if !gone {
		d, err = h.respond(c, cur, prev, w.since, w.digest)
		if d != nil && woke {
			h.m.delivery.Observe(h.opts.Now().Sub(changedAt).Seconds())
		}
	}
	endAnswerSpan(span, d, err)
	w.deliver(d, err)
}

// now answers a request that does not wait.
func (h *Hub) now(id string, since uint64, digest string) (*wire.Desired, error) {
	h.mu.Lock()
	e, err := h.lookup(id)
	if err != nil {
		h.mu.Unlock()
		return nil, err
	}
	cur, prev, c := e.cur, e.prev, e.c
	h.mu.Unlock()
	return h.respond(c, cur, prev, since, digest)
}

// respond is the answer to an agent holding digest as of since when the
// cluster's state is cur (prev before it): nil when it is the same.
func (h *Hub) respond(c Cluster, cur, prev *state, since uint64, digest string) (*wire.Desired, error) {
	if cur.digest == digest {
		h.m.answers.WithLabelValues(AnswerUnchanged).Inc()
		return nil, nil
	}
	d, err := h.answer(c, cur, prev, since, digest)
	if err != nil {
		return nil, err
	}
	if d.Full {
		h.m.answers.WithLabelValues(AnswerFull).Inc()
	} else {
		h.m.answers.WithLabelValues(AnswerDelta).Inc()
	}
	return d, nil
}

func endAnswerSpan(span trace.Span, d *wire.Desired, err error) {
	switch {
	case err != nil:
		span.RecordError(err)
	case d == nil:
		span.SetAttributes(attribute.String("amp.answer", AnswerUnchanged))
	default:
		span.SetAttributes(attribute.Bool("amp.full", d.Full), attribute.Int("amp.objects", len(d.Objects)), attribute.Int64("amp.index", int64(d.Index)))
	}
	span.End()
}
