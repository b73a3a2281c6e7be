package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// boltFile is the bbolt store's file in its directory (its write-ahead log
// is the wal directory beside it).
const boltFile = "amp.db"

// Bolt is the embedded store: one bbolt file in the data directory.
type Bolt struct {
	db         *bolt.DB
	last       atomic.Uint64
	first      atomic.Uint64
	checkpoint atomic.Uint64

	// The write-ahead log and the records synced in it but not yet in the
	// bbolt log bucket (ascending, all above boltLast).
	walMu    sync.Mutex
	wal      *wal
	tailMu   sync.Mutex
	tail     []Commit
	flushMu  sync.Mutex // one flush at a time, so the tail is trimmed once
	boltLast atomic.Uint64
	kick     chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
}

// OpenBolt opens (creating if needed) the store in dir. bbolt syncs every
// write transaction, so a returned Commit survives kill -9 and power loss.
func OpenBolt(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, boltFile)
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
	b.boltLast.Store(b.last.Load())
	if err := b.recoverWAL(dir); err != nil {
		db.Close()
		return nil, err
	}
	b.kick, b.stop, b.stopped = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go b.flusher()
	return b, nil
}

// recoverWAL moves records the WAL holds beyond the bbolt log into it.
func (b *Bolt) recoverWAL(dir string) error {
	w, recs, err := openWAL(dir)
	if err != nil {
		return err
	}
	b.wal = w
	var pending []Commit
	for _, r := range recs {
		if r.index <= b.boltLast.Load() {
			continue
		}
		if len(pending) == 0 && r.index != b.boltLast.Load()+1 {
			return fmt.Errorf("wal starts at index %d but the log ends at %d: records are missing", r.index, b.boltLast.Load())
		}
		pending = append(pending, Commit{Index: r.index, Log: r.payload})
	}
	if len(pending) > 0 {
		if err := b.writeLog(pending); err != nil {
			return fmt.Errorf("replay wal: %w", err)
		}
	}
	b.last.Store(b.boltLast.Load())
	b.walMu.Lock()
	w.release(b.boltLast.Load())
	b.walMu.Unlock()
	return nil
}

// writeLog writes records into the bbolt log bucket (one synced bbolt
// transaction) and advances boltLast.
func (b *Bolt) writeLog(recs []Commit) error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketLog)
		log.FillPercent = 0.95 // appends: keep pages full
		for _, c := range recs {
			if err := log.Put(u64(c.Index), c.Log); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.boltLast.Store(recs[len(recs)-1].Index)
	return nil
}

// flusher moves WAL records into bbolt in batches, off the commit path.
func (b *Bolt) flusher() {
	defer close(b.stopped)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-b.kick:
		case <-tick.C:
		case <-b.stop:
			b.flush()
			return
		}
		b.flush()
	}
}

