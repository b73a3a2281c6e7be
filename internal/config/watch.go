package config

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

// ErrLagged ends a watch whose consumer fell too far behind; it resumes by
// watching again from the last index it processed.
var ErrLagged = errors.New("watch: consumer fell behind; resume from the last index seen")

// Watch delivers every committed transaction with index > from, in order,
// first from the log and then live. The channel closes when ctx ends, the
// engine closes, or the consumer lags (Err says which). Resuming from the
// last index received never skips or repeats a transaction.
type Watch struct {
	C   <-chan *Record
	w   *watcher
	err error
}

// Err returns why the watch ended (nil while it runs or if ctx ended).
func (w *Watch) Err() error {
	w.w.mu.Lock()
	defer w.w.mu.Unlock()
	return w.w.err
}

type watcher struct {
	mu   sync.Mutex
	live chan *Record
	err  error
	done chan struct{}
	once sync.Once
}

func (w *watcher) fail(err error) {
	w.once.Do(func() {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		close(w.done)
	})
}

// Watch starts a watch.
func (e *Engine) Watch(ctx context.Context, from uint64) (*Watch, error) {
	if from+1 < e.store.FirstIndex() && from < e.Snapshot().Index {
		return nil, schema.Errorf(schema.KindGone, "", "cannot watch from %d: history before %d has been compacted; do a full read, then watch from its index", from, e.store.FirstIndex())
	}
	wr := &watcher{live: make(chan *Record, 4096), done: make(chan struct{})}
	// Register before reading the log, so nothing committed in between is
	// missed; duplicates are dropped by index below.
	e.watchMu.Lock()
	e.watchers[wr] = struct{}{}
	e.watchMu.Unlock()
	// What the log must supply is fixed now, not when the goroutine runs:
	// a commit made after Watch returns comes live, with its request's
	// span (a record read back from the log has none).
	upto := e.Snapshot().Index
	out := make(chan *Record, 64)
	go func() {
		defer close(out)
		defer func() {
			e.watchMu.Lock()
			delete(e.watchers, wr)
			e.watchMu.Unlock()
		}()
		next := from + 1
		send := func(r *Record) bool {
			if r.Index < next {
				return true
			}
			if r.Index > next {
				wr.fail(fmt.Errorf("watch: gap at index %d", next))
				return false
			}
			select {
			case out <- r:
				next++
				return true
			case <-ctx.Done():
				return false
			case <-wr.done:
				return false
			}
		}
		if next <= upto {
			err := e.store.Log(next, upto, false, func(_ uint64, raw []byte) error {
				r, err := e.decodeRecord(raw)
				if err != nil {
					return err
				}
				if !send(r) {
					return errStop
				}
				return nil
			})
			if err != nil && !errors.Is(err, errStop) {
				if errors.Is(err, store.ErrCompacted) {
					err = ErrLagged
				}
				wr.fail(err)
				return
			}
		}
		for {
			select {
			case r := <-wr.live:
				if !send(r) {
					return
				}
			case <-ctx.Done():
				return
			case <-wr.done:
				return
			}
		}
	}()
	return &Watch{C: out, w: wr}, nil
}

func (e *Engine) notify(recs []*Record) {
	e.watchMu.Lock()
	defer e.watchMu.Unlock()
	for w := range e.watchers {
		for _, r := range recs {
			select {
			case w.live <- r:
			default:
				w.fail(ErrLagged)
			}
		}
	}
}
