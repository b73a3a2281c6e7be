package store

import (
	"bytes"
	"os"
	"path/filepath"
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
