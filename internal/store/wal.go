package store

import (
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
// CRC: that is where the last write was torn (or the preallocated zeros
// begin), and everything before it was synced before it was acknowledged.

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
	hdrBuf []byte
}

// openWAL opens dir/wal and returns the valid records in it, ascending.
func openWAL(dir string) (*wal, []walRecord, error) {
	wdir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(wdir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create wal dir: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(wdir, "*.wal"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(names)
	w := &wal{dir: wdir}
	var recs []walRecord
	for i, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".wal"), 16, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("wal segment %s: bad name", name)
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("open wal segment: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			return nil, nil, err
		}
		seg := &segment{path: name, first: first, f: f, size: st.Size()}
		got, end, torn, err := readSegmentTorn(f)
		if err != nil {
			return nil, nil, fmt.Errorf("read wal segment %s: %w", name, err)
		}
		if torn > 0 && i == len(names)-1 {
			// Zero the torn record so what is appended over it can never be
			// followed by a stale fragment that looks valid.
			if torn > seg.size-end {
				torn = seg.size - end
			}
			if _, err := f.WriteAt(make([]byte, torn), end); err != nil {
				return nil, nil, fmt.Errorf("clear torn wal record: %w", err)
			}
			if err := f.Sync(); err != nil {
				return nil, nil, err
			}
		}
		for _, r := range got {
			if len(recs) > 0 && r.index != recs[len(recs)-1].index+1 {
				return nil, nil, fmt.Errorf("wal segment %s: index %d does not follow %d", name, r.index, recs[len(recs)-1].index)
			}
			recs = append(recs, r)
			seg.last = r.index
		}
		seg.off = end
		if i < len(names)-1 {
			// Only the last segment may have a torn tail; earlier ones were
			// complete before the next was started.
			f.Close()
			seg.f = nil
		}
		w.segs = append(w.segs, seg)
	}
	return w, recs, nil
}

// readSegment returns the valid records and the offset after the last one;
// torn is the length of a torn or corrupt record found there (to be zeroed
// before appending over it), 0 if the segment simply ends.
func readSegment(f *os.File) ([]walRecord, int64, error) {
	recs, end, _, err := readSegmentTorn(f)
	return recs, end, err
}

func readSegmentTorn(f *os.File) ([]walRecord, int64, int64, error) {
	var out []walRecord
	var off int64
	hdr := make([]byte, walHeader)
	for {
		if _, err := f.ReadAt(hdr, off); err != nil {
			if errors.Is(err, io.EOF) {
				return out, off, 0, nil
			}
			return nil, 0, 0, err
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		if n == 0 {
			return out, off, 0, nil
		}
		sum := binary.LittleEndian.Uint32(hdr[4:8])
		payload := make([]byte, n)
		if _, err := f.ReadAt(payload, off+walHeader); err != nil {
			return out, off, walHeader + int64(n), nil // torn: the write never completed
		}
		if crc32.Update(crc32.Checksum(hdr[8:16], crcTable), crcTable, payload) != sum {
			return out, off, walHeader + int64(n), nil
		}
		out = append(out, walRecord{index: binary.LittleEndian.Uint64(hdr[8:16]), payload: payload})
		off += walHeader + int64(n)
	}
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
	if _, err := seg.f.WriteAt(buf, seg.off); err != nil {
		return fmt.Errorf("wal write: %w", err)
	}
	if err := syscall.Fdatasync(int(seg.f.Fd())); err != nil {
		return fmt.Errorf("wal sync: %w", err)
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
