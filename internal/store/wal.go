package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The write-ahead log makes a commit durable with one fdatasync of an
// append to a preallocated file, instead of bbolt's two syncs and its page
// writes. Records move on to bbolt's log bucket in batches (see Bolt), after
// which their segments are deleted.
//
// Segment files are wal/<first index, 16 hex digits>.wal, preallocated to
// walSegmentSize (or larger, for a record that does not fit). A record is
//
//	uint32 length of payload | uint32 CRC-32C of (index, payload) | uint64 index | payload
//
// little-endian. Reading stops at the first zero length, short read or bad
// CRC. Only the last write can be torn, so that place must be followed by
// nothing but zeros (the preallocation) or the torn write's own fragments:
// if a valid record follows it, an acknowledged record was damaged on disk,
// and the WAL is refused with a CorruptWALError instead of being cut there
// (which would silently drop every later acknowledged transaction and let
// their indexes be given out again). RepairWAL is the operator's way out.

const (
	walSegmentSize = 64 << 20
	walHeader      = 16
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type walRecord struct {
	index   uint64
	payload []byte
}

type segment struct {
	path  string
	first uint64
	last  uint64 // 0 when empty
	f     *os.File
	off   int64
	size  int64
}

type wal struct {
	dir    string
	segs   []*segment // ascending; the last one is active
	broken error      // set when a failed append's bytes could not be zeroed
}

// CorruptWALError reports a damaged place in the write-ahead log that valid
// records follow: acknowledged transactions would be lost if the log were
// read only up to it, so the store is not opened (RepairWAL is the way on).
type CorruptWALError struct {
	DataDir string
	File    string // the segment file
	Offset  int64  // where in it the damage starts
	Index   uint64 // the index of the record that should be there
	Highest uint64 // the newest index of a valid record found after it
}

func (e *CorruptWALError) Error() string {
	return fmt.Sprintf("write-ahead log damaged: %s at offset %d, where the record of transaction %d should be, is not a valid record, "+
		"yet valid records up to transaction %d follow it; acknowledged transactions would be lost, so the store is not opened. "+
		"Copy the data directory aside, check the disk, then run 'amp repair-wal --data-dir %s' to see what a repair keeps and discards",
		e.File, e.Offset, e.Index, e.Highest, e.DataDir)
}

// walScan is what scanWAL found in every segment.
type walScan struct {
	segs []*segment
	// recs is every valid record found, in log order: the intact prefix,
	// then, after a damaged place, whatever valid records follow it.
	recs []walRecord
	// damage is the first damaged place that valid records follow (nil if
	// none); tornEnd..tornDirty is a damaged tail of the last segment that
	// nothing valid follows (a torn last write), to be zeroed.
	damage             *CorruptWALError
	tornEnd, tornDirty int64
}

// openWAL opens dir/wal and returns the valid records in it, ascending. A
// torn last write is zeroed so what is appended over it can never be
// followed by a stale fragment that looks valid.
func openWAL(dir string) (*wal, []walRecord, error) {
	if _, err := os.Stat(filepath.Join(dir, "wal.repair")); err == nil {
		return nil, nil, fmt.Errorf("%s exists: an amp repair-wal was interrupted; run 'amp repair-wal --data-dir %s --i-understand-data-loss' again", filepath.Join(dir, "wal.repair"), dir)
	}
	sc, err := scanWAL(dir, true)
	if err != nil {
		return nil, nil, err
	}
	if sc.damage != nil {
		for _, s := range sc.segs {
			s.f.Close()
		}
		return nil, nil, sc.damage
	}
	w := &wal{dir: filepath.Join(dir, "wal"), segs: sc.segs}
	if n := len(w.segs); n > 0 {
		last := w.segs[n-1]
		if sc.tornDirty > sc.tornEnd {
			if _, err := last.f.WriteAt(make([]byte, sc.tornDirty-sc.tornEnd), sc.tornEnd); err != nil {
				w.close()
				return nil, nil, fmt.Errorf("clear torn wal record: %w", err)
			}
			if err := last.f.Sync(); err != nil {
				w.close()
				return nil, nil, err
			}
		}
		// Only the last segment is appended to; earlier ones were complete
		// before the next was started.
		for _, s := range w.segs[:n-1] {
			s.f.Close()
			s.f = nil
		}
	}
	return w, sc.recs, nil
}

// scanWAL reads every segment of dir/wal (creating the directory if
// create). The segments come back open.
func scanWAL(dir string, create bool) (*walScan, error) {
	wdir := filepath.Join(dir, "wal")
	if create {
		if err := os.MkdirAll(wdir, 0o700); err != nil {
			return nil, fmt.Errorf("create wal dir: %w", err)
		}
	}
	names, err := filepath.Glob(filepath.Join(wdir, "*.wal"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	sc := &walScan{}
	fail := func(err error) (*walScan, error) {
		for _, s := range sc.segs {
			s.f.Close()
		}
		return nil, err
	}
	var prev uint64 // the newest index read so far
	for i, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".wal"), 16, 64)
		if err != nil {
			return fail(fmt.Errorf("wal segment %s: bad name", name))
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0o600)
		if err != nil {
			return fail(fmt.Errorf("open wal segment: %w", err))
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fail(err)
		}
		seg := &segment{path: name, first: first, f: f, size: st.Size()}
		sc.segs = append(sc.segs, seg)
		if i == 0 || prev == 0 {
			prev = first - 1
		}
		got, end, err := readSegment(f)
		if err != nil {
			return fail(fmt.Errorf("read wal segment %s: %w", name, err))
		}
		seg.off = end
		if len(got) > 0 && got[0].index != prev+1 && sc.damage == nil {
			// A segment is missing (readSegment checks the order within
			// one): the record that should be here would be at its start.
			sc.damage = &CorruptWALError{DataDir: dir, File: name, Offset: 0, Index: prev + 1}
		}
		for _, r := range got {
			sc.recs = append(sc.recs, r)
			seg.last, prev = r.index, r.index
		}
		dirty, err := dirtyEnd(f, end, seg.size)
		if err != nil {
			return fail(fmt.Errorf("read wal segment %s: %w", name, err))
		}
		if dirty == end {
			continue
		}
		// Something follows the intact records: look for valid records in it.
		after, err := resync(f, end, dirty, prev)
		if err != nil {
			return fail(fmt.Errorf("read wal segment %s: %w", name, err))
		}
		if sc.damage == nil {
			if len(after) == 0 && i == len(names)-1 {
				sc.tornEnd, sc.tornDirty = end, dirty
				continue
			}
			sc.damage = &CorruptWALError{DataDir: dir, File: name, Offset: end, Index: prev + 1}
		}
		for _, r := range after {
			sc.recs = append(sc.recs, r)
			seg.last, prev = r.index, r.index
		}
	}
	if d := sc.damage; d != nil {
		if prev < d.Index {
			// Nothing valid after the damage: only a torn last write can do
			// that, and it is not in the last segment (which ends intact).
			d.Highest = d.Index - 1
		} else {
			d.Highest = prev
		}
	}
	return sc, nil
}

