package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SetBase implements Store. The base is kept where compaction keeps it
// (@first-index and @last-index in the meta bucket), so OpenBolt reads it
// back with no log record behind it, and the WAL, empty on an empty store,
// starts its first segment at the first Commit's index.
func (b *Bolt) SetBase(first uint64) error {
	if first == 0 {
		return errors.New("set log base: index 0 is not a transaction index")
	}
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	if last, f := b.last.Load(), b.first.Load(); last != 0 || f != 1 {
		return fmt.Errorf("set log base %d: the store has a log already (first %d, last %d)", first, f, last)
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyFirst, u64(first)); err != nil {
			return err
		}
		return meta.Put(keyLast, u64(first-1))
	})
	if err != nil {
		return fmt.Errorf("set log base %d: %w", first, err)
	}
	b.first.Store(first)
	b.boltLast.Store(first - 1)
	b.last.Store(first - 1)
	return nil
}
