package backup

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amp-edge/amp/internal/store"
)

// IncompleteMeta is the metadata key a restore writes first and deletes
// last: a store that holds it was left half-restored, and `amp serve`
// refuses to start on it (CheckComplete).
const IncompleteMeta = "backup/restore-incomplete"

// ErrNotEmpty is wrapped by the error for a restore into a store that
// holds anything.
var ErrNotEmpty = errors.New("the target store is not empty")

// CheckEmpty returns an error wrapping ErrNotEmpty, saying what it found,
// unless st holds nothing at all: no transaction, object or metadata (a
// store `amp serve` ever ran on holds at least the admin token).
func CheckEmpty(st store.Store) error {
	if err := CheckComplete(st); err != nil {
		return fmt.Errorf("%w: %v", ErrNotEmpty, err)
	}
	if last, first, cp := st.LastIndex(), st.FirstIndex(), st.CheckpointIndex(); last != 0 || first != 1 || cp != 0 {
		return fmt.Errorf("%w: it holds transactions (first index %d, last %d, checkpoint %d)", ErrNotEmpty, first, last, cp)
	}
	errFound := errors.New("found")
	var found string
	if err := st.Objects(func(k string, _ []byte) error { found = k; return errFound }); err != nil && !errors.Is(err, errFound) {
		return fmt.Errorf("check that the target store is empty: read objects: %w", err)
	}
	if found != "" {
		return fmt.Errorf("%w: it holds objects (the first is %s)", ErrNotEmpty, found)
	}
	if err := st.Metas("", func(k string, _ []byte) error { found = k; return errFound }); err != nil && !errors.Is(err, errFound) {
		return fmt.Errorf("check that the target store is empty: read metadata: %w", err)
	}
	if found != "" {
		return fmt.Errorf("%w: it holds metadata (the first key is %s; amp serve ran on it)", ErrNotEmpty, found)
	}
	return nil
}

// CheckComplete returns an error if a restore into st started and did not
// finish.
func CheckComplete(st store.Store) error {
	v, err := st.GetMeta(IncompleteMeta)
	if err != nil {
		return fmt.Errorf("read metadata %s: %w", IncompleteMeta, err)
	}
	if v != nil {
		return fmt.Errorf("a restore into this store did not finish (%s): empty the store (a new --data-dir, or etcdctl del --prefix) and restore again", v)
	}
	return nil
}

// Summary is what a restore wrote.
type Summary struct {
	Header  Header
	Trailer Trailer
	Bytes   int64
	// Digest is what the signature covers (VerifyItems, and RestoreChecked
	// with Checks.Done; see Authenticate).
	Digest []byte
}

// Restore reads a backup from r into st, which must be empty (CheckEmpty):
// the objects, the log records with their original indexes, the checkpoint
// index and the metadata. A backup found invalid part way leaves st marked
// incomplete (IncompleteMeta); RestoreChecked says what a caller does about
// that.
func Restore(st store.Store, r io.Reader) (Summary, error) {
	return RestoreChecked(st, r, Checks{})
}

// Checks are what RestoreChecked verifies while it writes.
type Checks struct {
	// Item is called for every object, log record and metadata entry, on
	// other goroutines while the restore goes on writing (so it must be
	// safe for concurrent use): decoding each as the server would is most
	// of a restore's CPU, and the writes mostly wait on the disk or etcd.
	Item func(Item) error
	// Done is called once every item was read and passed Item, with the
	// backup's summary, Digest included (Authenticate), before the
	// restore marks the store complete.
	Done func(Summary) error
}

