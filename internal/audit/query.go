package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Filter selects records. Zero fields match everything.
type Filter struct {
	Principal  string
	Enterprise string
	// PathPrefix matches records with a path equal to it or below it.
	PathPrefix string
	// Since and Until filter on the time a record was written (Until
	// exclusive). They are filters, not positions: pages are in sequence
	// order, so a wall clock stepped back neither hides nor repeats a
	// record.
	Since, Until time.Time
	Outcome      string
	// Before pages back: only records numbered below it (0: from the
	// newest); pass the previous Page's Next.
	Before uint64
	// Limit caps the records returned (0 or above MaxLimit: MaxLimit).
	Limit int
}

// MaxLimit is the most records one query returns; ScanMax the most it
// examines. A query that stops at either says where to go on (Page.Next),
// so no request reads the whole trail.
const (
	MaxLimit = 1000
	ScanMax  = 20000
)

// Page is one answer to a query.
type Page struct {
	// Records match, newest (highest sequence number) first.
	Records []Record
	// Next, when not 0, is the Filter.Before of the next (older) page:
	// the query stopped at its limit or its scan budget.
	Next uint64
}

// Match reports whether r passes f (ignoring Before and Limit).
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

// Query returns the first page of records matching f (see QueryPage).
func (l *Log) Query(f Filter, keep ...func(*Record) bool) ([]Record, error) {
	p, err := l.QueryPage(f, keep...)
	return p.Records, err
}

// QueryPage returns records matching f, newest first. keep, if not nil, is
// applied too (callers pass the caller's read rights). It reads a copy of
// the queue and a bbolt read transaction: it never waits for the writer,
// and sees every record enqueued before it. With f.Enterprise it walks
// that enterprise's index, not the whole trail.
func (l *Log) QueryPage(f Filter, keep ...func(*Record) bool) (Page, error) {
	limit := f.Limit
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	l.mu.Lock()
	pending := make([]Record, len(l.queue))
	for i, q := range l.queue {
		pending[i] = q.r
	}
	upper := l.next // records on disk from here on are in pending (or newer than the query)
	if len(pending) > 0 {
		upper = pending[0].Seq
	}
	l.mu.Unlock()
	if f.Before != 0 && f.Before < upper {
		upper = f.Before
	}

	var page Page
	scanned := 0
	// take examines one record; it reports whether the page is complete.
	take := func(r *Record) bool {
		scanned++
		if f.Match(r) && kept(r, keep) {
			page.Records = append(page.Records, *r)
		}
		if len(page.Records) >= limit || scanned >= ScanMax {
			page.Next = r.Seq
			return true
		}
		return false
	}
	for i := len(pending) - 1; i >= 0; i-- {
		if f.Before != 0 && pending[i].Seq >= f.Before {
			continue
		}
		pending[i] = Scrub(pending[i]) // as the writer will store it
		if take(&pending[i]) {
			return page, nil
		}
	}
	err := l.db.View(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucket)
		decode := func(k, v []byte) (*Record, error) {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return nil, fmt.Errorf("record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			return &r, nil
		}
		if f.Enterprise != "" {
			prefix := append([]byte(f.Enterprise), 0)
			c := tx.Bucket(byEntBucket).Cursor()
			for k, _ := seekBelow(c, entKey(f.Enterprise, upper)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
				seqKey := k[len(prefix):]
				v := recs.Get(seqKey)
				if v == nil {
					continue // pruned meanwhile
				}
				r, err := decode(seqKey, v)
				if err != nil {
					return err
				}
				if take(r) {
					return nil
				}
			}
			return nil
		}
		c := recs.Cursor()
		for k, v := seekBelow(c, key(upper)); k != nil; k, v = c.Prev() {
			r, err := decode(k, v)
			if err != nil {
				return err
			}
			if take(r) {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("audit: query: %w", err)
	}
	return page, nil
}

// seekBelow moves c to the last key below k and returns it (nil: none).
func seekBelow(c *bolt.Cursor, k []byte) ([]byte, []byte) {
	got, v := c.Seek(k)
	if got == nil {
		got, v = c.Last()
	}
	for got != nil && bytes.Compare(got, k) >= 0 {
		got, v = c.Prev()
	}
	return got, v
}

func kept(r *Record, keep []func(*Record) bool) bool {
	for _, fn := range keep {
		if fn != nil && !fn(r) {
			return false
		}
	}
	return true
}

// Len returns the number of records on disk.
func (l *Log) Len() (int, error) {
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n, err
}
