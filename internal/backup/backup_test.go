package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/store"
)

// sourceStore is a bbolt store with objects at checkpoint 6, a log 3-9
// (1-2 compacted) and metadata.
func sourceStore(t *testing.T) *store.Bolt {
	t.Helper()
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i := uint64(1); i <= 9; i++ {
		if err := st.Commit([]store.Commit{{Index: i, Log: []byte(fmt.Sprintf("record %d", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.WriteObjects([]store.KV{{Key: "a/1", Value: []byte("one")}, {Key: "a/2", Value: []byte{}}, {Key: "b", Value: bytes.Repeat([]byte("x"), 100_000)}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.SetCheckpoint(6); err != nil {
		t.Fatal(err)
	}
	if err := st.Compact(3); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"token/abc": "hash", "admin-token-created": "abc"} {
		if err := st.PutMeta(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// content is everything a store holds, as text to compare.
func content(t *testing.T, st store.Store) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "first %d last %d checkpoint %d\n", st.FirstIndex(), st.LastIndex(), st.CheckpointIndex())
	if err := st.Objects(func(k string, v []byte) error { fmt.Fprintf(&b, "object %s=%q\n", k, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := st.Log(st.FirstIndex(), st.LastIndex(), false, func(i uint64, v []byte) error {
		fmt.Fprintf(&b, "log %d=%q\n", i, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Metas("", func(k string, v []byte) error { fmt.Fprintf(&b, "meta %s=%q\n", k, v); return nil }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func dump(t *testing.T, st store.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	tr, err := Dump(&buf, st, Header{Created: time.Unix(1_800_000_000, 0).UTC(), AMPVersion: "test", Source: "bbolt"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Trailer{First: 3, Objects: 3, Records: 7, Metas: 2}); tr != want {
		t.Fatalf("trailer %+v, want %+v", tr, want)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	src := sourceStore(t)
	data := dump(t, src)
	sum, err := Verify(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if sum.Header.Format != Format || sum.Header.Last != 9 || sum.Header.Checkpoint != 6 || sum.Header.Source != "bbolt" || sum.Bytes != int64(len(data)) {
		t.Fatalf("summary %+v (file of %d bytes)", sum, len(data))
	}
	dst, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := Restore(dst, bytes.NewReader(data)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got, want := content(t, dst), content(t, src); got != want {
		t.Fatalf("restored store:\n%s\nsource:\n%s", got, want)
	}
	// The restored log continues where the source's ended.
	if err := dst.Commit([]store.Commit{{Index: 10, Log: []byte("ten")}}); err != nil {
		t.Fatalf("commit after the restore: %v", err)
	}
	// A store with anything in it is refused, and left as it was.
	before := content(t, dst)
	if _, err := Restore(dst, bytes.NewReader(data)); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into a non-empty store: %v, want ErrNotEmpty", err)
	}
	if content(t, dst) != before {
		t.Fatal("a refused restore changed the store")
	}
}

func TestEmptyStoreRoundTrip(t *testing.T) {
	src, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var buf bytes.Buffer
	if _, err := Dump(&buf, src, Header{}); err != nil {
		t.Fatal(err)
	}
	dst, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := Restore(dst, &buf); err != nil {
		t.Fatal(err)
	}
	if err := CheckEmpty(dst); err != nil {
		t.Fatalf("an empty backup restored into a store that is not empty: %v", err)
	}
}

func TestTruncatedRefused(t *testing.T) {
	data := dump(t, sourceStore(t))
	// Every cut, including one exactly between frames, is refused.
	for _, n := range []int{0, 3, len(magic), len(magic) + 2, len(data) / 2, len(data) - 30, len(data) - 1} {
		_, err := Verify(bytes.NewReader(data[:n]))
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("cut at %d of %d bytes: %v, want a CorruptError", n, len(data), err)
		}
	}
	// Cut exactly before the end frame.
	end := bytes.LastIndex(data, []byte{kindEnd, 0, 0})
	if _, err := Verify(bytes.NewReader(data[:end])); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("cut before the end frame: %v", err)
	}
	// And a restore of a truncated file marks the store incomplete.
	dst, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := Restore(dst, bytes.NewReader(data[:end])); err == nil {
		t.Fatal("a truncated backup restored")
	}
	if err := CheckComplete(dst); err == nil {
		t.Fatal("a failed restore did not leave the store marked incomplete")
	}
	if err := CheckEmpty(dst); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("a half-restored store counts as empty: %v", err)
	}
}

func TestCorruptByteRefused(t *testing.T) {
	data := dump(t, sourceStore(t))
	// Flip one bit at a spread of offsets: in the magic, frame heads,
	// payloads and CRCs. Every one is refused.
	for off := 0; off < len(data); off += 97 {
		bad := bytes.Clone(data)
		bad[off] ^= 0x10
		if _, err := Verify(bytes.NewReader(bad)); err == nil {
			t.Fatalf("a flipped bit at byte %d of %d was not noticed", off, len(data))
		}
	}
	// The error says where.
	bad := bytes.Clone(data)
	bad[len(data)-10] ^= 1
	_, err := Verify(bytes.NewReader(bad))
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Offset == 0 || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("corrupt end frame: %v", err)
	}
}

func TestWrongVersionRefused(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString(magic)
	js, _ := json.Marshal(map[string]any{"format": 2, "amp-version": "v9", "something": "new"})
	var head [frameHead]byte
	head[0] = kindHeader
	binary.BigEndian.PutUint32(head[1:], uint32(len(js)))
	buf.Write(head[:])
	buf.Write(js)
	_ = binary.Write(&buf, binary.BigEndian, crc32.Update(crc32.Checksum(head[:], crcTable), crcTable, js))
	_, err := Verify(&buf)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "format 2 (written by amp v9)") {
		t.Fatalf("format 2: %v", err)
	}
	if _, err := Verify(strings.NewReader("SQLite format 3\x00 and more")); err == nil || !strings.Contains(err.Error(), "not an AMP backup") {
		t.Fatalf("not a backup: %v", err)
	}
}

func TestDataAfterEndRefused(t *testing.T) {
	data := append(dump(t, sourceStore(t)), 0)
	if _, err := Verify(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "after the end frame") {
		t.Fatalf("a byte after the end: %v", err)
	}
}

func TestWriterRefusesInvalid(t *testing.T) {
	bw, err := NewWriter(io.Discard, Header{Checkpoint: 4, Last: 6})
	if err != nil {
		t.Fatal(err)
	}
	if err := bw.Object("b", nil); err != nil {
		t.Fatal(err)
	}
	if err := bw.Object("a", nil); err == nil {
		t.Fatal("objects out of key order were written")
	}
	if err := bw.Record(6, nil); err != nil {
		t.Fatal(err)
	}
	// Records 5-6 would be needed after checkpoint 4.
	if _, err := bw.Close(); err == nil || !strings.Contains(err.Error(), "records 5-5 are missing") {
		t.Fatalf("close without the records after the checkpoint: %v", err)
	}
	if err := bw.Object("c", nil); err == nil {
		t.Fatal("an object after log records was written")
	}
}

type wrapped struct{ store.Store }

func (w wrapped) Unwrap() store.Store { return w.Store }

func TestCommitLimitsSeeThroughWrappers(t *testing.T) {
	etcd := &store.Etcd{}
	if got := commitLimits(wrapped{wrapped{etcd}}); got.records > 127 {
		t.Fatalf("a wrapped etcd store gets batches of %d records: more than one etcd txn", got.records)
	}
}

// TestSignature: a backup written with a key authenticates with it; a
// flipped payload byte with its CRC fixed, another key, no key and no
// signature are each refused with their own reason.
func TestSignature(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	var buf bytes.Buffer
	bw, err := NewWriter(&buf, Header{Checkpoint: 0, Last: 0, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	bw.Object("a", []byte("value-1"))
	bw.Meta("token/x", []byte("secret-hash"))
	if _, err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), string(key)) {
		t.Fatal("the key is in the backup")
	}
	sum, err := VerifyItems(bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Authenticate(sum, key); err != nil {
		t.Fatalf("genuine backup: %v", err)
	}
	if err := Authenticate(sum, bytes.Repeat([]byte{8}, KeySize)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("another key: %v", err)
	}
	if err := Authenticate(sum, nil); err == nil || !strings.Contains(err.Error(), sum.Trailer.KeyID) {
		t.Fatalf("no key: %v", err)
	}
	// Change "value-1" to "value-2" and fix the frame's CRC.
	b := bytes.Clone(buf.Bytes())
	i := bytes.Index(b, []byte("value-1"))
	b[i+6] = '2'
	start := bytes.LastIndexByte(b[:i], 'O')
	n := int(binary.BigEndian.Uint32(b[start+1:]))
	binary.BigEndian.PutUint32(b[start+5+n:], crc32.Checksum(b[start:start+5+n], crcTable))
	sum, err = VerifyItems(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatalf("the re-framed backup should pass the CRC checks: %v", err)
	}
	if err := Authenticate(sum, key); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed backup: %v", err)
	}
	sum.Trailer.Signature = ""
	if err := Authenticate(sum, key); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned backup: %v", err)
	}
}

// TestVerifyItemsChecksEveryItem: the pre-check runs over every item (on
// several workers), reports the earliest item it refuses with its byte
// offset, and ends cleanly when the stream itself is broken first.
func TestVerifyItemsChecksEveryItem(t *testing.T) {
	var buf bytes.Buffer
	bw, err := NewWriter(&buf, Header{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		bw.Object(fmt.Sprintf("k%05d", i), []byte(fmt.Sprintf("v%d", i)))
	}
	if _, err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	var seen atomic.Int64
	if _, err := VerifyItems(bytes.NewReader(buf.Bytes()), func(it Item) error {
		if it.Kind == KindObject {
			seen.Add(1)
		}
		return nil
	}); err != nil || seen.Load() != 5000 {
		t.Fatalf("%d of 5000 objects checked: %v", seen.Load(), err)
	}
	refuse := func(it Item) error {
		if it.Key == "k01000" || it.Key == "k04000" {
			return errors.New("refused " + it.Key)
		}
		return nil
	}
	if _, err := VerifyItems(bytes.NewReader(buf.Bytes()), refuse); err == nil || !strings.Contains(err.Error(), "refused k01000") || !strings.Contains(err.Error(), "at byte") {
		t.Fatalf("a refused item: %v", err)
	}
	if _, err := VerifyItems(bytes.NewReader(buf.Bytes()[:40]), refuse); err == nil {
		t.Fatal("a truncated backup passed")
	}
}

// TestDigester: the pipelined digest is SHA-256 of the bytes written, in
// writes of any size (a frame header, a value, more than a block), and
// again after more is written.
func TestDigester(t *testing.T) {
	data := make([]byte, 3*digestBlock+12345)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	d := newDigester()
	for i, n := 0, 1; i < len(data); i, n = i+n, n*3%(digestBlock+777)+1 {
		d.Write(data[i:min(i+n, len(data))])
	}
	if got, want := d.Sum(), sha256.Sum256(data); !bytes.Equal(got, want[:]) {
		t.Fatalf("digest %x, SHA-256 %x", got, want)
	}
	d.Write([]byte("more"))
	if got, want := d.Sum(), sha256.Sum256(append(data, "more"...)); !bytes.Equal(got, want[:]) {
		t.Fatalf("digest after more %x, SHA-256 %x", got, want)
	}
}