// RestoreChecked is Restore that runs c while it writes. The store is
// marked incomplete (IncompleteMeta) from its first write until every
// check passed, so nothing starts on a store holding a backup the checks
// refused; on an error the caller discards what was written (a bbolt
// restore writes into a staging directory it then removes; an etcd one
// deletes the prefix, which was empty). Errors of the checks name the
// item, as VerifyItems's do.
func RestoreChecked(st store.Store, r io.Reader, c Checks) (Summary, error) {
	if err := CheckEmpty(st); err != nil {
		return Summary{}, err
	}
	br, err := newReader(r, c.Done != nil)
	if err != nil {
		return Summary{}, err
	}
	h := br.Header
	marker := fmt.Sprintf("restore of a backup of index %d taken %s, started %s", h.Last, h.Created.Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
	if err := st.PutMeta(IncompleteMeta, []byte(marker)); err != nil {
		return Summary{}, fmt.Errorf("mark the store as being restored: %w", err)
	}
	var checks *itemChecks
	if c.Item != nil {
		checks = startItemChecks(c.Item)
		defer checks.stop()
	}
	lim := commitLimits(st)
	var (
		puts        []store.KV
		putBytes    int
		commits     []store.Commit
		commitBytes int
		based       bool
	)
	base := func(first uint64) error {
		if based {
			return nil
		}
		based = true
		if err := st.SetBase(first); err != nil {
			return fmt.Errorf("start the log at index %d: %w", first, err)
		}
		return nil
	}
	flushObjects := func() error {
		if len(puts) == 0 {
			return nil
		}
		if err := st.WriteObjects(puts, nil); err != nil {
			return fmt.Errorf("write objects %s-%s: %w", puts[0].Key, puts[len(puts)-1].Key, err)
		}
		puts, putBytes = puts[:0], 0
		return nil
	}
	flushCommits := func() error {
		if len(commits) == 0 {
			return nil
		}
		if err := st.Commit(commits); err != nil {
			return fmt.Errorf("write log records %d-%d: %w", commits[0].Index, commits[len(commits)-1].Index, err)
		}
		commits, commitBytes = commits[:0], 0
		return nil
	}
	for {
		off := br.Bytes()
		it, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Summary{}, err
		}
		// One copy of the value (the reader reuses its buffer) serves the
		// write batch and the check.
		it.Value = clone(it.Value)
		if checks != nil {
			if err := checks.submit(it, off); err != nil {
				return Summary{}, err
			}
		}
		switch it.Kind {
		case KindObject:
			puts = append(puts, store.KV{Key: it.Key, Value: it.Value})
			putBytes += len(it.Key) + len(it.Value)
			if len(puts) >= objectBatch || putBytes >= batchBytes {
				if err := flushObjects(); err != nil {
					return Summary{}, err
				}
			}
		case KindRecord:
			if err := flushObjects(); err != nil {
				return Summary{}, err
			}
			if err := base(it.Index); err != nil {
				return Summary{}, err
			}
			commits = append(commits, store.Commit{Index: it.Index, Log: it.Value})
			commitBytes += len(it.Value)
			if len(commits) >= lim.records || commitBytes >= lim.bytes {
				if err := flushCommits(); err != nil {
					return Summary{}, err
				}
			}
		case KindMeta:
			if err := errors.Join(flushObjects(), flushCommits()); err != nil {
				return Summary{}, err
			}
			if it.Key == IncompleteMeta {
				return Summary{}, fmt.Errorf("the backup holds %s: it was taken of a half-restored store", IncompleteMeta)
			}
			if err := st.PutMeta(it.Key, it.Value); err != nil {
				return Summary{}, fmt.Errorf("write metadata %s: %w", it.Key, err)
			}
		}
	}
	t := br.Trailer
	if err := errors.Join(flushObjects(), flushCommits(), base(t.First)); err != nil {
		return Summary{}, err
	}
	sum := Summary{Header: h, Trailer: t, Bytes: br.Bytes(), Digest: br.digestSum()}
	if err := checks.wait(); err != nil {
		return Summary{}, err
	}
	if c.Done != nil {
		if err := c.Done(sum); err != nil {
			return Summary{}, err
		}
	}
	if st.LastIndex() != h.Last || st.FirstIndex() != t.First {
		return Summary{}, fmt.Errorf("after the restore the store's log is %d-%d, the backup's %d-%d", st.FirstIndex(), st.LastIndex(), t.First, h.Last)
	}
	if err := st.SetCheckpoint(h.Checkpoint); err != nil {
		return Summary{}, fmt.Errorf("set the checkpoint index %d: %w", h.Checkpoint, err)
	}
	if err := st.DeleteMeta(IncompleteMeta); err != nil {
		return Summary{}, fmt.Errorf("clear the restore marker: %w", err)
	}
	return sum, nil
}

// Discard takes back what a failed RestoreChecked wrote into st, which it
// found empty, where the store can delete everything at once: under an
// etcd prefix, one txn deletes every key, guarded by the restore's marker
// (IncompleteMeta) so that a prefix someone else emptied or filled
// meanwhile is left alone. A bbolt restore writes into a staging directory
// that its caller removes instead (cmd/amp/restore.go); for it, and any
// other store, Discard does nothing and the store stays marked incomplete.
func Discard(st store.Store) error {
	e, ok := unwrap(st).(*store.Etcd)
	if !ok {
		return nil
	}
	if err := e.DeleteAllIfMeta(IncompleteMeta); err != nil {
		return fmt.Errorf("delete what the restore wrote: %w", err)
	}
	return nil
}

// Verify reads a whole backup and checks it, writing nothing.
func Verify(r io.Reader) (Summary, error) { return verify(r, false, nil) }

// VerifyItems is Verify before a restore: it also computes the digest
// Authenticate checks, and passes every item to check (when not nil), e.g.
// to decode it as the server would; its error names the frame.
func VerifyItems(r io.Reader, check func(Item) error) (Summary, error) {
	return verify(r, true, check)
}

