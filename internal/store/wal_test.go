package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func commits(from, n int, size int) []Commit {
	var out []Commit
	for i := 0; i < n; i++ {
		out = append(out, Commit{Index: uint64(from + i), Log: bytes.Repeat([]byte{byte('a' + (from+i)%26)}, size)})
	}
	return out
}

// TestWALReplaysIntoBolt: records committed to the WAL but not yet moved
// to bbolt (the flusher stopped before it ran, as in a crash) are moved at
// the next open. Crashes of the real binary are covered by test/e2e
// TestKill9LosesNothing.
func TestWALReplaysIntoBolt(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Stop the flusher first, so nothing reaches bbolt but the WAL.
	b.flushMu.Lock()
	for i := 1; i <= 50; i++ {
		if err := b.Commit(commits(i, 1, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if b.boltLast.Load() != 0 {
		t.Fatal("records reached bbolt before the test crashed the store")
	}
	b.wal.close()
	b.db.Close()
	b2, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	var got int
	b2.Log(1, 50, false, func(i uint64, v []byte) error {
		if len(v) != 100 || v[0] != byte('a'+i%26) {
			t.Fatalf("record %d damaged", i)
		}
		got++
		return nil
	})
	if got != 50 || b2.LastIndex() != 50 || b2.boltLast.Load() != 50 {
		t.Fatalf("%d records, last %d, in bbolt up to %d", got, b2.LastIndex(), b2.boltLast.Load())
	}
}

func TestWALTornAndCorruptTail(t *testing.T) {
	dir := t.TempDir()
	w, recs, err := openWAL(dir)
	if err != nil || len(recs) != 0 {
		t.Fatal(recs, err)
	}
	if err := w.append(commits(1, 3, 10)); err != nil {
		t.Fatal(err)
	}
	seg := w.segs[0]
	good := seg.off
	if err := w.append(commits(4, 1, 10)); err != nil {
		t.Fatal(err)
	}
	// Corrupt record 4's payload: it and everything after must be ignored.
	f, _ := os.OpenFile(seg.path, os.O_RDWR, 0)
	f.WriteAt([]byte("XX"), good+walHeader+3)
	f.Close()
	w.close()
	w2, recs, err := openWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[2].index != 3 {
		t.Fatalf("recovered %d records", len(recs))
	}
	// Appending continues over the bad record; a later reopen sees 1..3 then 4'.
	if err := w2.append([]Commit{{Index: 4, Log: []byte("new")}}); err != nil {
		t.Fatal(err)
	}
	w2.close()
	_, recs, _ = openWAL(dir)
	if len(recs) != 4 || string(recs[3].payload) != "new" {
		t.Fatalf("after rewrite: %d records", len(recs))
	}
	// A torn header (length written, payload missing) at the end.
	w3, _, _ := openWAL(dir)
	s := w3.segs[len(w3.segs)-1]
	f, _ = os.OpenFile(s.path, os.O_RDWR, 0)
	f.WriteAt([]byte{200, 0, 0, 0, 1, 2, 3, 4}, s.off)
	f.Close()
	w3.close()
	_, recs, err = openWAL(dir)
	if err != nil || len(recs) != 4 {
		t.Fatalf("torn header: %d records, %v", len(recs), err)
	}
}

func TestWALBigRecordAndRelease(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := openWAL(dir)
	big := make([]byte, walSegmentSize+1000)
	if err := w.append([]Commit{{Index: 1, Log: []byte("small")}}); err != nil {
		t.Fatal(err)
	}
	if err := w.append([]Commit{{Index: 2, Log: big}}); err != nil {
		t.Fatal(err)
	}
	if err := w.append([]Commit{{Index: 3, Log: []byte("after")}}); err != nil {
		t.Fatal(err)
	}
	if len(w.segs) != 3 {
		t.Fatalf("%d segments", len(w.segs))
	}
	w.release(2)
	names, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if len(names) != 1 {
		t.Fatalf("segments left: %v", names)
	}
	w.close()
	_, recs, err := openWAL(dir)
	if err != nil || len(recs) != 1 || recs[0].index != 3 {
		t.Fatalf("after release: %v %v", recs, err)
	}
}

// walOffsets returns the offset of each record in a segment file.
func walOffsets(t *testing.T, path string) map[uint64]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, _, err := readSegment(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]int64{}
	var off int64
	for _, r := range recs {
		out[r.index] = off
		off += walHeader + int64(len(r.payload))
	}
	return out
}

func flipBit(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestWALDamageBeforeValidRecordsIsRefusedAndRepaired: a flipped bit in
// an acknowledged record that valid records follow is corruption, not a
// torn tail: the store is not opened (the old code opened it with the log
// cut there, and gave the lost indexes out again). RepairWAL keeps what
// precedes the damage and tombstones every index up to the newest found.
func TestWALDamageBeforeValidRecordsIsRefusedAndRepaired(t *testing.T) {
	for _, where := range []struct {
		name string
		off  func(rec int64) int64
	}{
		{"payload", func(rec int64) int64 { return rec + walHeader + 5 }},
		{"length", func(rec int64) int64 { return rec + 2 }},
		{"index", func(rec int64) int64 { return rec + 9 }},
	} {
		t.Run(where.name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := OpenBolt(dir)
			if err != nil {
				t.Fatal(err)
			}
			b.flushMu.Lock() // nothing reaches bbolt: the records are only in the WAL
			for i := 1; i <= 40; i++ {
				if err := b.Commit(commits(i, 1, 100)); err != nil {
					t.Fatal(err)
				}
			}
			seg := b.wal.segs[0].path
			b.wal.close()
			b.db.Close()
			at := walOffsets(t, seg)[17]
			flipBit(t, seg, where.off(at))

			_, err = OpenBolt(dir)
			var ce *CorruptWALError
			if !errors.As(err, &ce) || ce.File != seg || ce.Index != 17 || ce.Highest != 40 || ce.Offset != at {
				t.Fatalf("open after damage: %v", err)
			}
			for _, want := range []string{seg, "offset", "17", "amp repair-wal --data-dir " + dir} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			tomb := func(i uint64) []byte { return []byte(fmt.Sprintf("lost %d", i)) }
			rep, err := RepairWAL(dir, false, tomb)
			if err != nil || rep.LostFrom != 17 || rep.LostTo != 40 || rep.Kept != 16 {
				t.Fatalf("report: %+v %v", rep, err)
			}
			if _, err := OpenBolt(dir); !errors.As(err, &ce) {
				t.Fatalf("a report-only repair changed the log: %v", err)
			}
			if rep, err = RepairWAL(dir, true, tomb); err != nil || rep.MovedTo == "" {
				t.Fatalf("repair: %+v %v", rep, err)
			}
			b2, err := OpenBolt(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer b2.Close()
			if b2.LastIndex() != 40 {
				t.Fatalf("after repair the last index is %d, want 40 (no index reused)", b2.LastIndex())
			}
			b2.Log(1, 40, false, func(i uint64, v []byte) error {
				if i < 17 && (len(v) != 100 || v[0] != byte('a'+i%26)) || i >= 17 && string(v) != fmt.Sprintf("lost %d", i) {
					t.Errorf("record %d after repair: %.20q", i, v)
				}
				return nil
			})
			if err := b2.Commit(commits(41, 1, 10)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWALTornTailAfterCrashStillOpens: a torn last write (its fragments
// and nothing valid after them) is cut as before, and cleared.
func TestWALTornTailAfterCrashStillOpens(t *testing.T) {
	dir := t.TempDir()
	w, _, _ := openWAL(dir)
	if err := w.append(commits(1, 5, 100)); err != nil {
		t.Fatal(err)
	}
	seg := w.segs[0]
	end := seg.off
	if err := w.append(commits(6, 3, 100)); err != nil {
		t.Fatal(err)
	}
	w.close()
	flipBit(t, seg.path, end+walHeader+1) // record 6 damaged; 7 and 8 are valid after it
	if _, _, err := openWAL(dir); err == nil {
		t.Fatal("records 7 and 8 follow the damaged 6: want corruption")
	}
	// Now the crash tore the batch so that only the start of 6 is there.
	f, _ := os.OpenFile(seg.path, os.O_RDWR, 0)
	f.WriteAt(make([]byte, 3*(walHeader+100)-50), end+50)
	f.Close()
	w2, recs, err := openWAL(dir)
	if err != nil || len(recs) != 5 {
		t.Fatalf("torn tail: %d records, %v", len(recs), err)
	}
	w2.close()
	if d, _ := dirtyEnd(mustOpen(t, seg.path), end, seg.size); d != end {
		t.Fatalf("the torn fragment was not cleared (non-zero up to %d)", d)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestRepairWALOnAnIntactOrMissingStore: nothing to repair changes
// nothing; a directory that is no data dir is refused, not initialised.
func TestRepairWALOnAnIntactOrMissingStore(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(commits(1, 3, 10)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	rep, err := RepairWAL(dir, true, nil)
	if err != nil || rep.Damage != nil || rep.MovedTo != "" {
		t.Fatalf("intact log: %+v %v", rep, err)
	}
	empty := t.TempDir()
	if _, err := RepairWAL(empty, true, nil); err == nil {
		t.Fatal("repair of a directory with no amp.db")
	}
	if _, err := os.Stat(filepath.Join(empty, "amp.db")); err == nil {
		t.Fatal("repair-wal created amp.db in a directory that had none")
	}
}
