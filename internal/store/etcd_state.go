package store

// Operational state on etcd: one key per object under state/, so every
// replica sees what reporters sent to any of them. It is not part of the
// transaction log (state is not versioned); each replica keeps it in its
// snapshot from a watch.

import (
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (e *Etcd) stateKey(key string) string { return e.prefix + "state/" + key }

// PutState implements Shared.
func (e *Etcd) PutState(key string, value []byte) (int64, error) {
	ctx, cancel := e.reqCtx()
	defer cancel()
	if value == nil {
		resp, err := e.cli.Delete(ctx, e.stateKey(key))
		if err != nil {
			return 0, fmt.Errorf("etcd: delete state of %s: %w", key, err)
		}
		return resp.Header.Revision, nil
	}
	resp, err := e.cli.Put(ctx, e.stateKey(key), string(value))
	if err != nil {
		return 0, fmt.Errorf("etcd: put state of %s: %w", key, err)
	}
	return resp.Header.Revision, nil
}

// DeleteStates implements Shared: etcdTxnOps deletes per txn.
func (e *Etcd) DeleteStates(keys []string) (int64, error) {
	var rev int64
	for len(keys) > 0 {
		n := min(len(keys), etcdTxnOps)
		ops := make([]clientv3.Op, n)
		for i, k := range keys[:n] {
			ops[i] = clientv3.OpDelete(e.stateKey(k))
		}
		ctx, cancel := e.reqCtx()
		resp, err := e.cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return 0, fmt.Errorf("etcd: delete the state of %d objects: %w", len(keys), err)
		}
		rev = resp.Header.Revision
		keys = keys[n:]
	}
	return rev, nil
}

// States implements Shared.
func (e *Etcd) States(fn func(key string, value []byte) error) error {
	p := e.prefix + "state/"
	return e.scan("states", p, clientv3.GetPrefixRangeEnd(p), func(k string, v []byte) error {
		return fn(strings.TrimPrefix(k, p), v)
	})
}

// StateChanges implements Shared. The feed starts on the first call.
func (e *Etcd) StateChanges() <-chan StateChange {
	e.stateOnce.Do(func() {
		e.states = make(chan StateChange, 256)
		go e.feedStates()
	})
	return e.states
}

// feedStates sends every state entry, then watches for changes; when the
// watch breaks it reads everything again behind a Reset.
func (e *Etcd) feedStates() {
	p := e.prefix + "state/"
	send := func(c StateChange) bool {
		select {
		case e.states <- c:
			return true
		case <-e.ctx.Done():
			return false
		}
	}
	for e.ctx.Err() == nil {
		if !send(StateChange{Reset: true}) {
			return
		}
		rev, err := e.scanKVs("state", p, clientv3.GetPrefixRangeEnd(p), func(kv *mvccpb.KeyValue) error {
			send(StateChange{Key: strings.TrimPrefix(string(kv.Key), p), Value: kv.Value, Revision: kv.ModRevision})
			return nil
		})
		if err != nil {
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		for resp := range e.cli.Watch(clientv3.WithRequireLeader(e.ctx), p, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				c := StateChange{Key: strings.TrimPrefix(string(ev.Kv.Key), p), Revision: ev.Kv.ModRevision}
				if ev.Type == clientv3.EventTypePut {
					c.Value = ev.Kv.Value
				}
				if !send(c) {
					return
				}
			}
		}
	}
}
