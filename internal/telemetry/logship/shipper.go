package logship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sink sends one push body (JSON Push) to the store, or to AMP that
// relays it; an error leaves the batch to be resent.
type Sink func(ctx context.Context, body []byte) error

// Defaults of Options.
const (
	DefaultFlushEvery    = time.Second
	DefaultMaxBatchLines = 5000
	// DefaultMaxBatchBytes keeps a push under AMP's default threshold of a
	// large request body (1 MiB, which needs one of a few shared slots)
	// and far under its bound of a write (4 MiB, refused past it).
	DefaultMaxBatchBytes = 1000 << 10
	DefaultMaxSpoolBytes = 256 << 20
)

// ErrRefused marks a sink's error for a batch the receiver refuses as it
// is (malformed, too large): resending it cannot succeed, so it is
// dropped and counted rather than left to block the spool. Any other
// error leaves the batch to be resent.
var ErrRefused = errors.New("the batch was refused")

// Options configure a Shipper.
type Options struct {
	// Labels are every stream's fixed labels (a line's component is
	// added); low cardinality by design: no per-line values.
	Labels map[string]string
	Sink   Sink
	// Dir is the spool directory (created if absent): batches not yet
	// delivered, kept across restarts.
	Dir           string
	MaxSpoolBytes int64
	FlushEvery    time.Duration
	MaxBatchLines int
	// MaxBatchBytes bounds one push body (and spooled batch); a line
	// longer than MaxLineBytes is cut to it first.
	MaxBatchBytes int
	// SendTimeout bounds one push (default 30s).
	SendTimeout time.Duration
	Metrics     *Metrics // nil: not counted
}

// Shipper batches lines and ships them; see the package comment.
type Shipper struct {
	o    Options
	kick chan struct{}

	mu      sync.Mutex
	pending []entry

	flushMu sync.Mutex // one flush at a time sends

	// spoolMu guards the spool's files and counts; it is never held while
	// a batch is sent, so that a logger spilling to the spool never waits
	// for the network.
	spoolMu    sync.Mutex
	spoolBytes int64
	spoolLines int
	seq        uint64
	sending    string // the segment a drain is sending: not dropped meanwhile
}

type entry struct {
	ns        int64
	component string
	line      string
}

// New opens the spool (what an earlier run left there is sent first) and
// returns a Shipper; call Run to ship.
func New(o Options) (*Shipper, error) {
	if o.Sink == nil || o.Dir == "" {
		return nil, errors.New("logship: a sink and a spool directory are required")
	}
	if o.MaxSpoolBytes <= 0 {
		o.MaxSpoolBytes = DefaultMaxSpoolBytes
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.MaxBatchLines <= 0 {
		o.MaxBatchLines = DefaultMaxBatchLines
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("log spool: %w", err)
	}
	s := &Shipper{o: o, kick: make(chan struct{}, 1)}
	segs, err := s.segments()
	if err != nil {
		return nil, err
	}
	for _, g := range segs {
		s.spoolBytes += g.size
		s.spoolLines += g.lines
		s.seq = max(s.seq, g.seq)
	}
	s.o.Metrics.setBuffered(s.spoolLines)
	return s, nil
}

// Write takes one JSON log record (slog's JSON handler writes one per
// call). It never blocks on the sink: past four batches waiting, the
// waiting lines go to the spool at once.
func (s *Shipper) Write(p []byte) (int, error) {
	var rec struct {
		Time      string `json:"time"`
		Component string `json:"component"`
	}
	_ = json.Unmarshal(p, &rec) // a line that is not JSON is shipped as it is
	ns := time.Now().UnixNano()
	if t, err := time.Parse(time.RFC3339Nano, rec.Time); err == nil {
		ns = t.UnixNano()
	}
	line := strings.TrimRight(string(p), "\n")
	if len(line) > MaxLineBytes {
		// AMP refuses a push holding a longer line: cut, it still ships.
		line = strings.ToValidUTF8(line[:MaxLineBytes-len(cutMark)], "") + cutMark
	}
	e := entry{ns: ns, component: rec.Component, line: line}
	s.mu.Lock()
	s.pending = append(s.pending, e)
	n := len(s.pending)
	var spill []entry
	if n >= 4*s.o.MaxBatchLines {
		spill, s.pending = s.pending, nil
	}
	s.mu.Unlock()
	if spill != nil {
		for _, b := range s.encode(spill) {
			s.spool(b.body, b.lines)
		}
	}
	if n >= s.o.MaxBatchLines {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Run ships until ctx ends, then makes one last attempt and spools what
// it could not send.
func (s *Shipper) Run(ctx context.Context) error {
	t := time.NewTicker(s.o.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.Flush(last)
			cancel()
			return nil
		case <-t.C:
		case <-s.kick:
		}
		s.Flush(ctx)
	}
}

// cutMark ends a line cut to MaxLineBytes.
const cutMark = "…[cut]"

// Flush sends the spool, oldest first, then the lines waiting; what
// cannot be sent is spooled. It returns the first send error.
func (s *Shipper) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	err := s.drain(ctx)
	// The lines waiting are taken after the drain: those logged during
	// it go in this flush's batches, not a second later.
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, b := range s.encode(batch) {
		if err == nil {
			if err = s.send(ctx, b.body, b.lines); err == nil || errors.Is(err, ErrRefused) {
				err = nil
				continue
			}
		}
		s.spool(b.body, b.lines)
	}
	return err
}

// send pushes one body and counts it; a refused body is counted dropped
// and its error returned (wrapping ErrRefused).
func (s *Shipper) send(ctx context.Context, body []byte, lines int) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.SendTimeout)
	defer cancel()
	if err := s.o.Sink(ctx, body); err != nil {
		s.o.Metrics.failed()
		if errors.Is(err, ErrRefused) {
			s.o.Metrics.dropped(lines)
		}
		return err
	}
	s.o.Metrics.shipped(lines)
	return nil
}

