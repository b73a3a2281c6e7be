package config

import (
	"context"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

// Operational state is what backends and agents report (a device's IP
// address and connection, a UPF's health): the YANG config false subtrees.
// It lives in the snapshot beside the configuration, keyed by object key,
// and is merged into every read of the object. It is not versioned. On the
// embedded store it is not persisted (its reporters send it again after a
// restart); on a shared store (etcd) it is kept there, one key per object,
// so that every replica serves what was reported to any of them.

// SetState writes operational state at loc, which must be a config false
// node (or lie inside one) of an existing object. value is decoded for
// loc.Node (schema.DecodeJSON with AllowState); OpMerge merges, OpReplace
// replaces, OpDelete/OpRemove remove.
func (e *Engine) SetState(ctx context.Context, loc *schema.Location, op Op, value any) error {
	_, span := tracer.Start(ctx, "config.SetState")
	defer span.End()
	inner := loc.Inner
	if loc.Collection && stateRoot(loc.Node) != nil {
		// A whole config false list is held, as one value, in its parent
		// object's state (a fleet bundle's deployments): its entries are
		// no configured objects that could hold state of their own.
		inner = append(append([]string(nil), loc.Inner...), loc.Node.Name)
	}
	if len(inner) == 0 || stateRoot(loc.Node) == nil {
		return schema.Errorf(schema.KindInvalid, loc.REST(), "%q is configuration, not operational state (config false)", loc.Node.Name)
	}
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	cur := e.snap.Load()
	if _, ok := cur.Get(loc.ObjectKey); !ok && loc.Object.Kind != schema.Root {
		return schema.Errorf(schema.KindNotFound, loc.REST(), "%s does not exist: state can only be reported for configured objects",
			schema.RESTPathOfKey(loc.Set, loc.ObjectKey, nil, false, nil))
	}
	old, _ := cur.State.Get([]byte(loc.ObjectKey))
	data := cloneMap(old)
	parent := data
	for _, name := range inner[:len(inner)-1] {
		sub, _ := parent[name].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			parent[name] = sub
		}
		parent = sub
	}
	last := inner[len(inner)-1]
	switch op {
	case OpDelete, OpRemove:
		delete(parent, last)
	case OpReplace:
		parent[last] = value
	default:
		if vm, ok := value.(map[string]any); ok {
			sub, _ := parent[last].(map[string]any)
			parent[last] = mergeMaps(sub, vm)
		} else {
			parent[last] = value
		}
	}
	pruneEmpty(data)
	if len(data) == 0 {
		data = nil
	}
	if e.shared != nil {
		// Other replicas serve reads too: the state goes to the shared
		// store first, and only a stored report counts.
		var b []byte
		if data != nil {
			b = appendMap(nil, data)
		}
		rev, err := e.shared.PutState(loc.ObjectKey, b)
		if err != nil {
			return &schema.Error{Kind: schema.KindUnavailable, Message: "operational state not stored: " + err.Error()}
		}
		e.stateRev[loc.ObjectKey] = rev
	}
	e.setState(loc.ObjectKey, data)
	e.m.stateUpdates.Inc()
	return nil
}

// setState replaces one object's state in a new snapshot and tells the
// state watchers (commitMu held).
func (e *Engine) setState(key string, data map[string]any) {
	cur := e.snap.Load()
	next := *cur
	if data == nil {
		next.State, _, _ = cur.State.Delete([]byte(key))
	} else {
		next.State, _, _ = cur.State.Insert([]byte(key), data)
	}
	e.snap.Store(&next)
	e.notifyState(StateChange{Key: key, State: data})
}

