package backup

// A backup is a stream, written and read front to back, so a store of any
// size is backed up and restored without holding it in memory:
//
//	magic "\x89AMPBAK\n" (8 bytes; the high byte catches 7-bit transfers,
//	      the newline line-ending conversion)
//	frame*
//
//	frame := kind (1 byte) | length (uint32) | payload | CRC-32C (uint32)
//
// integers big-endian, the CRC over kind, length and payload. Frame kinds,
// in this order:
//
//	'H' header, exactly once, first: JSON Header
//	'O' object, ascending key order: uvarint(len(key)) key value
//	'L' log record, consecutive indexes: uint64 index, record
//	'M' metadata: uvarint(len(key)) key value
//	'E' end, exactly once, last: JSON Trailer (the counts)
//
// Nothing may follow the end frame. The per-frame CRC finds a corrupt byte,
// the end frame and its counts a truncated or spliced file. A reader of
// format 1 refuses any other format number: a change to this layout bumps it.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"time"

	"github.com/amp-edge/amp/internal/store"
)

// Format is the format number this package writes and reads.
const Format = 1

const (
	magic     = "\x89AMPBAK\n"
	frameHead = 5 // kind + length
	// maxFrame bounds one frame, so a corrupt length fails clearly instead
	// of asking for gigabytes. The largest transaction record is far below.
	maxFrame = 1 << 30
	// readChunk is how much of a frame is allocated ahead of reading it:
	// a truncated file with a corrupt length fails before allocating more.
	readChunk = 16 << 20
)

const (
	kindHeader = 'H'
	kindEnd    = 'E'
)

// Kind is the kind of an Item.
type Kind byte

// The kinds of Item, in the order they appear in a backup.
const (
	KindObject Kind = 'O'
	KindRecord Kind = 'L'
	KindMeta   Kind = 'M'
)

// rank orders the frame kinds; a frame may not follow one of higher rank.
func rank(k byte) int {
	switch k {
	case kindHeader:
		return 0
	case byte(KindObject):
		return 1
	case byte(KindRecord):
		return 2
	case byte(KindMeta):
		return 3
	case kindEnd:
		return 4
	}
	return -1
}