func verify(r io.Reader, digest bool, check func(Item) error) (Summary, error) {
	br, err := newReader(r, digest)
	if err != nil {
		return Summary{}, err
	}
	var checks *itemChecks
	if check != nil {
		checks = startItemChecks(check)
		defer checks.stop()
	}
	for {
		off := br.Bytes()
		it, err := br.Next()
		if errors.Is(err, io.EOF) {
			if err := checks.wait(); err != nil {
				return Summary{}, err
			}
			return Summary{Header: br.Header, Trailer: br.Trailer, Bytes: br.Bytes(), Digest: br.digestSum()}, nil
		}
		if err != nil {
			return Summary{}, err
		}
		if checks != nil {
			it.Value = clone(it.Value) // the reader reuses its buffer
			if err := checks.submit(it, off); err != nil {
				return Summary{}, err
			}
		}
	}
}

// itemChecks runs a check over items on every core while the reader goes
// on with the frames, checksums and digest (and a restore with its
// writes): decoding each object as the server would is most of a
// restore's CPU, and it is independent per item. Items go to the workers
// in batches, so a backup of small objects costs few channel operations
// and wake-ups. The error reported is the one of the earliest item that
// failed: once one failed, only the items before it are still checked.
type itemChecks struct {
	check   func(Item) error
	jobs    chan []checkJob
	pending []checkJob
	wg      sync.WaitGroup

	mu  sync.Mutex
	err error
	// errOff is the offset of the earliest item that failed so far
	// (math.MaxInt64: none).
	errOff atomic.Int64
}

type checkJob struct {
	it  Item
	off int64
}

const checkBatch = 128 // items per batch handed to a worker

func startItemChecks(check func(Item) error) *itemChecks {
	jobs := make(chan []checkJob, 16)
	c := &itemChecks{check: check, jobs: jobs}
	c.errOff.Store(math.MaxInt64)
	for range runtime.GOMAXPROCS(0) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for batch := range jobs { // not c.jobs: stop may clear it before this runs
				for _, j := range batch {
					if j.off > c.errOff.Load() {
						break // an earlier item failed: drain
					}
					if err := c.check(j.it); err != nil {
						c.fail(j, err)
					}
				}
			}
		}()
	}
	return c
}

func (c *itemChecks) fail(j checkJob, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if j.off < c.errOff.Load() {
		c.err = fmt.Errorf("the server could not load the backup: %s at byte %d: %w", kindName(byte(j.it.Kind)), j.off, err)
		c.errOff.Store(j.off)
	}
}

// submit queues it (read at byte off) for checking; its value must not
// change afterwards (the caller copies it out of the reader's buffer). It
// returns an error once a check failed.
func (c *itemChecks) submit(it Item, off int64) error {
	if c.errOff.Load() != math.MaxInt64 {
		return c.wait()
	}
	c.pending = append(c.pending, checkJob{it: it, off: off})
	if len(c.pending) == checkBatch {
		c.jobs <- c.pending
		c.pending = make([]checkJob, 0, checkBatch)
	}
	return nil
}

// wait checks what is still queued, ends the checks and returns the first
// failure, if any (nil c: none).
func (c *itemChecks) wait() error {
	if c == nil {
		return nil
	}
	if len(c.pending) > 0 && c.jobs != nil {
		c.jobs <- c.pending
		c.pending = nil
	}
	c.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *itemChecks) stop() {
	if c.jobs != nil {
		close(c.jobs)
		c.jobs = nil
		c.wg.Wait()
	}
}

// Dump writes the content of st to w. Nothing else may write to st
// meanwhile (amp serve backs up online through config.Engine.Backup).
// h's Created, AMPVersion and Source are kept; its indexes are st's.
func Dump(w io.Writer, st store.Store, h Header) (Trailer, error) {
	h.Checkpoint, h.Last = st.CheckpointIndex(), st.LastIndex()
	bw, err := NewWriter(w, h)
	if err != nil {
		return Trailer{}, err
	}
	if err := st.Objects(bw.Object); err != nil {
		return Trailer{}, fmt.Errorf("read objects: %w", err)
	}
	if err := bw.Log(st); err != nil {
		return Trailer{}, err
	}
	if err := bw.Metas(st); err != nil {
		return Trailer{}, err
	}
	return bw.Close()
}

const (
	objectBatch = 10_000   // objects per WriteObjects
	batchBytes  = 16 << 20 // bytes per WriteObjects or bbolt Commit
)

type limits struct{ records, bytes int }

// commitLimits sizes the restore's Commit batches: big ones for bbolt (one
// WAL sync each), and for etcd ones that fit a single txn under its default
// request limits (bigger batches would be staged over several txns).
func commitLimits(st store.Store) limits {
	if _, ok := unwrap(st).(*store.Etcd); ok {
		return limits{records: 100, bytes: 768 << 10}
	}
	return limits{records: 4096, bytes: batchBytes}
}

// unwrap sees through wrappers of a store (amp serve's opened store holds
// a lock beside it).
func unwrap(st store.Store) store.Store {
	for {
		u, ok := st.(interface{ Unwrap() store.Store })
		if !ok {
			return st
		}
		st = u.Unwrap()
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
