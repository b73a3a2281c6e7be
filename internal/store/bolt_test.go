package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestBoltLogCheckpointCompact(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 10; i++ {
		if err := b.Commit([]Commit{{Index: i, Log: []byte(fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit([]Commit{{Index: 12, Log: []byte("gap")}}); err == nil {
		t.Fatal("a gap in indexes was accepted")
	}
	if err := b.WriteObjects([]KV{{"a", []byte("1")}, {"b", []byte("2")}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.SetCheckpoint(6); err != nil {
		t.Fatal(err)
	}
	// Compaction never drops records after the checkpoint.
	if err := b.Compact(9); err != nil {
		t.Fatal(err)
	}
	if b.FirstIndex() != 7 {
		t.Fatalf("first index %d, want 7", b.FirstIndex())
	}
	if err := b.Log(3, 10, false, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrCompacted) {
		t.Fatalf("reading compacted history: %v", err)
	}
	var got []string
	b.Log(7, 10, true, func(i uint64, v []byte) error { got = append(got, string(v)); return nil })
	if fmt.Sprint(got) != "[10 9 8 7]" {
		t.Fatalf("reverse log %v", got)
	}
	b.Close()
	// Reopen: indexes survive.
	b, err = OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.LastIndex() != 10 || b.CheckpointIndex() != 6 || b.FirstIndex() != 7 {
		t.Fatalf("after reopen: last %d checkpoint %d first %d", b.LastIndex(), b.CheckpointIndex(), b.FirstIndex())
	}
	n := 0
	b.Objects(func(string, []byte) error { n++; return nil })
	if n != 2 {
		t.Fatalf("%d objects", n)
	}
	if _, err := OpenBolt(dir); err == nil {
		t.Fatal("a second open of the same data dir succeeded")
	}
}

// TestBoltLogReportsAMissingRecord: a record gone from amp.db between the
// first and last index is reported, never silently skipped (a read of the
// log across it used to return the records around it as if complete).
func TestBoltLogReportsAMissingRecord(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 1; i <= 5; i++ {
		if err := b.Commit(commits(i, 1, 10)); err != nil {
			t.Fatal(err)
		}
	}
	b.flush()
	if err := b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketLog).Delete(u64(3)) }); err != nil {
		t.Fatal(err)
	}
	for _, reverse := range []bool{false, true} {
		err := b.Log(1, 5, reverse, func(uint64, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "log record 3 is missing") {
			t.Errorf("reverse=%v: %v", reverse, err)
		}
	}
}
