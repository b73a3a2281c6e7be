package config

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// TestBackupCheck: the restore pre-check passes a genuine backup, and
// refuses one whose log record holds an image it could not load even when
// the pair it skips decoding for is close: the same bytes as a checked
// object under a key of no model, or another image under a checked key.
func TestBackupCheck(t *testing.T) {
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	set := sch.Set("aether", "2.1.x")
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := Open(sch, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	setupSite(t, e, set)
	ctx := context.Background()
	for _, body := range []string{`{"sim-card":[{"sim-id":"a1"},{"sim-id":"a2"}]}`, `{"sim-card":[{"sim-id":"a1","display-name":"renamed"}]}`} {
		if _, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1", body)}}); err != nil {
			t.Fatal(err)
		}
	}
	var genuine bytes.Buffer
	h, _, err := e.Backup(&genuine, backup.Header{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(b []byte) error {
		_, err := backup.VerifyItems(bytes.NewReader(b), NewBackupCheck(sch).Item)
		return err
	}
	if err := check(genuine.Bytes()); err != nil {
		t.Fatalf("a genuine backup: %v", err)
	}

	// The last record (a1 renamed) changed as a forger would.
	a1 := "aether/2.1.x/acme/site/s1/sim-card/a1"
	for _, c := range []struct {
		name, want string
		forge      func(r *Record) []byte
	}{
		{"an after image that does not decode", "object " + a1 + ": corrupt",
			func(r *Record) []byte {
				// An object's encoding ends with its map's count when
				// the map is empty: claim an entry that is not there.
				r.Changes[0].After = &Object{Key: a1, Data: map[string]any{}}
				empty := encodeObject(r.Changes[0].After)
				b := encodeRecord(r)
				i := bytes.LastIndex(b, empty)
				b[i+len(empty)-1]++
				return b
			}},
		{"the object's bytes under a key of no model", "does not fit the models",
			func(r *Record) []byte {
				r.Changes[0].Key = "aether/2.1.x/acme/site/s1/no-such-list/a1"
				return encodeRecord(r)
			}},
		{"a change with no image under a key of no model", "does not fit the models",
			func(r *Record) []byte {
				r.Changes[0] = ObjectChange{Key: "aether/2.1.x/acme/site/s1/no-such-list/a1"}
				return encodeRecord(r)
			}},
		{"the object's bytes under a key that breaks its type", "does not fit the models",
			func(r *Record) []byte {
				r.Changes[0].Key = "aether/2.1.x/acme/site/s1/sim-card/A1"
				return encodeRecord(r)
			}},
	} {
		forged := reframe(t, genuine.Bytes(), func(it backup.Item, objects map[string][]byte) []byte {
			if it.Kind != backup.KindRecord || it.Index != h.Last {
				return it.Value
			}
			r, err := decodeRecord(sch, it.Value)
			if err != nil {
				t.Fatal(err)
			}
			// The premise: the image is the object's, so it is what the
			// check skips decoding.
			if len(r.Changes) != 1 || r.Changes[0].Key != a1 || !bytes.Equal(encodeObject(r.Changes[0].After), objects[a1]) {
				t.Fatalf("record %d is not the rename of a1 alone: %+v", it.Index, r.Changes)
			}
			return c.forge(r)
		})
		err := check(forged)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "could not load") {
			t.Errorf("%s: %v, want a refusal saying %q", c.name, err, c.want)
		}
	}
}

// reframe rewrites a backup (unsigned), each value passed through fn with
// the objects read so far.
func reframe(t *testing.T, in []byte, fn func(it backup.Item, objects map[string][]byte) []byte) []byte {
	t.Helper()
	br, err := backup.NewReader(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	bw, err := backup.NewWriter(&out, br.Header)
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{}
	for {
		it, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		v := append([]byte(nil), fn(it, objects)...)
		switch it.Kind {
		case backup.KindObject:
			objects[it.Key] = v
			err = bw.Object(it.Key, v)
		case backup.KindRecord:
			err = bw.Record(it.Index, v)
		case backup.KindMeta:
			err = bw.Meta(it.Key, v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestCheckObjectIsDecodeObject: checkObject, which builds nothing, refuses
// exactly the encodings decodeObject refuses, with its message: every
// truncation and every one-byte change of objects with values of each kind.
func TestCheckObjectIsDecodeObject(t *testing.T) {
	objects := []*Object{
		{Created: 3, Modified: 300, Data: map[string]any{}},
		{Created: 1, Modified: 2, Data: map[string]any{
			"s": "text", "i": int64(-70000), "u": uint64(1 << 40), "t": true, "f": false, "e": schema.Empty{},
			"m": map[string]any{"inner": "x", "n": map[string]any{}}, "l": []any{"a", int64(1), []any{}, map[string]any{"k": uint64(2)}},
		}},
	}
	for _, o := range objects {
		good := encodeObject(o)
		var cases [][]byte
		for i := range good {
			cases = append(cases, good[:i])
			for _, b := range []byte{0, 1, 0x7f, 0x80, 0xff, tagString, tagMap, tagList, good[i] + 1} {
				c := append([]byte(nil), good...)
				c[i] = b
				cases = append(cases, c)
			}
		}
		cases = append(cases, good, append(good, 0))
		for _, c := range cases {
			_, want := decodeObject("k", nil, c)
			got := checkObject("k", c)
			if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
				t.Errorf("%x: checkObject %v, decodeObject %v", c, got, want)
			}
		}
	}
}
