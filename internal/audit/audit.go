// Package audit keeps AMP's audit trail: one append-only record for every
// write, every denied attempt and every login or token event — who (principal
// and groups), from where (source address, interface), when, what (action,
// paths touched, transaction index) and the outcome. Records are kept in
// their own bbolt file (not the configuration store), survive restarts, are
// queried by principal, enterprise, path prefix and time, and are emitted as
// structured log events for log shipping. A scrubber runs on every record
// before it is stored or logged, so no secret (API tokens, JWTs, passwords,
// keys) ever reaches the trail.
package audit

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/amp-edge/amp/internal/policy"
)

// Interfaces a request came through.
const (
	REST = "rest"
	GNMI = "gnmi"
	CLI  = "cli"
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
	// Interface is rest, gnmi or cli.
	Interface string `json:"interface"`
	// Action is what was attempted: read, write, admin, or an event such as
	// login, token-create, token-revoke, rollback.
	Action string `json:"action"`
	// Method is the protocol operation (e.g. "PATCH", "Set"), optional.
	Method string `json:"method,omitempty"`
	// Paths are the REST paths touched (or attempted).
	Paths []string `json:"paths,omitempty"`
	// Enterprises are derived from Paths (for filtering and rights).
	Enterprises []string `json:"enterprises,omitempty"`
	// Transaction is the configuration transaction index a write made (0: none).
	Transaction uint64 `json:"transaction,omitempty"`
	// Outcome is allowed, denied or error; Reason says why.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Details holds extra fields (scrubbed like everything else).
	Details map[string]any `json:"details,omitempty"`
}

// Filter selects records. Zero fields match everything.
type Filter struct {
	Principal  string
	Enterprise string
	// PathPrefix matches records with a path equal to it or below it.
	PathPrefix string
	Since      time.Time // inclusive
	Until      time.Time // exclusive
	Outcome    string
	// Limit caps the number of records returned (the newest ones); 0 means
	// DefaultLimit, negative means no limit.
	Limit int
}

// DefaultLimit is the number of records Query returns when Filter.Limit is 0.
const DefaultLimit = 1000

// Options configure Open.
type Options struct {
	// Logger receives every record as an "audit" event (nil: slog.Default()).
	Logger *slog.Logger
	// Registerer gets amp_audit_records_total (nil: not registered).
	Registerer prometheus.Registerer
}

// Log is the audit trail.
type Log struct {
	db      *bolt.DB
	log     *slog.Logger
	records *prometheus.CounterVec
	mu      sync.Mutex // orders Append: sequence and time grow together
	last    time.Time

	// Enqueued records wait here for the batch writer (group commit).
	// flushMu makes a flush wait for one in flight, so a query after a
	// flush sees every record enqueued before it.
	flushMu sync.Mutex
	qmu     sync.Mutex
	queue   []queued
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

type queued struct {
	ctx context.Context
	r   Record
}

var bucket = []byte("records")

// FileName is the audit file inside the directory given to Open.
const FileName = "audit.db"

// Open opens (creating if needed) the audit log in dir/audit.db.
func Open(dir string, opts ...Options) (*Log, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", filepath.Join(dir, FileName), err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	l := &Log{db: db, log: o.Logger, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go l.writer()
	if l.log == nil {
		l.log = slog.Default()
	}
	l.records = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amp_audit_records_total",
		Help: "Audit records appended, by outcome.",
	}, []string{"outcome"})
	for _, oc := range []string{Allowed, Denied, Error} {
		l.records.WithLabelValues(oc)
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(l.records); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				db.Close()
				return nil, fmt.Errorf("audit: metrics: %w", err)
			}
			l.records = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return l, nil
}

// Close writes what is queued and closes the file.
func (l *Log) Close() error {
	close(l.stop)
	<-l.stopped
	return l.db.Close()
}

// Enqueue records r without waiting for the disk: a writer stores queued
// records in batches, one synced bbolt transaction per batch, so a request
// does not pay an fsync of its own for its audit record. What a crash can
// lose is at most the last batch (tens of milliseconds): writes are
// re-recorded at start-up from the configuration's transaction log (see
// LastTransaction), which holds them durably.
func (l *Log) Enqueue(ctx context.Context, r Record) {
	l.qmu.Lock()
	l.queue = append(l.queue, queued{ctx: context.WithoutCancel(ctx), r: r})
	l.qmu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// writer flushes the queue every batchEvery (or sooner when it grows past
// batchMax), so a stream of requests shares one fsync per batch instead of
// competing with the configuration log's fsync on every write.
func (l *Log) writer() {
	defer close(l.stopped)
	const batchEvery, batchMax = 50 * time.Millisecond, 256
	for {
		select {
		case <-l.kick:
		case <-l.stop:
			l.flush()
			return
		}
		timer := time.NewTimer(batchEvery)
	wait:
		for {
			select {
			case <-timer.C:
				break wait
			case <-l.kick:
				l.qmu.Lock()
				full := len(l.queue) >= batchMax
				l.qmu.Unlock()
				if full {
					timer.Stop()
					break wait
				}
			case <-l.stop:
				timer.Stop()
				l.flush()
				return
			}
		}
		l.flush()
	}
}

// flush writes the queued records, in order, in one transaction.
func (l *Log) flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.qmu.Lock()
	batch := l.queue
	l.queue = nil
	l.qmu.Unlock()
	if len(batch) == 0 {
		return
	}
	recs := make([]Record, len(batch))
	for i, q := range batch {
		recs[i] = q.r
	}
	stored, err := l.store(recs)
	if err != nil {
		l.log.Error("audit: batch write failed; records lost", "records", len(recs), "error", err)
		return
	}
	for i, r := range stored {
		l.records.WithLabelValues(r.Outcome).Inc()
		l.emit(batch[i].ctx, r)
	}
}

