package store

import (
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// SetBase implements Store: one txn moves "first" and "last", guarded on
// both still holding an empty store's values, so it cannot race a writer
// that committed to the prefix meanwhile.
func (e *Etcd) SetBase(first uint64) error {
	if first == 0 {
		return errors.New("etcd: set log base: index 0 is not a transaction index")
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	firstKey, lastKey := e.prefix+"first", e.prefix+"last"
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(firstKey), "=", padIndex(1)), clientv3.Compare(clientv3.Value(lastKey), "=", padIndex(0))).
		Then(clientv3.OpPut(firstKey, padIndex(first)), clientv3.OpPut(lastKey, padIndex(first-1))).
		Commit()
	if err != nil {
		return fmt.Errorf("etcd: set log base %d: %w", first, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("etcd: set log base %d under %s: the store has a log already", first, e.prefix)
	}
	e.first.Store(first)
	e.last.Store(first - 1)
	return nil
}

// CountKeys counts the keys under the prefix that start with sub, e.g. to
// find whether live AMP replicas hold keys there (on their leases).
func (e *Etcd) CountKeys(sub string) (int64, error) {
	ctx, cancel := e.reqCtx()
	defer cancel()
	resp, err := e.cli.Get(ctx, e.prefix+sub, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("etcd: count keys %s%s: %w", e.prefix, sub, err)
	}
	return resp.Count, nil
}
