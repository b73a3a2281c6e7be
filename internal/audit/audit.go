// Package audit keeps AMP's audit trail: one append-only record for every
// write, every denied attempt and every login or token event — who (principal
// and groups), from where (source address, interface), when, what (action,
// paths touched, transaction index) and the outcome. Records are kept in
// their own bbolt file (not the configuration store), survive restarts, are
// queried by principal, enterprise, path prefix and time, and are emitted as
// structured log events for log shipping. A scrubber runs on every record
// before it is stored or logged, so no secret (API tokens, JWTs, passwords,
// keys) ever reaches the trail.
//
// Nothing a caller sends makes it grow without bound: records are cut to
// size, wait in a bounded queue, are kept within a retained age and size,
// and failed authentications are counted per source and window
// (AuthFailures) rather than recorded one by one. Queries never wait for
// the writer. When the disk refuses records, Err says so and interfaces
// refuse writes. It imports internal/schema (the one path grammar, to
// attribute paths to model sets, scopes and tenants) and nothing above it.
package audit

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/amp-edge/amp/internal/schema"
)

// Interfaces a request came through.
const (
	REST = "rest"
	GNMI = "gnmi"
	CLI  = "cli"
	// Service is a write amp serve makes itself (a workflow's step, a key
	// renewal), recorded under the service's principal.
	Service = "service"
)

// Outcomes.
const (
	Allowed = "allowed"
	Denied  = "denied"
	Error   = "error"
)

// Record is one audit event.
type Record struct {
	// Seq is the record's position in the log (assigned by Append, from 1).
	Seq uint64 `json:"seq"`
	// Time is when the record was appended (set by Append).
	Time time.Time `json:"time"`
	// Principal and Groups identify the caller; Via says how they
	// authenticated (token, oidc, mtls).
	Principal string   `json:"principal"`
	Groups    []string `json:"groups,omitempty"`
	Via       string   `json:"via,omitempty"`
	// Source is the caller's network address.
	Source string `json:"source,omitempty"`
	// Interface is rest, gnmi, cli or service.
	Interface string `json:"interface"`
	// Action is what was attempted: read, write, admin, or an event such as
	// login, token-create, token-revoke, rollback.
	Action string `json:"action"`
	// Method is the protocol operation (e.g. "PATCH", "Set"), optional.
	Method string `json:"method,omitempty"`
	// Paths are the REST paths touched (or attempted).
	Paths []string `json:"paths,omitempty"`
	// Sets are the model sets the paths touch, with their scope; derived
	// from Paths.
	Sets []SetRef `json:"sets,omitempty"`
	// Enterprises are the tenants (enterprises) the paths belong to,
	// derived from Paths (for filtering and rights): none for a global
	// set's objects, which belong to the operator.
	Enterprises []string `json:"enterprises,omitempty"`
	// Transaction is the configuration transaction index a write made (0: none).
	Transaction uint64 `json:"transaction,omitempty"`
	// Outcome is allowed, denied or error; Reason says why.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Details holds extra fields (scrubbed like everything else).
	Details map[string]any `json:"details,omitempty"`
}

// SetRef names a model set version and its scope (tenant or global).
type SetRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Scope   string `json:"scope"`
}

// Defaults and bounds of the trail (flags of `amp serve` change the first
// ones; docs/operations.md).
const (
	// DefaultQueueMax is how many records may wait for the disk. Beyond
	// it new records are dropped and counted (amp_audit_dropped_total):
	// memory stays bounded when the disk is slow or refuses writes, and
	// writes are refused meanwhile (Err), so no commit goes unrecorded.
	DefaultQueueMax = 10000
	// DefaultRetainAge and DefaultRetainBytes bound what the trail keeps:
	// the oldest records go first.
	DefaultRetainAge   = 365 * 24 * time.Hour
	DefaultRetainBytes = 256 << 20

	// A batch is at most batchMax records in one synced transaction,
	// gathered for at most batchEvery (group commit).
	batchMax   = 256
	batchEvery = 50 * time.Millisecond
	// retryEvery is how often a failed write is retried and age retention
	// is checked.
	retryEvery = time.Second
	// Longest strings kept in a record, and most paths: a caller chooses
	// them, the trail must not grow with them.
	maxPathLen   = 512
	maxReasonLen = 1024
	maxNameLen   = 256
	maxPaths     = 1000
	maxGroups    = 64
)

