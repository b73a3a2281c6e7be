package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// WALRepair says what RepairWAL found and did (or would do).
type WALRepair struct {
	Damage *CorruptWALError // nil: the log is intact, nothing to do
	// InStore is the newest index already in the bbolt log: records up to
	// it are safe whatever the WAL holds.
	InStore uint64
	// Kept is how many WAL records after InStore survive (those before the
	// first missing index).
	Kept int
	// LostFrom..LostTo are the indexes whose transactions are discarded
	// (none if LostFrom > LostTo). Each becomes an empty tombstone record,
	// so those indexes, which clients may hold, are never given out again.
	LostFrom, LostTo uint64
	// MovedTo is where the damaged segments were moved (when applied).
	MovedTo string
}

// maxTombstones bounds the tombstones one repair writes: a gap wider than
// this is not a damaged record but a damaged log, for a backup to replace.
const maxTombstones = 1_000_000

// RepairWAL repairs a write-ahead log that openWAL refuses as corrupt: it
// keeps the records that follow the bbolt log without a gap, discards the
// rest, and writes, for every discarded index up to the newest one found,
// the record tombstone returns for it (an empty transaction saying so), so
// that numbering resumes after every index a client may have been given.
// The damaged segments are moved to wal.damaged-<time> in dir, for
// inspection. Without apply it only reports what it would do. It holds the
// store's lock: it fails while amp serve runs on dir.
func RepairWAL(dir string, apply bool, tombstone func(index uint64) []byte) (*WALRepair, error) {
	if _, err := os.Stat(filepath.Join(dir, "amp.db")); err != nil {
		return nil, fmt.Errorf("%s is not an amp serve data dir: %w", dir, err)
	}
	db, err := bolt.Open(filepath.Join(dir, "amp.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (is amp serve running on this data dir?)", filepath.Join(dir, "amp.db"), err)
	}
	defer db.Close()
	rep := &WALRepair{}
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketLog); b != nil {
			if k, _ := b.Cursor().Last(); k != nil {
				rep.InStore = getU64(k)
			}
		}
		if m := tx.Bucket(bucketMeta); m != nil && rep.InStore == 0 {
			rep.InStore = getU64(m.Get(keyLast))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	wdir, tmp := filepath.Join(dir, "wal"), filepath.Join(dir, "wal.repair")
	if _, err := os.Stat(tmp); err == nil {
		// An earlier repair was interrupted. If it got as far as moving the
		// damaged log away, its new log is complete: put it in place.
		if _, err := os.Stat(wdir); errors.Is(err, os.ErrNotExist) {
			if !apply {
				return nil, fmt.Errorf("%s holds the log an interrupted repair wrote: run with --i-understand-data-loss to put it in place", tmp)
			}
			return rep, errors.Join(os.Rename(tmp, wdir), syncDir(dir))
		}
		if !apply {
			return nil, fmt.Errorf("%s is left from an interrupted repair: run with --i-understand-data-loss to redo it", tmp)
		}
		if err := os.RemoveAll(tmp); err != nil {
			return nil, err
		}
	}
	sc, err := scanWAL(dir, false)
	if err != nil {
		return nil, err
	}
	for _, s := range sc.segs {
		s.f.Close()
	}
	rep.Damage = sc.damage
	if sc.damage == nil {
		return rep, nil
	}
	var keep []Commit
	for _, r := range sc.recs {
		if r.index <= rep.InStore {
			continue
		}
		if r.index != rep.InStore+uint64(len(keep))+1 {
			break
		}
		keep = append(keep, Commit{Index: r.index, Log: r.payload})
	}
	rep.Kept = len(keep)
	rep.LostFrom, rep.LostTo = rep.InStore+uint64(len(keep))+1, sc.damage.Highest
	if rep.LostTo >= rep.LostFrom && rep.LostTo-rep.LostFrom >= maxTombstones {
		return nil, fmt.Errorf("indexes %d to %d would be discarded: that is no damaged record but a damaged log; restore a backup instead", rep.LostFrom, rep.LostTo)
	}
	if !apply {
		return rep, nil
	}
	// Write the new log beside the old one, then swap them: a repair cut
	// short leaves either the old log or the complete new one in place.
	w := &wal{dir: tmp}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	write := func(batch []Commit) error {
		if len(batch) == 0 {
			return nil
		}
		if err := w.append(batch); err != nil {
			w.close()
			return fmt.Errorf("write repaired log: %w", err)
		}
		return nil
	}
	if err := write(keep); err != nil {
		return nil, err
	}
	var batch []Commit
	for i := rep.LostFrom; i <= rep.LostTo; i++ {
		batch = append(batch, Commit{Index: i, Log: tombstone(i)})
		if len(batch) == 10_000 || i == rep.LostTo {
			if err := write(batch); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	if err := w.close(); err != nil {
		return nil, err
	}
	rep.MovedTo = filepath.Join(dir, "wal.damaged-"+time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(wdir, rep.MovedTo); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, wdir); err != nil {
		return nil, err
	}
	return rep, syncDir(dir)
}