// readSegment returns the records of a segment's intact prefix (each index
// one above the one before) and the offset after the last of them.
func readSegment(f *os.File) ([]walRecord, int64, error) {
	var out []walRecord
	var off int64
	hdr := make([]byte, walHeader)
	for {
		if _, err := f.ReadAt(hdr, off); err != nil {
			if errors.Is(err, io.EOF) {
				return out, off, nil
			}
			return nil, 0, err
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		if n == 0 {
			return out, off, nil
		}
		sum := binary.LittleEndian.Uint32(hdr[4:8])
		index := binary.LittleEndian.Uint64(hdr[8:16])
		if len(out) > 0 && index != out[len(out)-1].index+1 {
			return out, off, nil
		}
		payload := make([]byte, n)
		if _, err := f.ReadAt(payload, off+walHeader); err != nil {
			return out, off, nil // torn, or a damaged length
		}
		if crc32.Update(crc32.Checksum(hdr[8:16], crcTable), crcTable, payload) != sum {
			return out, off, nil
		}
		out = append(out, walRecord{index: index, payload: payload})
		off += walHeader + int64(n)
	}
}

// dirtyEnd returns the end of the last 64 KiB block of f in [from, size)
// that holds a non-zero byte, or from if every byte there is zero (the
// preallocation, as after a clean end).
func dirtyEnd(f *os.File, from, size int64) (int64, error) {
	const block = 64 << 10
	buf := make([]byte, block)
	zero := make([]byte, block)
	dirty := from
	for off := from; off < size; off += block {
		n := min(int64(block), size-off)
		if _, err := f.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if !bytes.Equal(buf[:n], zero[:n]) {
			dirty = off + n
		}
	}
	return dirty, nil
}

// resync looks in f[from:to] for valid records with indexes above prev,
// one after another as a log holds them, trying every offset: a damaged
// length says nothing about where the next record starts. The index window
// (no more records than fit in the bytes) keeps random bytes from costing
// a checksum each.
func resync(f *os.File, from, to int64, prev uint64) ([]walRecord, error) {
	buf := make([]byte, to-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	maxIndex := prev + uint64(len(buf))/walHeader + 1
	var out []walRecord
	for p := 0; p+walHeader <= len(buf); {
		n := int(binary.LittleEndian.Uint32(buf[p : p+4]))
		index := binary.LittleEndian.Uint64(buf[p+8 : p+16])
		if n == 0 || n > len(buf)-p-walHeader || index <= prev || index > maxIndex {
			p++
			continue
		}
		payload := buf[p+walHeader : p+walHeader+n]
		if crc32.Update(crc32.Checksum(buf[p+8:p+16], crcTable), crcTable, payload) != binary.LittleEndian.Uint32(buf[p+4:p+8]) {
			p++
			continue
		}
		out = append(out, walRecord{index: index, payload: append([]byte(nil), payload...)})
		prev = index
		p += walHeader + n
	}
	return out, nil
}

func (w *wal) newSegment(first uint64, need int64) error {
	size := int64(walSegmentSize)
	if need > size {
		size = need
	}
	name := filepath.Join(w.dir, fmt.Sprintf("%016x.wal", first))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create wal segment: %w", err)
	}
	// Preallocate so appends do not change the file size: fdatasync then
	// flushes only the data.
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return fmt.Errorf("size wal segment: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	if len(w.segs) > 0 {
		if a := w.segs[len(w.segs)-1]; a.f != nil {
			a.f.Close()
			a.f = nil
		}
	}
	w.segs = append(w.segs, &segment{path: name, first: first, f: f, size: size})
	return nil
}

// writeSynced writes b at off and waits for it to reach the disk.
func writeSynced(f *os.File, b []byte, off int64) error {
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return syscall.Fdatasync(int(f.Fd()))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// append writes records and syncs them: when it returns, they survive a
// crash of the process or the machine.
func (w *wal) append(recs []Commit) error {
	var need int64
	for _, c := range recs {
		need += walHeader + int64(len(c.Log))
	}
	if len(w.segs) == 0 || w.segs[len(w.segs)-1].f == nil || w.segs[len(w.segs)-1].off+need > w.segs[len(w.segs)-1].size {
		if err := w.newSegment(recs[0].Index, need); err != nil {
			return err
		}
	}
	seg := w.segs[len(w.segs)-1]
	buf := make([]byte, 0, need)
	for _, c := range recs {
		var hdr [walHeader]byte
		binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(c.Log)))
		binary.LittleEndian.PutUint64(hdr[8:16], c.Index)
		binary.LittleEndian.PutUint32(hdr[4:8], crc32.Update(crc32.Checksum(hdr[8:16], crcTable), crcTable, c.Log))
		buf = append(buf, hdr[:]...)
		buf = append(buf, c.Log...)
	}
	if w.broken != nil {
		return w.broken
	}
	if err := writeSynced(seg.f, buf, seg.off); err != nil {
		// The records were not acknowledged, but some of them may be on
		// disk: a later, shorter batch written over them would leave them
		// behind it, where a restart would read them as acknowledged. Zero
		// them, or take no more writes.
		if zerr := writeSynced(seg.f, make([]byte, len(buf)), seg.off); zerr != nil {
			w.broken = fmt.Errorf("wal: a failed write could not be cleared (%v); restart amp serve", zerr)
		}
		return fmt.Errorf("wal write: %w", err)
	}
	seg.off += need
	if seg.last == 0 && seg.first == 0 {
		seg.first = recs[0].Index
	}
	seg.last = recs[len(recs)-1].Index
	return nil
}

// release deletes the segments whose records are all at or below index
// (they are safely in bbolt). The active segment is kept.
func (w *wal) release(index uint64) {
	keep := w.segs[:0]
	for i, s := range w.segs {
		active := i == len(w.segs)-1
		if !active && s.last != 0 && s.last <= index {
			if s.f != nil {
				s.f.Close()
			}
			os.Remove(s.path)
			continue
		}
		keep = append(keep, s)
	}
	w.segs = keep
}

func (w *wal) close() error {
	var err error
	for _, s := range w.segs {
		if s.f != nil {
			err = errors.Join(err, s.f.Close())
			s.f = nil
		}
	}
	return err
}