// ErrQueueFull is returned by Append when the queue is full.
var ErrQueueFull = errors.New("audit: the queue of records waiting for the disk is full")

// Options configure Open.
type Options struct {
	// Logger receives every record as an "audit" event (nil: slog.Default()).
	Logger *slog.Logger
	// Registerer gets the amp_audit_* metrics (nil: not registered).
	Registerer prometheus.Registerer
	// RetainAge drops records older than this (0: DefaultRetainAge;
	// negative: no age limit).
	RetainAge time.Duration
	// RetainBytes bounds the size of the stored records, oldest dropped
	// first (0: DefaultRetainBytes; negative: no size limit).
	RetainBytes int64
	// QueueMax bounds the records waiting for the disk (0: DefaultQueueMax).
	QueueMax int
	// AuthFailLimit and AuthFailWindow configure AuthFailures.
	AuthFailLimit  int
	AuthFailWindow time.Duration
	// Now is the clock (nil: time.Now); tests step it back.
	Now func() time.Time
	// Schema classifies the paths of records (schema.ParseRoute) into
	// model sets, scopes and tenants (nil: records keep the Sets and
	// Enterprises they are given).
	Schema *schema.Schema
}

// Log is the audit trail. Records are numbered and timed when they are
// enqueued, wait in a bounded queue, and are written by one writer in
// batches; queries read a bbolt read transaction plus a copy of the queue,
// so they never wait for the writer.
type Log struct {
	db   *bolt.DB
	log  *slog.Logger
	opts Options
	m    *metrics
	auth *AuthFailures

	mu      sync.Mutex
	written *sync.Cond // broadcast after each batch and each failure
	next    uint64     // the next record's sequence number
	queue   []queued   // numbered records waiting for the disk, oldest first
	onDisk  uint64     // the highest sequence number written
	failing error      // why the last write failed (nil: the disk takes records)

	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

type queued struct {
	ctx context.Context
	r   Record
}

// Buckets: records by sequence number; indexes of records by transaction
// and by enterprise; counters.
var (
	bucket       = []byte("records")
	byTxBucket   = []byte("by-transaction")
	byEntBucket  = []byte("by-enterprise")
	metaBucket   = []byte("meta")
	keyBytes     = []byte("bytes")             // total size of the stored records
	keyRecovered = []byte("recovered-through") // see RecoveredThrough
	keyIndexed   = []byte("indexed")           // the indexes are built
)

// FileName is the audit file inside the directory given to Open.
const FileName = "audit.db"

// Open opens (creating if needed) the audit log in dir/audit.db.
func Open(dir string, opts ...Options) (*Log, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueueMax <= 0 {
		o.QueueMax = DefaultQueueMax
	}
	if o.RetainAge == 0 {
		o.RetainAge = DefaultRetainAge
	}
	if o.RetainBytes == 0 {
		o.RetainBytes = DefaultRetainBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	l := &Log{db: db, log: o.Logger, opts: o, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	l.written = sync.NewCond(&l.mu)
	if err := db.Update(l.prepareFile); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	if l.m, err = newMetrics(o.Registerer); err != nil {
		db.Close()
		return nil, err
	}
	l.auth = newAuthFailures(l, o.AuthFailLimit, o.AuthFailWindow)
	go l.writer()
	return l, nil
}

// prepareFile creates the buckets, builds the indexes of a trail written
// before they existed, and finds the next sequence number.
func (l *Log) prepareFile(tx *bolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists(bucket)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{byTxBucket, byEntBucket, metaBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	l.next = b.Sequence() + 1 // trails before 2026-12 numbered with the bucket sequence
	if k, _ := b.Cursor().Last(); k != nil && binary.BigEndian.Uint64(k) >= l.next {
		l.next = binary.BigEndian.Uint64(k) + 1
	}
	l.onDisk = l.next - 1
	meta := tx.Bucket(metaBucket)
	if meta.Get(keyIndexed) != nil {
		return nil
	}
	var size uint64
	err = b.ForEach(func(k, v []byte) error {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("record %d: %w", binary.BigEndian.Uint64(k), err)
		}
		size += uint64(len(v))
		return index(tx, &r)
	})
	if err != nil {
		return err
	}
	if err := putUint(meta, keyBytes, size); err != nil {
		return err
	}
	return meta.Put(keyIndexed, []byte{1})
}

// Close writes what is queued (the authentication failures counted so far
// included) and closes the file.
func (l *Log) Close() error {
	l.auth.close()
	close(l.stop)
	<-l.stopped
	return l.db.Close()
}

// AuthFailures is where failed authentications are counted (one record
// per source and window instead of one per request).
func (l *Log) AuthFailures() *AuthFailures { return l.auth }

// Err reports why the trail cannot be written at the moment (nil when it
// can). Interfaces refuse writes meanwhile: a commit must not go
// unrecorded.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failing
}

// Enqueue records r without waiting for the disk: a writer stores queued
// records in batches, one synced bbolt transaction per batch, so a request
// does not pay an fsync of its own for its audit record. What a crash can
// lose is at most the queue: writes are re-recorded at start-up from the
// configuration's transaction log (Audited, RecoveredThrough), which holds
// them durably. A full queue drops the record and counts it.
func (l *Log) Enqueue(ctx context.Context, r Record) {
	if _, err := l.enqueue(ctx, r); err != nil && !errors.Is(err, ErrQueueFull) {
		l.log.ErrorContext(ctx, "audit: record refused", "error", err)
	}
}

func (l *Log) enqueue(ctx context.Context, r Record) (Record, error) {
	switch r.Outcome {
	case Allowed, Denied, Error:
	default:
		return Record{}, fmt.Errorf("audit: outcome %q is not allowed, denied or error", r.Outcome)
	}
	// Bounded here (cheap, and the queue's memory depends on it);
	// scrubbed by the writer and by queries, off the request path.
	r = bound(r)
	l.classify(&r)
	l.mu.Lock()
	if len(l.queue) >= l.opts.QueueMax {
		l.mu.Unlock()
		l.m.dropped.Inc()
		return Record{}, ErrQueueFull
	}
	r.Seq, r.Time = l.next, l.opts.Now().UTC()
	l.next++
	l.queue = append(l.queue, queued{ctx: context.WithoutCancel(ctx), r: r})
	l.m.queue.Set(float64(len(l.queue)))
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return r, nil
}

// Append enqueues r and waits until it is on disk; it returns the stored
// record, or why the trail cannot take it.
func (l *Log) Append(ctx context.Context, r Record) (Record, error) {
	stored, err := l.enqueue(ctx, r)
	if err != nil {
		return Record{}, err
	}
	return Scrub(stored), l.waitFor(stored.Seq)
}

// Sync waits until every record enqueued before it is on disk, or returns
// why the trail cannot take them (they stay queued).
func (l *Log) Sync() error {
	l.mu.Lock()
	seq := l.next - 1
	l.mu.Unlock()
	return l.waitFor(seq)
}

func (l *Log) waitFor(seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.onDisk < seq {
		if l.failing != nil {
			return l.failing
		}
		l.written.Wait()
	}
	return nil
}

// writer stores the queue: it gathers records for batchEvery (or until
// batchMax wait), so a stream of requests shares one fsync per batch
// instead of competing with the configuration log's fsync on every write.
// It also retries after a failed write and applies retention.
func (l *Log) writer() {
	defer close(l.stopped)
	tick := time.NewTicker(retryEvery)
	defer tick.Stop()
	for {
		select {
		case <-l.kick:
			l.gather()
		case <-tick.C:
		case <-l.stop:
			l.writeQueue()
			return
		}
		l.writeQueue()
		l.prune()
	}
}

// gather waits up to batchEvery for a full batch.
func (l *Log) gather() {
	timer := time.NewTimer(batchEvery)
	defer timer.Stop()
	for {
		l.mu.Lock()
		n, failing := len(l.queue), l.failing != nil
		l.mu.Unlock()
		if n >= batchMax || failing {
			return
		}
		select {
		case <-timer.C:
			return
		case <-l.kick:
		case <-l.stop:
			return
		}
	}
}

// writeQueue writes the queue in batches until it is empty or a write
// fails (the records then stay queued, and are retried).
func (l *Log) writeQueue() {
	for {
		l.mu.Lock()
		n := min(len(l.queue), batchMax)
		batch := slices.Clone(l.queue[:n])
		l.mu.Unlock()
		if n == 0 {
			return
		}
		recs := make([]Record, n)
		for i, q := range batch {
			recs[i] = Scrub(q.r)
		}
		err := l.store(recs)
		if err == nil {
			// Counted and logged before the writers waiting for these
			// records are woken: once Append returns, its record is in the
			// metrics and the log too.
			for i, r := range recs {
				l.m.records.WithLabelValues(r.Outcome).Inc()
				l.emit(batch[i].ctx, r)
			}
		}
		l.mu.Lock()
		was := l.failing
		if err != nil {
			l.failing = fmt.Errorf("audit trail cannot be written: %w", err)
		} else {
			l.failing = nil
			l.queue = slices.Delete(l.queue, 0, n)
			l.onDisk = recs[n-1].Seq
		}
		l.m.queue.Set(float64(len(l.queue)))
		l.written.Broadcast()
		l.mu.Unlock()
		if err != nil {
			l.m.writeErrors.Inc()
			l.m.writable.Set(0)
			if was == nil {
				l.log.Error("audit: cannot write the trail; writes are refused and records kept queued until it can", "queued", len(batch), "error", err)
			}
			return
		}
		l.m.writable.Set(1)
		if was != nil {
			l.log.Warn("audit: the trail is writable again", "error_was", was.Error())
		}
	}
}

// store writes numbered records and their index entries in one transaction.
func (l *Log) store(recs []Record) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		b, meta := tx.Bucket(bucket), tx.Bucket(metaBucket)
		// Keys only grow: full pages, not the default half-full splits,
		// keep the file near the size of the records.
		b.FillPercent = 0.9
		tx.Bucket(byTxBucket).FillPercent = 0.9
		size := getUint(meta, keyBytes)
		for i := range recs {
			v, err := json.Marshal(recs[i])
			if err != nil {
				return err
			}
			if err := b.Put(key(recs[i].Seq), v); err != nil {
				return err
			}
			if err := index(tx, &recs[i]); err != nil {
				return err
			}
			size += uint64(len(v))
		}
		// Keep the bucket's sequence with the records: an older amp
		// numbering by it (a downgrade) then never overwrites one.
		if err := b.SetSequence(max(b.Sequence(), recs[len(recs)-1].Seq)); err != nil {
			return err
		}
		l.m.bytes.Set(float64(size))
		return putUint(meta, keyBytes, size)
	})
}

