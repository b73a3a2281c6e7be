package config

// Several AMP replicas can serve one shared store (store.Shared: etcd).
// Each keeps its own in-memory snapshot and commits through the store's
// guarded Commit; this file keeps a replica's snapshot current with what
// the others commit, lets a reader wait for an index it was told about
// (read-your-writes across replicas), and confines checkpoints and
// compaction, which must have one writer, to the replica elected for them.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

// publish makes snap the snapshot readers see and wakes WaitIndex callers.
func (e *Engine) publish(snap *Snapshot) {
	e.snap.Store(snap)
	e.m.objects.Set(float64(snap.Objects.Len()))
	e.m.index.Set(float64(snap.Index))
	e.waitMu.Lock()
	if e.advanced != nil {
		close(e.advanced)
		e.advanced = nil
	}
	e.waitMu.Unlock()
}

// markDirty records the keys the next checkpoint must write (commitMu held).
func (e *Engine) markDirty(recs []*Record) {
	for _, r := range recs {
		for _, c := range r.Changes {
			e.dirty[c.Key] = struct{}{}
		}
	}
}

// WaitIndex returns a snapshot at index or newer, waiting until this
// replica has applied it or ctx ends. A client that wrote through one
// replica passes the index it got back to read its write on another.
func (e *Engine) WaitIndex(ctx context.Context, index uint64) (*Snapshot, error) {
	for {
		if s := e.snap.Load(); s.Index >= index {
			return s, nil
		}
		e.waitMu.Lock()
		if e.advanced == nil {
			e.advanced = make(chan struct{})
		}
		ch := e.advanced
		e.waitMu.Unlock()
		// Checked again now that a publish after this point will wake us.
		s := e.snap.Load()
		if s.Index >= index {
			return s, nil
		}
		if e.shared != nil {
			// Do not wait for the store's watch to report the index: it
			// may already be committed.
			select {
			case e.followKick <- struct{}{}:
			default:
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, schema.Errorf(schema.KindUnavailable, "", "this replica has applied index %d, not yet %d; retry, or read from the replica that committed it", s.Index, index)
		case <-e.closing:
			return nil, ErrClosed
		}
	}
}

// follow applies other replicas' commits as the store reports them.
func (e *Engine) follow() {
	defer close(e.followDone)
	for {
		select {
		case <-e.shared.Changed():
		case <-e.followKick:
		case <-e.closing:
			return
		}
		e.commitMu.Lock()
		err := e.catchUp()
		e.commitMu.Unlock()
		if err != nil {
			e.log.Warn("applying other replicas' transactions failed; retrying", "error", err)
			select {
			case <-time.After(200 * time.Millisecond):
			case <-e.closing:
				return
			}
			select {
			case e.followKick <- struct{}{}:
			default:
			}
		}
	}
}

// catchUp applies the records committed after the current snapshot by
// other replicas, publishes the result and tells watchers (commitMu held).
func (e *Engine) catchUp() error {
	base := e.snap.Load()
	defer func() {
		e.m.replicaLag.Set(float64(e.store.LastIndex() - min(e.store.LastIndex(), e.snap.Load().Index)))
	}()
	if e.store.LastIndex() <= base.Index {
		return nil
	}
	var recs []*Record
	err := e.store.Log(base.Index+1, math.MaxUint64, false, func(i uint64, raw []byte) error {
		r, err := e.decodeRecord(raw)
		if err != nil {
			return err
		}
		if r.Index != base.Index+1 || i != r.Index {
			return fmt.Errorf("log record %d holds index %d; expected %d", i, r.Index, base.Index+1)
		}
		base = e.applyRecord(base, r)
		recs = append(recs, r)
		return nil
	})
	if len(recs) > 0 {
		e.publish(base)
		e.markDirty(recs)
		e.notify(recs)
		now := time.Now()
		for _, r := range recs {
			e.m.replicaApplied.Inc()
			e.m.replicaApplyDelay.Observe(max(0, now.Sub(r.Time).Seconds()))
		}
	}
	if errors.Is(err, store.ErrCompacted) {
		// So far behind that the records are gone: start over from the
		// checkpoint. Watchers cannot be told what they missed one by one.
		return e.reload()
	}
	if err != nil {
		return fmt.Errorf("catch up from index %d: %w", base.Index, err)
	}
	return nil
}

// applyRecord applies another replica's committed transaction to base. It
// was validated where it was committed, so it is applied whatever this
// replica's check says; the check still runs because it maintains the
// reference and unique indexes, and a complaint means the replicas run
// different models.
func (e *Engine) applyRecord(base *Snapshot, r *Record) *Snapshot {
	w := &work{e: e, base: base, txn: base.Objects.Txn(), index: r.Index, before: map[string]*Object{}}
	for _, c := range r.Changes {
		if c.After == nil {
			w.del(c.Key)
		} else {
			w.put(c.After)
		}
	}
	tree := w.txn.CommitOnly()
	refs, uniq := w.validate(tree)
	if err := w.probs.Err(); err != nil {
		e.log.Warn("a transaction another replica committed does not validate here; do the replicas load the same models?", "index", r.Index, "error", err)
	}
	return &Snapshot{Index: r.Index, Objects: tree, Refs: refs, Uniq: uniq, State: dropState(base.State, r), schema: e.schema, back: &sync.Map{}}
}

// reload rebuilds the snapshot from the store's checkpoint and log, and
// ends every watch (they resume from their last index, or start over).
func (e *Engine) reload() error {
	e.dirty = map[string]struct{}{}
	snap, err := e.load()
	if err != nil {
		return fmt.Errorf("reload after falling behind compaction: %w", err)
	}
	snap.State = e.snap.Load().State
	e.publish(snap)
	e.watchMu.Lock()
	for w := range e.watchers {
		w.fail(ErrLagged)
	}
	e.watchMu.Unlock()
	e.log.Warn("fell behind the retained history; reloaded from the checkpoint", "index", snap.Index)
	return nil
}

// Maintain makes this replica the one that writes checkpoints and compacts
// history, until ctx ends. On a shared store exactly one replica may (the
// server elects it); on a store of its own the engine always does.
func (e *Engine) Maintain(ctx context.Context) {
	e.commitMu.Lock()
	// The previous maintainer may have died before checkpointing what it
	// had applied: every key changed since the store's checkpoint is due.
	cp, idx := e.store.CheckpointIndex(), e.snap.Load().Index
	if idx > cp {
		err := e.store.Log(cp+1, idx, false, func(_ uint64, raw []byte) error {
			r, err := decodeRecordKeys(e.schema, raw)
			if err != nil {
				return err
			}
			e.markDirty([]*Record{r})
			return nil
		})
		if err != nil {
			e.log.Error("reading the log since the last checkpoint failed; the next checkpoint may miss objects until a restart", "checkpoint", cp, "error", err)
		}
	}
	e.maintaining.Store(true)
	e.commitMu.Unlock()
	e.log.Info("writing checkpoints and compacting history on this replica", "checkpoint", cp)
	select {
	case e.kick <- struct{}{}:
	default:
	}
	<-ctx.Done()
	e.maintaining.Store(false)
}
