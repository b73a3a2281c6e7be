// Package store is AMP's durable state: the transaction log and the current
// objects, behind one small interface in etcd's words (index = revision,
// compacted = history before an index is gone). The embedded default is
// bbolt; internal/store/etcd.go is the etcd backend (docs/etcd.md).
//
// The store deals only in bytes. Encoding, validation and ordering are the
// config engine's job; the store's job is that a Commit is atomic and durable
// (fsynced) before it returns, and that reads after a crash see exactly the
// commits that returned. It imports nothing of AMP's.
package store

import "errors"

// ErrCompacted is returned when history before the compaction index is asked
// for.
var ErrCompacted = errors.New("store: requested index has been compacted")

// Commit is one transaction to persist: its log record. Index must be
// LastIndex()+1 for the first commit of a batch and consecutive after that.
//
// The log is the store's write-ahead log: a commit writes only its record
// (which carries the objects' after-images), so each fsync touches as few
// pages as possible. The current objects are written separately, in bulk,
// by Checkpoint; after a restart the engine replays the records after the
// checkpoint index.
type Commit struct {
	Index uint64
	Log   []byte
}

// KV is one object to write.
type KV struct {
	Key   string
	Value []byte
}

// Store is the engine's view of durable state. All methods are safe for
// concurrent use; Commit calls are serialised by the engine.
type Store interface {
	// Objects calls fn for every object of the last checkpoint, in key order.
	Objects(fn func(key string, value []byte) error) error
	// WriteObjects writes part of a checkpoint: objects as of some index,
	// in key order. It does not move the checkpoint index, so a checkpoint
	// cut short by a crash is harmless: the log after the old index is
	// replayed over it.
	WriteObjects(puts []KV, deletes []string) error
	// SetCheckpoint records that the objects reflect every commit up to
	// index; call it after the last WriteObjects of a checkpoint.
	SetCheckpoint(index uint64) error
	// CheckpointIndex is the index the objects of the last checkpoint
	// reflect; log records after it must be replayed on top of them.
	CheckpointIndex() uint64
	// Commit writes a batch of transactions atomically with one sync.
	Commit(batch []Commit) error
	// Log calls fn for log records with from <= index <= to, ascending, or
	// descending when reverse is set. It returns ErrCompacted if from is
	// below the oldest retained index.
	Log(from, to uint64, reverse bool, fn func(index uint64, rec []byte) error) error
	// LastIndex is the index of the newest commit (0 for an empty store).
	LastIndex() uint64
	// FirstIndex is the oldest retained log index (LastIndex()+1 if none).
	FirstIndex() uint64
	// Compact drops log records with index < before, never one after the
	// checkpoint index.
	Compact(before uint64) error
	// SetBase starts the log of an empty store (no commit yet, nothing
	// compacted) at first: afterwards FirstIndex() is first and LastIndex()
	// first-1, so the next Commit carries index first. Restoring a backup
	// uses it to keep the history's original indexes. It fails on a store
	// that has a log.
	SetBase(first uint64) error
	Meta
	// Size is the store's size on disk in bytes.
	Size() int64
	Close() error
}

// Meta holds small durable settings (tokens, identity) beside the
// objects.
type Meta interface {
	GetMeta(key string) ([]byte, error)
	PutMeta(key string, value []byte) error
	DeleteMeta(key string) error
	// Metas calls fn for every metadata key starting with prefix.
	Metas(prefix string, fn func(key string, value []byte) error) error
	// TakeMeta deletes a metadata key and returns the value it had (nil:
	// it had none), atomically: of callers taking one key at once, on
	// any replica, one gets the value (a single-use credential).
	TakeMeta(key string) ([]byte, error)
}

// MetaBatch is implemented by a store that writes many metadata keys in
// as few durable writes as it can (bbolt: one transaction, one sync;
// etcd: a transaction per etcd's bound of operations), for callers that
// store many small keys at once (the probe results' periodic round).
type MetaBatch interface {
	// PutMetas puts every key of kvs; on an error some may be written.
	PutMetas(kvs map[string][]byte) error
}

// Shared is implemented by a store that several AMP processes commit to
// (etcd, one AMP replica each). Commit then fails with ErrConflict when
// another process took the index; the caller reads what it missed with Log
// (LastIndex is the newest index this process knows of) and retries.
type Shared interface {
	Store
	// Changed is signalled when LastIndex moved because another process
	// committed. Signals coalesce: after one, read up to LastIndex.
	Changed() <-chan struct{}
	// PutState writes one object's operational state, shared by the
	// processes but not versioned (nil deletes it), and returns the
	// store revision of the write.
	PutState(key string, value []byte) (int64, error)
	// DeleteStates deletes the state of many objects, in as few requests
	// as the backend allows, and returns the revision of the last.
	DeleteStates(keys []string) (int64, error)
	// StateChanges delivers every state entry (a StateChange with Reset
	// first, then one per key) and, after them, every change, by anyone,
	// in revision order. After a break in the feed it starts over with
	// Reset.
	StateChanges() <-chan StateChange
	// States calls fn for every state entry, in key order (the store
	// upgrade moves them when object keys change form).
	States(fn func(key string, value []byte) error) error
}

// StateChange is one entry of Shared.StateChanges.
type StateChange struct {
	// Reset says: forget every state entry; the current ones follow.
	Reset    bool
	Key      string
	Value    []byte // nil: deleted
	Revision int64
}
