package store

import (
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DeleteAllIfMeta deletes every key under the prefix, in one txn, if the
// metadata key meta is there: a refused restore takes back what it wrote
// into the prefix it found empty, guarded by the marker it wrote first so
// that it never deletes a prefix someone else filled or emptied meanwhile.
func (e *Etcd) DeleteAllIfMeta(meta string) error {
	ctx, cancel := e.reqCtx()
	defer cancel()
	_, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(e.prefix+"meta/"+meta), ">", 0)).
		Then(clientv3.OpDelete(e.prefix, clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return fmt.Errorf("etcd: delete everything under %s: %w", e.prefix, err)
	}
	return nil
}