// LastTransaction returns the highest configuration transaction index any
// record names (0 if none), so that writes committed after it can be
// re-recorded at start-up.
func (l *Log) LastTransaction() (uint64, error) {
	var last uint64
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		n := 0
		for k, v := c.Last(); k != nil && n < 100000; k, v = c.Prev() {
			n++
			var r Record
			if json.Unmarshal(v, &r) == nil && r.Transaction > last {
				last = r.Transaction
				return nil
			}
		}
		return nil
	})
	return last, err
}

// Collector returns the amp_audit_records_total counter (for registries
// not given to Open).
func (l *Log) Collector() prometheus.Collector { return l.records }

// Append scrubs r, assigns its sequence number and time, stores it durably
// and emits it as a log event; it returns the stored record. Queued records
// are written first, so the log stays in order.
func (l *Log) Append(ctx context.Context, r Record) (Record, error) {
	l.flush()
	stored, err := l.store([]Record{r})
	if err != nil {
		return Record{}, err
	}
	l.records.WithLabelValues(stored[0].Outcome).Inc()
	l.emit(ctx, stored[0])
	return stored[0], nil
}

// store scrubs, numbers, times and writes records in one transaction.
func (l *Log) store(in []Record) ([]Record, error) {
	out := make([]Record, 0, len(in))
	for _, r := range in {
		switch r.Outcome {
		case Allowed, Denied, Error:
		default:
			return nil, fmt.Errorf("audit: outcome %q is not allowed, denied or error", r.Outcome)
		}
		r = Scrub(r)
		r.Enterprises = enterprises(r.Paths, r.Enterprises)
		out = append(out, r)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for i := range out {
			// The time of recording, never earlier than the previous
			// record's: the log is in time order, which Query relies on.
			t := time.Now().UTC()
			if t.Before(l.last) {
				t = l.last
			}
			l.last = t
			out[i].Time = t
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			out[i].Seq = seq
			v, err := json.Marshal(out[i])
			if err != nil {
				return err
			}
			if err := b.Put(key(seq), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: append: %w", err)
	}
	return out, nil
}

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
		slog.Any("enterprises", r.Enterprises), slog.Uint64("transaction", r.Transaction),
		slog.String("outcome", r.Outcome), slog.String("reason", r.Reason),
	}
	if len(r.Details) > 0 {
		attrs = append(attrs, slog.Any("details", r.Details))
	}
	l.log.LogAttrs(ctx, level, "audit", slog.Attr{Key: "audit", Value: slog.GroupValue(attrs...)})
}

func key(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// enterprises adds the enterprises named by paths to given.
func enterprises(paths, given []string) []string {
	out := slices.Clone(given)
	for _, p := range paths {
		if e := policy.ParsePath(p).Enterprise; e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// Match reports whether r passes f (ignoring Limit).
func (f Filter) Match(r *Record) bool {
	if f.Principal != "" && r.Principal != f.Principal {
		return false
	}
	if f.Outcome != "" && r.Outcome != f.Outcome {
		return false
	}
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	if f.Enterprise != "" && !slices.Contains(r.Enterprises, f.Enterprise) {
		return false
	}
	if f.PathPrefix != "" {
		pre := strings.TrimSuffix(f.PathPrefix, "/")
		ok := false
		for _, p := range r.Paths {
			if p == pre || strings.HasPrefix(p, pre+"/") || pre == "" {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Query returns the records matching f, newest first, at most f.Limit.
// keep, if not nil, is applied too (callers pass the caller's read rights,
// e.g. a policy check on the record's paths).
func (l *Log) Query(f Filter, keep ...func(*Record) bool) ([]Record, error) {
	l.flush() // what was enqueued before the query is in its answer
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	var out []Record
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			// Records are in time order: nothing older can match.
			if !f.Since.IsZero() && r.Time.Before(f.Since) {
				break
			}
			if !f.Match(&r) {
				continue
			}
			ok := true
			for _, fn := range keep {
				if fn != nil && !fn(&r) {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			out = append(out, r)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	return out, nil
}

// Len returns the number of records.
func (l *Log) Len() (int, error) {
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n, err
}