func kindName(k byte) string {
	switch k {
	case kindHeader:
		return "header"
	case byte(KindObject):
		return "object"
	case byte(KindRecord):
		return "log record"
	case byte(KindMeta):
		return "metadata"
	case kindEnd:
		return "end"
	}
	return fmt.Sprintf("unknown kind %#x", k)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Header opens a backup.
type Header struct {
	Format     int       `json:"format"`
	Created    time.Time `json:"created"`
	AMPVersion string    `json:"amp-version,omitempty"`
	// Source is the kind of store backed up: bbolt or etcd.
	Source string `json:"source,omitempty"`
	// Checkpoint is the index the objects reflect; the log records after
	// it are replayed over them when the restored store is opened. An
	// online backup's objects are a snapshot at Last, so both are equal.
	Checkpoint uint64 `json:"checkpoint"`
	// Last is the index of the newest transaction.
	Last uint64 `json:"last"`
	// Key, when set, is the key the Writer signs the backup with (sign.go).
	// It is never written.
	Key []byte `json:"-"`
}

// Trailer closes a backup: what it holds.
type Trailer struct {
	// First is the oldest log record's index (Last+1 when there is none).
	First   uint64 `json:"first"`
	Objects int64  `json:"objects"`
	Records int64  `json:"records"`
	Metas   int64  `json:"metas"`
	// KeyID and Signature authenticate the backup (sign.go); empty when it
	// was written without a key.
	KeyID     string `json:"key-id,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// counts is the part of a trailer a reader checks against what it read.
func (t Trailer) counts() Trailer {
	t.KeyID, t.Signature = "", ""
	return t
}

// CorruptError says where and why a stream is not a valid backup: a
// corrupt byte, a truncation, frames out of order.
type CorruptError struct {
	Frame  int64 // frame number; 0 is the header
	Offset int64 // byte offset of the frame
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("not a valid backup: frame %d at byte %d: %s", e.Frame, e.Offset, e.Reason)
}

// ErrFormat is wrapped by the error for a backup of a format number this
// amp does not read.
var ErrFormat = errors.New("unsupported backup format")

// Writer writes a backup. Its methods must be called in the frame order
// (objects, then log records, then metadata, then Close); it refuses
// anything a Reader would refuse, so a backup it completes is valid.
type Writer struct {
	w       *bufio.Writer
	n       int64
	hdr     Header
	t       Trailer
	stage   int
	lastKey string
	next    uint64 // index the next log record must have
	buf     []byte
	err     error     // sticky: the stream is unusable after a failed write
	digest  *digester // SHA-256 of every byte before the end frame; nil without a key
}

// NewWriter writes the magic and the header (its Format is set here).
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	if h.Checkpoint > h.Last {
		return nil, fmt.Errorf("backup header: checkpoint %d is after the last index %d", h.Checkpoint, h.Last)
	}
	h.Format = Format
	bw := &Writer{w: bufio.NewWriterSize(w, 1<<20), hdr: h}
	if _, err := bw.w.WriteString(magic); err != nil {
		return nil, fmt.Errorf("write backup: %w", err)
	}
	if h.Key != nil {
		bw.digest = newDigester()
		bw.digest.Write([]byte(magic))
	}
	bw.n = int64(len(magic))
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("backup header: %w", err)
	}
	if err := bw.frame(kindHeader, js); err != nil {
		return nil, err
	}
	return bw, nil
}

// Bytes is how many bytes were written so far.
func (bw *Writer) Bytes() int64 { return bw.n }

// Header is the header written (without the key).
func (bw *Writer) Header() Header {
	h := bw.hdr
	h.Key = nil
	return h
}

// frame writes one frame whose payload is the concatenation of parts.
func (bw *Writer) frame(kind byte, parts ...[]byte) error {
	if bw.err != nil {
		return bw.err
	}
	r := rank(kind)
	if r < bw.stage {
		return fmt.Errorf("backup writer: %s after %s", kindName(kind), kindName(stageKind(bw.stage)))
	}
	bw.stage = r
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > maxFrame {
		return fmt.Errorf("backup writer: %s of %d bytes is over the %d-byte frame limit", kindName(kind), n, maxFrame)
	}
	var head [frameHead]byte
	head[0] = kind
	binary.BigEndian.PutUint32(head[1:], uint32(n))
	sum := crc32.Checksum(head[:], crcTable)
	_, err := bw.w.Write(head[:])
	for _, p := range parts {
		if err == nil {
			sum = crc32.Update(sum, crcTable, p)
			_, err = bw.w.Write(p)
		}
	}
	var tail [4]byte
	if err == nil {
		binary.BigEndian.PutUint32(tail[:], sum)
		_, err = bw.w.Write(tail[:])
	}
	if bw.digest != nil && kind != kindEnd {
		bw.digest.Write(head[:])
		for _, p := range parts {
			bw.digest.Write(p)
		}
		bw.digest.Write(tail[:])
	}
	if err != nil {
		bw.err = fmt.Errorf("write backup: %w", err)
		return bw.err
	}
	bw.n += int64(frameHead + n + 4)
	return nil
}

func stageKind(stage int) byte {
	for _, k := range []byte{kindHeader, byte(KindObject), byte(KindRecord), byte(KindMeta), kindEnd} {
		if rank(k) == stage {
			return k
		}
	}
	return 0
}

func (bw *Writer) keyed(kind Kind, key string, value []byte) error {
	bw.buf = binary.AppendUvarint(bw.buf[:0], uint64(len(key)))
	bw.buf = append(bw.buf, key...)
	return bw.frame(byte(kind), bw.buf, value)
}

// Object writes one object; keys must ascend.
func (bw *Writer) Object(key string, value []byte) error {
	if bw.t.Objects > 0 && key <= bw.lastKey {
		return fmt.Errorf("backup writer: object %q does not follow %q in key order", key, bw.lastKey)
	}
	if err := bw.keyed(KindObject, key, value); err != nil {
		return err
	}
	bw.lastKey = key
	bw.t.Objects++
	return nil
}

// Record writes one log record; indexes must be consecutive and end at the
// header's Last.
func (bw *Writer) Record(index uint64, rec []byte) error {
	if bw.t.Records > 0 && index != bw.next {
		return fmt.Errorf("backup writer: log record %d does not follow %d", index, bw.next-1)
	}
	if index == 0 || index > bw.hdr.Last {
		return fmt.Errorf("backup writer: log record %d is outside 1-%d", index, bw.hdr.Last)
	}
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], index)
	if err := bw.frame(byte(KindRecord), idx[:], rec); err != nil {
		return err
	}
	if bw.t.Records == 0 {
		bw.t.First = index
	}
	bw.next = index + 1
	bw.t.Records++
	return nil
}

// Meta writes one metadata entry.
func (bw *Writer) Meta(key string, value []byte) error {
	if err := bw.keyed(KindMeta, key, value); err != nil {
		return err
	}
	bw.t.Metas++
	return nil
}

// Log writes the store's log records from its oldest retained one to the
// header's Last. Compaction may run meanwhile (online backups): if it
// dropped the oldest record before any was written, the read starts again
// from the new oldest one.
func (bw *Writer) Log(st store.Store) error {
	last := bw.hdr.Last
	errMoved := errors.New("the oldest record was compacted meanwhile")
	for attempt := 0; ; attempt++ {
		first := st.FirstIndex()
		if first > last {
			return nil // no history at or before last is retained
		}
		started := false
		err := st.Log(first, last, false, func(i uint64, rec []byte) error {
			if !started && i != first {
				return errMoved
			}
			started = true
			return bw.Record(i, rec)
		})
		if (errors.Is(err, store.ErrCompacted) || errors.Is(err, errMoved)) && !started && attempt < 10 {
			continue
		}
		if err != nil {
			return fmt.Errorf("read history %d-%d: %w", first, last, err)
		}
		if bw.t.Records == 0 || bw.next != last+1 {
			return fmt.Errorf("read history %d-%d: the store returned records up to %d only", first, last, bw.next-1)
		}
		return nil
	}
}

// Metas writes all of the store's metadata.
func (bw *Writer) Metas(st store.Store) error {
	if err := st.Metas("", bw.Meta); err != nil {
		return fmt.Errorf("read metadata: %w", err)
	}
	return nil
}

// Close writes the end frame and flushes; it does not close the
// underlying writer.
func (bw *Writer) Close() (Trailer, error) {
	if bw.t.Records == 0 {
		bw.t.First = bw.hdr.Last + 1
	}
	if err := coverage(bw.hdr, bw.t, bw.next); err != nil {
		return Trailer{}, fmt.Errorf("backup writer: %w", err)
	}
	if bw.hdr.Key != nil {
		bw.t.KeyID, bw.t.Signature = KeyID(bw.hdr.Key), sign(bw.hdr.Key, bw.digest.Sum())
	}
	js, err := json.Marshal(bw.t)
	if err != nil {
		return Trailer{}, err
	}
	if err := bw.frame(kindEnd, js); err != nil {
		return Trailer{}, err
	}
	if err := bw.w.Flush(); err != nil {
		bw.err = fmt.Errorf("write backup: %w", err)
		return Trailer{}, bw.err
	}
	return bw.t, nil
}

// coverage checks that the log records restore the state at Last: they end
// there and start at or before the first one after the checkpoint.
func coverage(h Header, t Trailer, next uint64) error {
	if t.Records == 0 {
		if h.Checkpoint != h.Last {
			return fmt.Errorf("no log records, but the objects reflect index %d and the last is %d", h.Checkpoint, h.Last)
		}
		return nil
	}
	if next != h.Last+1 {
		return fmt.Errorf("the log records end at %d, the last index is %d", next-1, h.Last)
	}
	if t.First > h.Checkpoint+1 {
		return fmt.Errorf("the log records start at %d, after the checkpoint %d: records %d-%d are missing", t.First, h.Checkpoint, h.Checkpoint+1, t.First-1)
	}
	return nil
}

// Item is one object, log record or metadata entry of a backup.
type Item struct {
	Kind  Kind
	Key   string // objects and metadata
	Index uint64 // log records
	// Value is only valid until the next call to Next.
	Value []byte
}

// Reader reads and checks a backup.
type Reader struct {
	r      *bufio.Reader
	off    int64
	frame  int64
	Header Header
	// Trailer is set once Next has returned io.EOF.
	Trailer Trailer

	buf     []byte
	stage   int
	lastKey string
	next    uint64
	got     Trailer
	done    bool
	digest  *digester // SHA-256 of every byte before the end frame, if asked for
}

// NewReader reads the magic and the header.
func NewReader(r io.Reader) (*Reader, error) { return newReader(r, false) }

// newReader is NewReader that, if digest, also hashes what a signature
// covers (a pass over every byte, so only where it is checked).
func newReader(r io.Reader, digest bool) (*Reader, error) {
	br := &Reader{r: bufio.NewReaderSize(r, 1<<20)}
	if digest {
		br.digest = newDigester()
	}
	var m [len(magic)]byte
	if n, err := io.ReadFull(br.r, m[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, &CorruptError{Reason: "the stream is empty"}
		}
		return nil, &CorruptError{Reason: fmt.Sprintf("reading the magic: %v", err)}
	}
	if string(m[:]) != magic {
		return nil, &CorruptError{Reason: "no AMP backup magic at the start: not an AMP backup"}
	}
	br.off = int64(len(magic))
	if br.digest != nil {
		br.digest.Write(m[:])
	}
	kind, payload, err := br.readFrame()
	if err != nil {
		return nil, err
	}
	if kind != kindHeader {
		return nil, br.corrupt("the first frame is %s, not the header", kindName(kind))
	}
	// Read the format number alone first: a newer format's other fields
	// may not parse as this one's.
	var v struct {
		Format     int    `json:"format"`
		AMPVersion string `json:"amp-version"`
	}
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, br.corrupt("header: %v", err)
	}
	if v.Format != Format {
		return nil, fmt.Errorf("%w %d (written by amp %s): this amp reads format %d", ErrFormat, v.Format, orUnknown(v.AMPVersion), Format)
	}
	if err := json.Unmarshal(payload, &br.Header); err != nil {
		return nil, br.corrupt("header: %v", err)
	}
	if br.Header.Checkpoint > br.Header.Last {
		return nil, br.corrupt("header: checkpoint %d is after the last index %d", br.Header.Checkpoint, br.Header.Last)
	}
	br.off += int64(frameHead + len(payload) + 4)
	br.frame++
	return br, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "of unknown version"
	}
	return s
}

func (br *Reader) corrupt(format string, args ...any) *CorruptError {
	return &CorruptError{Frame: br.frame, Offset: br.off, Reason: fmt.Sprintf(format, args...)}
}

// readFrame reads one frame and checks its CRC; br.off stays at its start.
func (br *Reader) readFrame() (byte, []byte, error) {
	var head [frameHead]byte
	if n, err := io.ReadFull(br.r, head[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return 0, nil, br.corrupt("the stream ends before its end frame: truncated")
		}
		return 0, nil, br.corrupt("frame header: %v: truncated", err)
	}
	n := binary.BigEndian.Uint32(head[1:])
	if rank(head[0]) < 0 {
		return 0, nil, br.corrupt("%s: corrupt", kindName(head[0]))
	}
	if n > maxFrame {
		return 0, nil, br.corrupt("%s frame claims %d bytes, over the %d-byte limit: corrupt", kindName(head[0]), n, maxFrame)
	}
	buf := br.buf[:0]
	for remaining := int(n); remaining > 0; {
		c := min(remaining, readChunk)
		if cap(buf)-len(buf) < c {
			// Double, so a big frame (a bulk import's log record) is not
			// copied over at every chunk, but never past the frame's
			// length: a 70 MiB record gets 70 MiB, not 128.
			buf = slices.Grow(buf, min(max(c, len(buf)), remaining))
		}
		buf = buf[:len(buf)+c]
		if _, err := io.ReadFull(br.r, buf[len(buf)-c:]); err != nil {
			return 0, nil, br.corrupt("%s of %d bytes: %v: truncated", kindName(head[0]), n, err)
		}
		remaining -= c
	}
	br.buf = buf
	var tail [4]byte
	if _, err := io.ReadFull(br.r, tail[:]); err != nil {
		return 0, nil, br.corrupt("%s checksum: %v: truncated", kindName(head[0]), err)
	}
	sum := crc32.Update(crc32.Checksum(head[:], crcTable), crcTable, buf)
	if binary.BigEndian.Uint32(tail[:]) != sum {
		return 0, nil, br.corrupt("%s of %d bytes: checksum mismatch: corrupt", kindName(head[0]), n)
	}
	if br.digest != nil && head[0] != kindEnd {
		br.digest.Write(head[:])
		br.digest.Write(buf)
		br.digest.Write(tail[:])
	}
	return head[0], buf, nil
}

// Next returns the next item. After the last one it checks the end frame
// and returns io.EOF; any other error means the backup is invalid (or the
// underlying reader failed) and no later call succeeds.
func (br *Reader) Next() (Item, error) {
	if br.done {
		return Item{}, io.EOF
	}
	kind, payload, err := br.readFrame()
	if err != nil {
		return Item{}, err
	}
	r := rank(kind)
	if r < br.stage || kind == kindHeader {
		return Item{}, br.corrupt("%s after %s: frames out of order", kindName(kind), kindName(stageKind(br.stage)))
	}
	br.stage = r
	size := int64(frameHead + len(payload) + 4)
	var it Item
	switch kind {
	case byte(KindObject), byte(KindMeta):
		kl, n := binary.Uvarint(payload)
		if n <= 0 || kl > uint64(len(payload)-n) {
			return Item{}, br.corrupt("%s: bad key length", kindName(kind))
		}
		it = Item{Kind: Kind(kind), Key: string(payload[n : n+int(kl)]), Value: payload[n+int(kl):]}
		if kind == byte(KindObject) {
			if br.got.Objects > 0 && it.Key <= br.lastKey {
				return Item{}, br.corrupt("object %q does not follow %q in key order", it.Key, br.lastKey)
			}
			br.lastKey = it.Key
			br.got.Objects++
		} else {
			br.got.Metas++
		}
	case byte(KindRecord):
		if len(payload) < 8 {
			return Item{}, br.corrupt("log record of %d bytes has no index", len(payload))
		}
		it = Item{Kind: KindRecord, Index: binary.BigEndian.Uint64(payload), Value: payload[8:]}
		if br.got.Records > 0 && it.Index != br.next {
			return Item{}, br.corrupt("log record %d does not follow %d", it.Index, br.next-1)
		}
		if it.Index == 0 || it.Index > br.Header.Last {
			return Item{}, br.corrupt("log record %d is outside 1-%d", it.Index, br.Header.Last)
		}
		if br.got.Records == 0 {
			br.got.First = it.Index
		}
		br.next = it.Index + 1
		br.got.Records++
	case kindEnd:
		return Item{}, br.end(payload)
	}
	br.off += size
	br.frame++
	return it, nil
}

// end checks the end frame against what was read, and that nothing follows.
func (br *Reader) end(payload []byte) error {
	var t Trailer
	if err := json.Unmarshal(payload, &t); err != nil {
		return br.corrupt("end frame: %v", err)
	}
	if br.got.Records == 0 {
		br.got.First = br.Header.Last + 1
	}
	if t.counts() != br.got {
		return br.corrupt("the end frame counts %+v, the backup holds %+v: frames are missing", t, br.got)
	}
	if err := coverage(br.Header, t, br.next); err != nil {
		return br.corrupt("%v", err)
	}
	br.off += int64(frameHead + len(payload) + 4)
	if _, err := br.r.Peek(1); !errors.Is(err, io.EOF) {
		if err != nil {
			return fmt.Errorf("read backup after its end frame: %w", err)
		}
		return br.corrupt("data after the end frame")
	}
	br.Trailer, br.done = t, true
	return io.EOF
}

// digestSum is the SHA-256 of every byte before the end frame, which a
// signature covers (nil if not asked for); valid once Next has returned
// io.EOF.
func (br *Reader) digestSum() []byte {
	if br.digest == nil {
		return nil
	}
	return br.digest.Sum()
}

// Bytes is how many bytes were read and checked so far.
func (br *Reader) Bytes() int64 { return br.off }
