package store

import (
	"os"
	"path/filepath"
	"testing"
)

// TestInstallBolt: a store built in a staging directory replaces the empty
// store of the target directory (whose WAL is dropped) and opens there
// with every commit, the staging directory gone; HasBolt tells a directory
// with a store from one without.
func TestInstallBolt(t *testing.T) {
	dir := t.TempDir()
	if has, err := HasBolt(dir); has || err != nil {
		t.Fatalf("HasBolt of an empty dir: %v %v", has, err)
	}
	empty, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.Close(); err != nil {
		t.Fatal(err)
	}
	if has, err := HasBolt(dir); !has || err != nil {
		t.Fatalf("HasBolt of a store's dir: %v %v", has, err)
	}
	staging := filepath.Join(dir, "amp.db.restoring")
	st, err := OpenBolt(staging)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetBase(5); err != nil {
		t.Fatal(err)
	}
	for i := uint64(5); i <= 7; i++ {
		if err := st.Commit([]Commit{{Index: i, Log: []byte("r")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := InstallBolt(staging, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(staging); !os.IsNotExist(err) {
		t.Fatalf("the staging directory is still there: %v", err)
	}
	got, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.FirstIndex() != 5 || got.LastIndex() != 7 {
		t.Fatalf("installed store's log is %d-%d, want 5-7", got.FirstIndex(), got.LastIndex())
	}
	if err := got.Commit([]Commit{{Index: 8, Log: []byte("r")}}); err != nil {
		t.Fatalf("commit to the installed store: %v", err)
	}
	if err := got.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenBolt(dir)
	if err != nil {
		t.Fatalf("reopen the installed store after a commit: %v", err)
	}
	defer again.Close()
	if again.LastIndex() != 8 {
		t.Fatalf("reopened store's last index %d, want 8", again.LastIndex())
	}
}