// followState applies the operational state other replicas store (shared
// stores only). A change older than this replica's own newer write of the
// same key is skipped, so its readers never see the state go back.
func (e *Engine) followState() {
	defer close(e.stateDone)
	feed := e.shared.StateChanges()
	for {
		var batch []store.StateChange
		select {
		case c := <-feed:
			batch = append(batch, c)
		case <-e.closing:
			return
		}
	drain:
		for len(batch) < 1024 {
			select {
			case c := <-feed:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		e.commitMu.Lock()
		for _, c := range batch {
			e.applyStateChange(c)
		}
		e.commitMu.Unlock()
	}
}

func (e *Engine) applyStateChange(c store.StateChange) {
	if c.Reset {
		// The feed starts over: what follows is all there is.
		cur := e.snap.Load()
		next := *cur
		next.State = iradix.New[map[string]any]()
		e.snap.Store(&next)
		clear(e.stateRev)
		return
	}
	if c.Revision <= e.stateRev[c.Key] {
		return
	}
	e.stateRev[c.Key] = c.Revision
	var data map[string]any
	if c.Value != nil {
		m, err := (&reader{b: c.Value}).readMap()
		if err != nil {
			e.log.Warn("ignoring undecodable operational state from the shared store", "key", c.Key, "error", err)
			return
		}
		data = m
	}
	e.setState(c.Key, data)
}

// forgetStoredState removes from the shared store the state of objects the
// batch deleted, which every replica has dropped from its snapshot
// (commitMu held; before is the snapshot the batch started from).
func (e *Engine) forgetStoredState(before *Snapshot, recs []*Record) {
	var keys []string
	for _, r := range recs {
		for _, c := range r.Changes {
			if _, had := before.State.Get([]byte(c.Key)); had && c.After == nil {
				keys = append(keys, c.Key)
			}
		}
	}
	if len(keys) == 0 {
		return
	}
	rev, err := e.shared.DeleteStates(keys)
	if err != nil {
		e.log.Warn("could not remove deleted objects' operational state from the shared store", "objects", len(keys), "error", err)
		return
	}
	for _, k := range keys {
		e.stateRev[k] = rev
	}
}

// stateRoot returns the config false node at or above n, nil if n is
// configuration.
func stateRoot(n *schema.Node) *schema.Node {
	var root *schema.Node
	for m := n; m != nil && m.Kind != schema.Root; m = m.Parent {
		if !m.Config {
			root = m
		}
	}
	return root
}

func mergeMaps(dst, src map[string]any) map[string]any {
	out := cloneMap(dst)
	for k, v := range src {
		if _, del := v.(schema.Deleted); del {
			delete(out, k)
			continue
		}
		if vm, ok := v.(map[string]any); ok {
			sub, _ := out[k].(map[string]any)
			out[k] = mergeMaps(sub, vm)
			continue
		}
		out[k] = v
	}
	return out
}

// withState returns an object's data with its operational state merged in.
func withState(o *Object, st *iradix.Tree[map[string]any]) map[string]any {
	if st == nil || o.Node == nil {
		return o.Data
	}
	s, ok := st.Get([]byte(o.Key))
	if !ok {
		return o.Data
	}
	return mergeMaps(o.Data, s)
}

// dropState forgets the state of objects a transaction deleted.
func dropState(st *iradix.Tree[map[string]any], rec *Record) *iradix.Tree[map[string]any] {
	if st == nil {
		return iradix.New[map[string]any]()
	}
	var txn *iradix.Txn[map[string]any]
	for _, c := range rec.Changes {
		if c.After != nil {
			continue
		}
		if _, ok := st.Get([]byte(c.Key)); ok {
			if txn == nil {
				txn = st.Txn()
			}
			txn.Delete([]byte(c.Key))
		}
	}
	if txn == nil {
		return st
	}
	return txn.CommitOnly()
}

// StateChange is one object's operational state after a report (State nil
// when cleared).
type StateChange struct {
	Key   string
	State map[string]any
}

type stateWatcher struct {
	c    chan StateChange
	lost bool
}

// WatchState delivers every operational state change until ctx ends. State
// is not versioned, so there is no resuming: a consumer that falls behind
// has its channel closed and should read the state again.
func (e *Engine) WatchState(ctx context.Context) <-chan StateChange {
	w := &stateWatcher{c: make(chan StateChange, 1024)}
	e.stateMu.Lock()
	e.stateWatchers[w] = struct{}{}
	e.stateMu.Unlock()
	go func() {
		<-ctx.Done()
		e.stateMu.Lock()
		if _, ok := e.stateWatchers[w]; ok {
			delete(e.stateWatchers, w)
			close(w.c)
		}
		e.stateMu.Unlock()
	}()
	return w.c
}

func (e *Engine) notifyState(sc StateChange) {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	for w := range e.stateWatchers {
		select {
		case w.c <- sc:
		default:
			delete(e.stateWatchers, w)
			close(w.c)
		}
	}
}