// index adds r to the by-transaction and by-enterprise indexes.
func index(tx *bolt.Tx, r *Record) error {
	if r.Transaction != 0 {
		if err := tx.Bucket(byTxBucket).Put(key(r.Transaction), key(r.Seq)); err != nil {
			return err
		}
	}
	for _, e := range r.Enterprises {
		if err := tx.Bucket(byEntBucket).Put(entKey(e, r.Seq), nil); err != nil {
			return err
		}
	}
	return nil
}

// Audited reports whether a record names configuration transaction tx
// (on disk or queued).
func (l *Log) Audited(tx uint64) (bool, error) {
	l.mu.Lock()
	for _, q := range l.queue {
		if q.r.Transaction == tx {
			l.mu.Unlock()
			return true, nil
		}
	}
	l.mu.Unlock()
	found := false
	err := l.db.View(func(btx *bolt.Tx) error {
		found = btx.Bucket(byTxBucket).Get(key(tx)) != nil
		return nil
	})
	return found, err
}

// RecoveredThrough returns the transaction index up to which every write
// has been checked for its record (by start-up recovery) or whose records
// retention has dropped: recovery starts after it.
func (l *Log) RecoveredThrough() (uint64, error) {
	var n uint64
	err := l.db.View(func(tx *bolt.Tx) error {
		n = getUint(tx.Bucket(metaBucket), keyRecovered)
		return nil
	})
	return n, err
}