// batch is one encoded push body and the lines it holds.
type batch struct {
	body  []byte
	lines int
}

// encode cuts lines into push bodies of at most MaxBatchLines lines and
// MaxBatchBytes bytes (a single line over it goes alone).
func (s *Shipper) encode(es []entry) []batch {
	var out []batch
	for len(es) > 0 {
		n, size := 0, 64
		for n < len(es) && n < s.o.MaxBatchLines {
			// The line as a JSON string, its timestamp and its labels'
			// share: an estimate, checked once encoded.
			add := len(es[n].line) + strings.Count(es[n].line, `"`) + 32
			if n > 0 && size+add > s.o.MaxBatchBytes {
				break
			}
			size += add
			n++
		}
		out = append(out, s.encodeFitting(es[:n])...)
		es = es[n:]
	}
	return out
}

// encodeFitting encodes es, halving it while the body is over
// MaxBatchBytes (escapes the estimate missed).
func (s *Shipper) encodeFitting(es []entry) []batch {
	body := s.encodeOne(es)
	if len(body) <= s.o.MaxBatchBytes || len(es) == 1 {
		return []batch{{body: body, lines: len(es)}}
	}
	return append(s.encodeFitting(es[:len(es)/2]), s.encodeFitting(es[len(es)/2:])...)
}

// encodeOne groups lines into streams by component.
func (s *Shipper) encodeOne(es []entry) []byte {
	var p Push
	at := map[string]int{}
	for _, e := range es {
		i, ok := at[e.component]
		if !ok {
			l := make(map[string]string, len(s.o.Labels)+1)
			for k, v := range s.o.Labels {
				l[k] = v
			}
			if e.component != "" {
				l["component"] = e.component
			}
			i = len(p.Streams)
			at[e.component] = i
			p.Streams = append(p.Streams, Stream{Labels: l})
		}
		p.Streams[i].Values = append(p.Streams[i].Values, [2]string{strconv.FormatInt(e.ns, 10), e.line})
	}
	b, _ := json.Marshal(p) // strings and maps only: cannot fail
	return b
}

// segment is one spooled batch: <seq>-<lines>.json.
type segment struct {
	path  string
	seq   uint64
	lines int
	size  int64
}

func (s *Shipper) segments() ([]segment, error) {
	des, err := os.ReadDir(s.o.Dir)
	if err != nil {
		return nil, fmt.Errorf("log spool: %w", err)
	}
	var out []segment
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), ".json")
		seqS, linesS, ok2 := strings.Cut(name, "-")
		seq, err1 := strconv.ParseUint(seqS, 10, 64)
		lines, err2 := strconv.Atoi(linesS)
		if !ok || !ok2 || err1 != nil || err2 != nil {
			continue // a temporary file of an interrupted spill, or not ours
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		out = append(out, segment{path: filepath.Join(s.o.Dir, de.Name()), seq: seq, lines: lines, size: info.Size()})
	}
	slices.SortFunc(out, func(a, b segment) int { return int(a.seq - b.seq) })
	return out, nil
}

// spool writes a batch to disk, dropping the oldest batches (counted)
// when the spool would outgrow its bound.
func (s *Shipper) spool(body []byte, lines int) {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if segs, err := s.segments(); err == nil {
		for _, g := range segs {
			if s.spoolBytes+int64(len(body)) <= s.o.MaxSpoolBytes {
				break
			}
			if g.path != s.sending && os.Remove(g.path) == nil {
				s.spoolBytes -= g.size
				s.spoolLines -= g.lines
				s.o.Metrics.dropped(g.lines)
			}
		}
	}
	if int64(len(body)) > s.o.MaxSpoolBytes || s.write(body, lines) != nil {
		s.o.Metrics.dropped(lines)
		return
	}
	s.spoolBytes += int64(len(body))
	s.spoolLines += lines
	s.o.Metrics.setBuffered(s.spoolLines)
}

// write puts one segment on disk, synced, under its final name.
func (s *Shipper) write(body []byte, lines int) error {
	s.seq++
	final := filepath.Join(s.o.Dir, fmt.Sprintf("%020d-%d.json", s.seq, lines))
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// drain sends the spooled batches, oldest first, removing each once
// delivered (or refused); it stops at the first other failure. Batches
// spilled while it runs are sent too, after the older ones.
func (s *Shipper) drain(ctx context.Context) error {
	for {
		g, ok, err := s.oldest()
		if err != nil || !ok {
			return err
		}
		body, err := os.ReadFile(g.path)
		if err == nil {
			err = s.send(ctx, body, g.lines)
		} else {
			err = fmt.Errorf("log spool: %w", err)
		}
		s.spoolMu.Lock()
		s.sending = ""
		if err == nil || errors.Is(err, ErrRefused) {
			if rerr := os.Remove(g.path); rerr != nil {
				s.spoolMu.Unlock()
				return fmt.Errorf("log spool: %w", rerr)
			}
			s.spoolBytes -= g.size
			s.spoolLines -= g.lines
			s.o.Metrics.setBuffered(s.spoolLines)
			err = nil
		}
		s.spoolMu.Unlock()
		if err != nil {
			return err
		}
	}
}

// oldest is the spool's oldest batch, marked as being sent.
func (s *Shipper) oldest() (segment, bool, error) {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if s.spoolLines == 0 && s.spoolBytes == 0 {
		return segment{}, false, nil
	}
	segs, err := s.segments()
	if err != nil || len(segs) == 0 {
		return segment{}, false, err
	}
	s.sending = segs[0].path
	return segs[0], true, nil
}