func (b *Bolt) flush() {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.tailMu.Lock()
	batch := append([]Commit(nil), b.tail...)
	b.tailMu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := b.writeLog(batch); err != nil {
		// The records stay in the WAL and the tail; the next flush retries.
		return
	}
	b.tailMu.Lock()
	b.tail = b.tail[len(batch):]
	b.tailMu.Unlock()
	b.walMu.Lock()
	b.wal.release(b.boltLast.Load())
	b.walMu.Unlock()
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

// Commit implements Store: the records are synced to the write-ahead log
// before it returns; they reach the bbolt log bucket shortly after.
func (b *Bolt) Commit(batch []Commit) error {
	if len(batch) == 0 {
		return nil
	}
	last := b.last.Load()
	for _, c := range batch {
		if c.Index != last+1 {
			return fmt.Errorf("commit: index %d does not follow %d", c.Index, last)
		}
		last = c.Index
	}
	b.walMu.Lock()
	err := b.wal.append(batch)
	b.walMu.Unlock()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	b.tailMu.Lock()
	b.tail = append(b.tail, batch...)
	big := len(b.tail) >= 1000
	b.tailMu.Unlock()
	b.last.Store(last)
	if big {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
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

// Log implements Store. Records still in the WAL tail are served from
// memory; the rest from the bbolt log bucket.
func (b *Bolt) Log(from, to uint64, reverse bool, fn func(uint64, []byte) error) error {
	if from < b.first.Load() {
		return ErrCompacted
	}
	b.tailMu.Lock()
	tail := append([]Commit(nil), b.tail...)
	b.tailMu.Unlock()
	boltTo := to
	if len(tail) > 0 && tail[0].Index-1 < boltTo {
		boltTo = tail[0].Index - 1
	}
	fromTail := func() error {
		if reverse {
			for i := len(tail) - 1; i >= 0; i-- {
				if c := tail[i]; c.Index >= from && c.Index <= to {
					if err := fn(c.Index, c.Log); err != nil {
						return err
					}
				}
			}
			return nil
		}
		for _, c := range tail {
			if c.Index >= from && c.Index <= to {
				if err := fn(c.Index, c.Log); err != nil {
					return err
				}
			}
		}
		return nil
	}
	fromBolt := func() error {
		if from > boltTo {
			return nil
		}
		return b.db.View(func(tx *bolt.Tx) error {
			if from < getU64(tx.Bucket(bucketMeta).Get(keyFirst)) {
				return ErrCompacted // compacted since the check above
			}
			// The records are consecutive: a key that skips one means the
			// file lost a record, which is reported, never skipped.
			c := tx.Bucket(bucketLog).Cursor()
			if reverse {
				k, v := c.Seek(u64(boltTo))
				if k == nil || getU64(k) > boltTo {
					k, v = c.Prev()
				}
				for want := uint64(0); k != nil && getU64(k) >= from; k, v = c.Prev() {
					if want != 0 && getU64(k) != want {
						return missingRecord(want, getU64(k))
					}
					if err := fn(getU64(k), v); err != nil {
						return err
					}
					want = getU64(k) - 1
				}
				return nil
			}
			want := from
			for k, v := c.Seek(u64(from)); k != nil && getU64(k) <= boltTo; k, v = c.Next() {
				if getU64(k) != want {
					return missingRecord(want, getU64(k))
				}
				if err := fn(getU64(k), v); err != nil {
					return err
				}
				want++
			}
			return nil
		})
	}
	if reverse {
		if err := fromTail(); err != nil {
			return err
		}
		return fromBolt()
	}
	if err := fromBolt(); err != nil {
		return err
	}
	return fromTail()
}

func missingRecord(want, found uint64) error {
	return fmt.Errorf("store: log record %d is missing from amp.db (the next one there is %d): the file is damaged; restore a backup", want, found)
}

// LastIndex implements Store.
func (b *Bolt) LastIndex() uint64 { return b.last.Load() }

// FirstIndex implements Store.
func (b *Bolt) FirstIndex() uint64 { return b.first.Load() }

// Compact implements Store.
func (b *Bolt) Compact(before uint64) error {
	b.flush()
	if cp := b.checkpoint.Load() + 1; before > cp {
		before = cp
	}
	if bl := b.boltLast.Load() + 1; before > bl {
		before = bl // records still in the WAL tail are not compacted
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

// PutMetas implements MetaBatch: one transaction.
func (b *Bolt) PutMetas(kvs map[string][]byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketMeta)
		for k, v := range kvs {
			if err := bk.Put([]byte("m/"+k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteMeta implements Store.
func (b *Bolt) DeleteMeta(key string) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete([]byte("m/" + key))
	})
}

// TakeMeta implements Store.
func (b *Bolt) TakeMeta(key string) ([]byte, error) {
	var out []byte
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketMeta)
		v := bk.Get([]byte("m/" + key))
		if v == nil {
			return nil
		}
		out = append([]byte(nil), v...)
		return bk.Delete([]byte("m/" + key))
	})
	return out, err
}

// Metas implements Store.
func (b *Bolt) Metas(prefix string, fn func(string, []byte) error) error {
	return b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMeta).Cursor()
		p := []byte("m/" + prefix)
		for k, v := c.Seek(p); k != nil && strings.HasPrefix(string(k), string(p)); k, v = c.Next() {
			if err := fn(string(k[2:]), v); err != nil {
				return err
			}
		}
		return nil
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

// Close implements Store: the WAL tail is flushed into bbolt first.
func (b *Bolt) Close() error {
	close(b.stop)
	<-b.stopped
	b.tailMu.Lock()
	unflushed := len(b.tail)
	b.tailMu.Unlock()
	b.walMu.Lock()
	err := b.wal.close()
	b.walMu.Unlock()
	err = errors.Join(err, b.db.Close())
	if unflushed > 0 {
		// Nothing is lost (the next open replays the WAL), but the file
		// alone is not the whole store: InstallBolt relies on this error.
		err = errors.Join(err, fmt.Errorf("close: %d committed records could not be moved from the write-ahead log into %s", unflushed, boltFile))
	}
	return err
}