// SetRecoveredThrough records that every write up to index tx has its
// record (it never moves back).
func (l *Log) SetRecoveredThrough(tx uint64) error {
	return l.db.Update(func(btx *bolt.Tx) error { return raiseUint(btx.Bucket(metaBucket), keyRecovered, tx) })
}

// Collector returns the amp_audit_records_total counter (for registries
// not given to Open).
func (l *Log) Collector() prometheus.Collector { return l.m.records }

func (l *Log) emit(ctx context.Context, r Record) {
	level := slog.LevelInfo
	if r.Outcome != Allowed {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.Uint64("seq", r.Seq), slog.Time("time", r.Time),
		slog.String("principal", r.Principal), slog.Any("groups", r.Groups), slog.String("via", r.Via),
		slog.String("source", r.Source), slog.String("interface", r.Interface),
		slog.String("action", r.Action), slog.String("method", r.Method), slog.Any("paths", r.Paths),
		slog.Any("sets", r.Sets), slog.Any("enterprises", r.Enterprises), slog.Uint64("transaction", r.Transaction),
		slog.String("outcome", r.Outcome), slog.String("reason", r.Reason),
	}
	if len(r.Details) > 0 {
		attrs = append(attrs, slog.Any("details", r.Details))
	}
	l.log.LogAttrs(ctx, level, "audit", slog.Attr{Key: "audit", Value: slog.GroupValue(attrs...)})
}

