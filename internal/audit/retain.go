package audit

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pruneChunk is how many records one retention transaction deletes, so the
// writer is never busy long between batches.
const pruneChunk = 1000

// prune applies retention: the oldest records go while they are older than
// RetainAge or the stored records exceed RetainBytes (down to 90% of it, so
// that pruning does not run after every batch). Records go in sequence
// order, so a clock stepped back never removes a newer record before an
// older one. It runs on the writer's goroutine.
func (l *Log) prune() {
	for round := 0; round < 100; round++ {
		n, more, err := l.pruneChunk()
		if err != nil {
			l.log.Error("audit: retention failed", "error", err)
			return
		}
		l.m.pruned.Add(float64(n))
		if !more {
			return
		}
	}
}

func (l *Log) pruneChunk() (deleted int, more bool, err error) {
	var cutoff time.Time
	if l.opts.RetainAge > 0 {
		cutoff = l.opts.Now().Add(-l.opts.RetainAge)
	}
	limit := l.opts.RetainBytes
	// Most calls find nothing to do: ask a read transaction, not a
	// synced write.
	due := false
	err = l.db.View(func(tx *bolt.Tx) error {
		if limit > 0 && getUint(tx.Bucket(metaBucket), keyBytes) > uint64(limit) {
			due = true
			return nil
		}
		var r Record
		if _, v := tx.Bucket(bucket).Cursor().First(); v != nil && json.Unmarshal(v, &r) == nil {
			due = !cutoff.IsZero() && r.Time.Before(cutoff)
		}
		return nil
	})
	if err != nil || !due {
		return 0, false, err
	}
	err = l.db.Update(func(tx *bolt.Tx) error {
		b, meta := tx.Bucket(bucket), tx.Bucket(metaBucket)
		size := getUint(meta, keyBytes)
		target := uint64(0)
		over := limit > 0 && size > uint64(limit)
		if over {
			target = uint64(limit) / 10 * 9
		}
		var keys [][]byte
		var recs []Record
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(keys) < pruneChunk; k, v = c.Next() {
			var r Record
			if json.Unmarshal(v, &r) != nil {
				r = Record{} // unreadable: it goes like any other, without index entries
			}
			old := !cutoff.IsZero() && !r.Time.IsZero() && r.Time.Before(cutoff)
			if !old && !(over && size > target) {
				break
			}
			keys = append(keys, k)
			recs = append(recs, r)
			size -= min(size, uint64(len(v)))
		}
		for i, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
			r := &recs[i]
			for _, e := range r.Enterprises {
				if err := tx.Bucket(byEntBucket).Delete(entKey(e, r.Seq)); err != nil {
					return err
				}
			}
			if r.Transaction != 0 {
				byTx := tx.Bucket(byTxBucket)
				if v := byTx.Get(key(r.Transaction)); v != nil && bytes.Equal(v, key(r.Seq)) {
					if err := byTx.Delete(key(r.Transaction)); err != nil {
						return err
					}
				}
				// Recovery must not re-record a write whose record
				// retention dropped.
				if err := raiseUint(meta, keyRecovered, r.Transaction); err != nil {
					return err
				}
			}
		}
		deleted, more = len(keys), len(keys) == pruneChunk
		l.m.bytes.Set(float64(size))
		return putUint(meta, keyBytes, size)
	})
	return deleted, more, err
}
