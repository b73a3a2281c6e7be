package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketObjects = []byte("objects")
	bucketLog     = []byte("log")
	bucketMeta    = []byte("meta")
	keyFirst      = []byte("@first-index")
	keyLast       = []byte("@last-index")
	keyCheckpoint = []byte("@checkpoint-index")
)

// Bolt is the embedded store: one bbolt file in the data directory.
type Bolt struct {
	db         *bolt.DB
	last       atomic.Uint64
	first      atomic.Uint64
	checkpoint atomic.Uint64
}

// OpenBolt opens (creating if needed) the store in dir. bbolt syncs every
// write transaction, so a returned Commit survives kill -9 and power loss.
func OpenBolt(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, "amp.db")
	// NoFreelistSync: the freelist is rebuilt by scanning at open instead
	// of being written on every commit, one page less per fsync; durability
	// is unchanged (bbolt's documented trade: slower open after a crash).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (is another amp serve using this data dir?)", path, err)
	}
	b := &Bolt{db: db}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketObjects, bucketLog, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		last := getU64(meta.Get(keyLast)) // written by compaction, which may empty the log
		if k, _ := tx.Bucket(bucketLog).Cursor().Last(); k != nil {
			last = getU64(k)
		}
		b.last.Store(last)
		first := getU64(meta.Get(keyFirst))
		if first == 0 {
			first = 1
		}
		b.first.Store(first)
		b.checkpoint.Store(getU64(meta.Get(keyCheckpoint)))
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise %s: %w", path, err)
	}
	return b, nil
}

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// Objects implements Store.
func (b *Bolt) Objects(fn func(key string, value []byte) error) error {
	return b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketObjects).ForEach(func(k, v []byte) error {
			return fn(string(k), v)
		})
	})
}

// Commit implements Store.
func (b *Bolt) Commit(batch []Commit) error {
	if len(batch) == 0 {
		return nil
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketLog)
		last := b.last.Load()
		for _, c := range batch {
			if c.Index != last+1 {
				return fmt.Errorf("commit index %d does not follow %d", c.Index, last)
			}
			last = c.Index
			if err := log.Put(u64(c.Index), c.Log); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	b.last.Store(batch[len(batch)-1].Index)
	return nil
}

// WriteObjects implements Store.
func (b *Bolt) WriteObjects(puts []KV, deletes []string) error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		objs := tx.Bucket(bucketObjects)
		for _, k := range deletes {
			if err := objs.Delete([]byte(k)); err != nil {
				return err
			}
		}
		for _, kv := range puts {
			if err := objs.Put([]byte(kv.Key), kv.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write checkpoint objects: %w", err)
	}
	return nil
}

// SetCheckpoint implements Store.
func (b *Bolt) SetCheckpoint(index uint64) error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyCheckpoint, u64(index))
	})
	if err != nil {
		return fmt.Errorf("set checkpoint: %w", err)
	}
	b.checkpoint.Store(index)
	return nil
}

// CheckpointIndex implements Store.
func (b *Bolt) CheckpointIndex() uint64 { return b.checkpoint.Load() }

// Log implements Store.
func (b *Bolt) Log(from, to uint64, reverse bool, fn func(uint64, []byte) error) error {
	if from < b.first.Load() {
		return ErrCompacted
	}
	return b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		if reverse {
			k, v := c.Seek(u64(to))
			if k == nil || getU64(k) > to {
				k, v = c.Prev()
			}
			for ; k != nil && getU64(k) >= from; k, v = c.Prev() {
				if err := fn(getU64(k), v); err != nil {
					return err
				}
			}
			return nil
		}
		for k, v := c.Seek(u64(from)); k != nil && getU64(k) <= to; k, v = c.Next() {
			if err := fn(getU64(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// LastIndex implements Store.
func (b *Bolt) LastIndex() uint64 { return b.last.Load() }

// FirstIndex implements Store.
func (b *Bolt) FirstIndex() uint64 { return b.first.Load() }

// Compact implements Store.
func (b *Bolt) Compact(before uint64) error {
	if cp := b.checkpoint.Load() + 1; before > cp {
		before = cp
	}
	if before <= b.first.Load() {
		return nil
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketLog)
		c := log.Cursor()
		for k, _ := c.First(); k != nil && getU64(k) < before; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyLast, u64(b.last.Load())); err != nil {
			return err
		}
		return meta.Put(keyFirst, u64(before))
	})
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	b.first.Store(before)
	return nil
}

// GetMeta implements Store.
func (b *Bolt) GetMeta(key string) ([]byte, error) {
	var out []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte("m/" + key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// PutMeta implements Store.
func (b *Bolt) PutMeta(key string, value []byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("m/"+key), value)
	})
}

// DeleteMeta implements Store.
func (b *Bolt) DeleteMeta(key string) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete([]byte("m/" + key))
	})
}

// Size implements Store.
func (b *Bolt) Size() int64 {
	var n int64
	_ = b.db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n
}

// Close implements Store.
func (b *Bolt) Close() error { return b.db.Close() }
