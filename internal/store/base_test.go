package store

import (
	"errors"
	"fmt"
	"testing"
)

// testSetBaseContract checks SetBase on any backend: an empty store's log
// can start at any index, survives a reopen with and without records, and a
// store with a log refuses a new base.
func testSetBaseContract(t *testing.T, open func(t *testing.T) Store) {
	t.Helper()
	s := open(t)
	if err := s.SetBase(0); err == nil {
		t.Fatal("SetBase(0) was accepted")
	}
	if err := s.SetBase(41); err != nil {
		t.Fatalf("SetBase on an empty store: %v", err)
	}
	if s.FirstIndex() != 41 || s.LastIndex() != 40 {
		t.Fatalf("after SetBase(41): first %d last %d, want 41 and 40", s.FirstIndex(), s.LastIndex())
	}
	if err := s.Log(1, 50, false, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrCompacted) {
		t.Fatalf("reading below the base: %v, want ErrCompacted", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The base alone, with no record after it, survives a reopen.
	s = open(t)
	if s.FirstIndex() != 41 || s.LastIndex() != 40 {
		t.Fatalf("reopened after SetBase(41): first %d last %d", s.FirstIndex(), s.LastIndex())
	}
	if err := s.Commit([]Commit{{Index: 1, Log: []byte("1")}}); err == nil {
		t.Fatal("a commit below the base was accepted")
	}
	for i := uint64(41); i <= 45; i++ {
		if err := s.Commit([]Commit{{Index: i, Log: []byte(fmt.Sprint(i))}}); err != nil {
			t.Fatalf("commit %d after the base: %v", i, err)
		}
	}
	if err := s.SetBase(100); err == nil {
		t.Fatal("SetBase on a store with a log was accepted")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t)
	defer s.Close()
	if s.FirstIndex() != 41 || s.LastIndex() != 45 {
		t.Fatalf("reopened with records: first %d last %d, want 41 and 45", s.FirstIndex(), s.LastIndex())
	}
	var got []string
	if err := s.Log(41, 45, false, func(i uint64, v []byte) error {
		got = append(got, fmt.Sprintf("%d=%s", i, v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[41=41 42=42 43=43 44=44 45=45]" {
		t.Fatalf("log after the base: %v", got)
	}
	if err := s.SetBase(1); err == nil {
		t.Fatal("SetBase after a reopen with records was accepted")
	}
}

func TestBoltSetBase(t *testing.T) {
	dir := t.TempDir()
	testSetBaseContract(t, func(t *testing.T) Store {
		b, err := OpenBolt(dir)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestEtcdSetBase(t *testing.T) {
	ep := startEtcd(t)
	testSetBaseContract(t, func(t *testing.T) Store { return openTestEtcd(t, ep, "/setbase/") })
	s := openTestEtcd(t, ep, "/setbase/")
	defer s.Close()
	if n, err := s.CountKeys("log/"); err != nil || n != 5 {
		t.Fatalf("CountKeys(log/) = %d, %v; want the 5 records", n, err)
	}
	if n, err := s.CountKeys("elect/"); err != nil || n != 0 {
		t.Fatalf("CountKeys(elect/) = %d, %v; want 0", n, err)
	}
}
