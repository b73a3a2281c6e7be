package backup

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/amp-edge/amp/internal/store"
)

// signedObjects is a backup signed with key holding n objects k00000…, a
// log record and a metadata entry.
func signedObjects(t *testing.T, key []byte, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw, err := NewWriter(&buf, Header{Checkpoint: 0, Last: 1, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := bw.Object(fmt.Sprintf("k%05d", i), []byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(bw.Record(1, []byte("record 1")), bw.Meta("token/x", []byte("hash"))); err != nil {
		t.Fatal(err)
	}
	if _, err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func emptyBolt(t *testing.T) *store.Bolt {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRestoreCheckedChecksWhileWriting: RestoreChecked passes every item
// to the check and calls Done, with the digest the signature covers, only
// after every item passed and before the store is marked complete; a
// check that refuses the last object (the writes well under way: more
// objects than one write batch) fails the restore with the item named,
// Done is not called, and the store stays marked incomplete, so nothing
// could start on it; Discard leaves a bbolt store alone (its caller
// removes the staging directory).
func TestRestoreCheckedChecksWhileWriting(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	const n = objectBatch + 5000
	b := signedObjects(t, key, n)

	st := emptyBolt(t)
	var seen atomic.Int64
	var atDone int64
	sum, err := RestoreChecked(st, bytes.NewReader(b), Checks{
		Item: func(Item) error { seen.Add(1); return nil },
		Done: func(s Summary) error {
			atDone = seen.Load()
			if err := CheckComplete(st); err == nil {
				t.Error("the store was marked complete before Done")
			}
			return Authenticate(s, key)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(n + 2); atDone != want || seen.Load() != want {
		t.Fatalf("%d items checked when Done ran, %d in all; want %d", atDone, seen.Load(), want)
	}
	if err := CheckComplete(st); err != nil || sum.Trailer.Objects != n || st.LastIndex() != 1 {
		t.Fatalf("after the restore: %v, %+v, last index %d", err, sum.Trailer, st.LastIndex())
	}

	last := fmt.Sprintf("k%05d", n-1)
	for _, c := range []struct {
		name   string
		checks Checks
		want   string
	}{
		{"the last object refused", Checks{
			Item: func(it Item) error {
				if it.Key == last {
					return errors.New("refused " + it.Key)
				}
				return nil
			},
			Done: func(Summary) error { t.Error("Done ran after a refused item"); return nil },
		}, "refused " + last},
		{"Done refuses", Checks{Done: func(s Summary) error { return Authenticate(s, bytes.Repeat([]byte{8}, KeySize)) }}, "signature does not match"},
	} {
		st := emptyBolt(t)
		_, err := RestoreChecked(st, bytes.NewReader(b), c.checks)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
		if err := CheckComplete(st); err == nil {
			t.Fatalf("%s: the store is not marked incomplete", c.name)
		}
		if err := Discard(st); err != nil || CheckComplete(st) == nil {
			t.Fatalf("%s: Discard changed a bbolt store: %v", c.name, err)
		}
	}
}
