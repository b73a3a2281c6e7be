package config

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/schema"
)

// BackupCheck reports whether the engine, with the models of sch, can load
// the objects and log records of one backup: every key names a node of the
// models and every value decodes as it does at start-up. amp restore runs
// it over the whole backup before writing anything, so a backup the server
// could not start on is refused with the store untouched.
//
// A log record's before and after images are mostly copies of objects
// checked already: the objects come first in a backup, and a record's after
// image is the object as that transaction left it, the before image the
// after image of an earlier record. An image byte for byte equal to one
// already checked under the same key decodes the same way, so it is not
// decoded again: the check remembers a hash of every (key, value) it
// passed. Without that a restore decoded every object twice, the big
// transactions of a bulk import on one core.
//
// Item is safe for concurrent use (backup.VerifyItems runs it on every
// core); an image whose twin is still being checked elsewhere is decoded
// again, which costs time, not correctness.
type BackupCheck struct {
	sch  *schema.Schema
	keys *schema.KeyResolver
	// seed is random per check, so nobody who writes a backup can choose
	// values whose hashes collide with those of checked ones.
	seed maphash.Seed

	mu   sync.Mutex
	seen map[uint64]struct{} // hashes of the (key, value) pairs that passed
}

// NewBackupCheck returns a check for one backup.
func NewBackupCheck(sch *schema.Schema) *BackupCheck {
	return &BackupCheck{sch: sch, keys: sch.NewKeyResolver(), seed: maphash.MakeSeed(), seen: map[uint64]struct{}{}}
}

// Item checks one item of the backup.
func (c *BackupCheck) Item(it backup.Item) error {
	switch it.Kind {
	case backup.KindObject:
		return c.object(it.Key, it.Value)
	case backup.KindRecord:
		index, changes, err := recordChanges(it.Value)
		if err != nil {
			return fmt.Errorf("log record %d: %w", it.Index, err)
		}
		if index != 0 && index != it.Index {
			return fmt.Errorf("log record %d holds transaction %d", it.Index, index)
		}
		for _, ch := range changes {
			if ch.before == nil && ch.after == nil {
				// decodeRecord resolves the key of every change.
				if err := c.key(ch.key); err != nil {
					return fmt.Errorf("log record %d: %w", it.Index, err)
				}
				continue
			}
			for _, img := range [][]byte{ch.before, ch.after} {
				if img == nil || c.passed(pairSum(c.seed, ch.key, img)) {
					continue
				}
				if err := c.object(ch.key, img); err != nil {
					return fmt.Errorf("log record %d: %w", it.Index, err)
				}
			}
		}
	}
	return nil
}

// object checks that the object stored under key with value can be loaded
// and remembers that it can.
func (c *BackupCheck) object(key string, value []byte) error {
	if err := c.key(key); err != nil {
		return err
	}
	if err := checkObject(key, value); err != nil {
		return err
	}
	sum := pairSum(c.seed, key, value)
	c.mu.Lock()
	c.seen[sum] = struct{}{}
	c.mu.Unlock()
	return nil
}

// key checks that key names an object of the models (or an enterprise).
func (c *BackupCheck) key(key string) error {
	if reservedKey(key) {
		return nil
	}
	// A backup of the previous release holds keys without the set's
	// version: amp serve upgrades them on first start (upgrade.go).
	current, _, err := upgradeKey(c.sch, key)
	if err == nil {
		_, err = c.keys.Node(current)
	}
	if err != nil {
		return fmt.Errorf("object %s does not fit the models: %w", key, err)
	}
	return nil
}

// passed reports whether a (key, value) pair of this hash passed.
func (c *BackupCheck) passed(sum uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.seen[sum]
	return ok
}

// pairSum hashes a key and a value, length-prefixed so that no two pairs
// run together into the same bytes.
func pairSum(seed maphash.Seed, key string, value []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	h.WriteString(key)
	h.Write(value)
	return h.Sum64()
}