// bound shortens what a caller chose: long strings end in "…", paths
// beyond maxPaths are counted in Details["paths-omitted"].
func bound(r Record) Record {
	r.Principal = truncate(r.Principal, maxNameLen)
	r.Via = truncate(r.Via, maxNameLen)
	r.Source = truncate(r.Source, maxNameLen)
	r.Method = truncate(r.Method, maxNameLen)
	r.Reason = truncate(r.Reason, maxReasonLen)
	r.Groups = slices.Clone(r.Groups[:min(len(r.Groups), maxGroups)])
	for i := range r.Groups {
		r.Groups[i] = truncate(r.Groups[i], maxNameLen)
	}
	if len(r.Paths) > maxPaths {
		r.Details = maps.Clone(r.Details)
		if r.Details == nil {
			r.Details = map[string]any{}
		}
		r.Details["paths-omitted"] = len(r.Paths) - maxPaths
	}
	r.Paths = slices.Clone(r.Paths[:min(len(r.Paths), maxPaths)])
	for i := range r.Paths {
		r.Paths[i] = truncate(r.Paths[i], maxPathLen)
	}
	return r
}

// truncate cuts s to at most n bytes (on a rune boundary), marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func key(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// entKey is the by-enterprise index key: enterprise, NUL, sequence number.
func entKey(ent string, seq uint64) []byte {
	return append(append([]byte(ent), 0), key(seq)...)
}

func getUint(b *bolt.Bucket, k []byte) uint64 {
	if v := b.Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putUint(b *bolt.Bucket, k []byte, n uint64) error { return b.Put(k, key(n)) }

func raiseUint(b *bolt.Bucket, k []byte, n uint64) error {
	if getUint(b, k) >= n {
		return nil
	}
	return putUint(b, k, n)
}

// classify adds the model sets and the tenants the record's paths name to
// those it was given.
func (l *Log) classify(r *Record) {
	if l.opts.Schema == nil {
		return
	}
	r.Sets, r.Enterprises = slices.Clone(r.Sets), slices.Clone(r.Enterprises)
	for _, p := range r.Paths {
		rt, err := l.opts.Schema.ParseRoute(p)
		if err != nil {
			continue // a path that names nothing (refused as such): no set, no tenant
		}
		if t := rt.Tenant; t != "" && !slices.Contains(r.Enterprises, t) {
			r.Enterprises = append(r.Enterprises, t)
		}
		if rt.Set != nil {
			ref := SetRef{Name: rt.Set.Name, Version: rt.Set.Version, Scope: string(rt.Set.Scope)}
			if !slices.Contains(r.Sets, ref) {
				r.Sets = append(r.Sets, ref)
			}
		}
	}
}
