package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// testStoreContract runs the behaviour the engine relies on against any
// backend. open must return a store over the same durable state each time
// it is called (the second call is the "reopen after Close").
func testStoreContract(t *testing.T, open func(t *testing.T) Store) {
	t.Helper()
	s := open(t)
	if s.LastIndex() != 0 || s.FirstIndex() != 1 || s.CheckpointIndex() != 0 {
		t.Fatalf("empty store: last %d first %d checkpoint %d", s.LastIndex(), s.FirstIndex(), s.CheckpointIndex())
	}
	if err := s.Log(1, 10, false, func(uint64, []byte) error { t.Fatal("record in an empty log"); return nil }); err != nil {
		t.Fatalf("reading an empty log: %v", err)
	}
	for i := uint64(1); i <= 8; i++ {
		if err := s.Commit([]Commit{{Index: i, Log: []byte(fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	// A batch commits as a whole.
	if err := s.Commit([]Commit{{Index: 9, Log: []byte("9")}, {Index: 10, Log: []byte("10")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit([]Commit{{Index: 12, Log: []byte("gap")}}); err == nil {
		t.Fatal("a gap in indexes was accepted")
	}
	if s.LastIndex() != 10 {
		t.Fatalf("last index %d, want 10", s.LastIndex())
	}
	logs := func(from, to uint64, reverse bool) string {
		t.Helper()
		var got []string
		if err := s.Log(from, to, reverse, func(i uint64, v []byte) error {
			if fmt.Sprint(i) != string(v) {
				t.Fatalf("record %d holds %q", i, v)
			}
			got = append(got, string(v))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(got)
	}
	if got := logs(1, 100, false); got != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Fatalf("log %s", got)
	}
	if got := logs(3, 5, true); got != "[5 4 3]" {
		t.Fatalf("reverse log %s", got)
	}
	stop := errors.New("stop")
	if err := s.Log(1, 10, false, func(uint64, []byte) error { return stop }); err != stop {
		t.Fatalf("fn's error not returned: %v", err)
	}

	// Objects come back in key order; a key both deleted and put is put.
	if err := s.WriteObjects([]KV{{"b", []byte("2")}, {"a", []byte("1")}, {"c", []byte("3")}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteObjects([]KV{{"c", []byte("33")}}, []string{"b", "c"}); err != nil {
		t.Fatal(err)
	}
	objects := func() string {
		var got []string
		if err := s.Objects(func(k string, v []byte) error { got = append(got, k+"="+string(v)); return nil }); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(got)
	}
	if got := objects(); got != "[a=1 c=33]" {
		t.Fatalf("objects %s", got)
	}
	if err := s.SetCheckpoint(6); err != nil {
		t.Fatal(err)
	}
	// Compaction never drops records after the checkpoint.
	if err := s.Compact(9); err != nil {
		t.Fatal(err)
	}
	if s.FirstIndex() != 7 {
		t.Fatalf("first index %d, want 7", s.FirstIndex())
	}
	if err := s.Log(3, 10, false, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrCompacted) {
		t.Fatalf("reading compacted history: %v", err)
	}
	if got := logs(7, 10, true); got != "[10 9 8 7]" {
		t.Fatalf("reverse log %s", got)
	}
	// Compacting less than already compacted is a no-op.
	if err := s.Compact(3); err != nil || s.FirstIndex() != 7 {
		t.Fatalf("compact backwards: %v, first %d", err, s.FirstIndex())
	}

	// Meta: a missing key is nil without error; Metas filters by prefix.
	if v, err := s.GetMeta("missing"); err != nil || v != nil {
		t.Fatalf("missing meta: %q %v", v, err)
	}
	for _, k := range []string{"tok/1", "tok/2", "id", "tok"} {
		if err := s.PutMeta(k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMeta("tok/2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMeta("never-there"); err != nil {
		t.Fatalf("deleting a missing meta key: %v", err)
	}
	metas := func(prefix string) string {
		var got []string
		if err := s.Metas(prefix, func(k string, v []byte) error { got = append(got, k+"="+string(v)); return nil }); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(got)
	}
	if got := metas("tok/"); got != "[tok/1=vtok/1]" {
		t.Fatalf("metas tok/: %s", got)
	}
	if got := metas(""); got != "[id=vid tok=vtok tok/1=vtok/1]" {
		t.Fatalf("all metas: %s", got)
	}
	if v, err := s.GetMeta("id"); err != nil || !bytes.Equal(v, []byte("vid")) {
		t.Fatalf("meta id: %q %v", v, err)
	}
	// TakeMeta: the value once, then nothing; of concurrent takers of one
	// key exactly one gets it (a single-use registration token).
	if err := s.PutMeta("once", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.TakeMeta("once"); err != nil || string(v) != "v" {
		t.Fatalf("take once: %q %v", v, err)
	}
	if v, err := s.TakeMeta("once"); err != nil || v != nil {
		t.Fatalf("take once again: %q %v, want nothing", v, err)
	}
	if err := s.PutMeta("race", []byte("v")); err != nil {
		t.Fatal(err)
	}
	got := make(chan bool, 8)
	for range 8 {
		go func() {
			v, err := s.TakeMeta("race")
			if err != nil {
				t.Error(err)
			}
			got <- v != nil
		}()
	}
	winners := 0
	for range 8 {
		if <-got {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d concurrent takers got the value, want 1", winners)
	}
	// PutMetas: many keys at once (more than etcd takes in one txn), new
	// and replaced alike.
	batch, ok := s.(MetaBatch)
	if !ok {
		t.Fatalf("%T does not write metadata in batches", s)
	}
	if err := s.PutMeta("many/000", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	kvs := map[string][]byte{}
	for i := range 300 {
		kvs[fmt.Sprintf("many/%03d", i)] = []byte(fmt.Sprint(i))
	}
	if err := batch.PutMetas(kvs); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.Metas("many/", func(k string, v []byte) error {
		if !bytes.Equal(v, kvs[k]) {
			t.Errorf("meta %s: %q, want %q", k, v, kvs[k])
		}
		n++
		return nil
	}); err != nil || n != 300 {
		t.Fatalf("PutMetas: %d of 300 keys (%v)", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: everything survives.
	s = open(t)
	defer s.Close()
	if s.LastIndex() != 10 || s.CheckpointIndex() != 6 || s.FirstIndex() != 7 {
		t.Fatalf("after reopen: last %d checkpoint %d first %d", s.LastIndex(), s.CheckpointIndex(), s.FirstIndex())
	}
	if got := objects(); got != "[a=1 c=33]" {
		t.Fatalf("objects after reopen %s", got)
	}
	if got := logs(7, 10, false); got != "[7 8 9 10]" {
		t.Fatalf("log after reopen %s", got)
	}
	if got := metas("id") + metas("tok") + metas("many/000") + metas("many/299"); got != "[id=vid][tok=vtok tok/1=vtok/1][many/000=0][many/299=299]" {
		t.Fatalf("metas after reopen: %s", got)
	}
	if err := s.Commit([]Commit{{Index: 11, Log: []byte("11")}}); err != nil {
		t.Fatalf("commit after reopen: %v", err)
	}
	if got := logs(10, 11, false); got != "[10 11]" {
		t.Fatalf("log after reopen and commit %s", got)
	}
	if s.Size() <= 0 {
		t.Fatalf("size %d", s.Size())
	}
}

func TestBoltContract(t *testing.T) {
	dir := t.TempDir()
	testStoreContract(t, func(t *testing.T) Store {
		b, err := OpenBolt(dir)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
