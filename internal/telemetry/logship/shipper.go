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
	DefaultMaxSpoolBytes = 256 << 20
)

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

	spoolMu    sync.Mutex // one flush or spill at a time touches the spool
	spoolBytes int64
	spoolLines int
	seq        uint64
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
	e := entry{ns: ns, component: rec.Component, line: strings.TrimRight(string(p), "\n")}
	s.mu.Lock()
	s.pending = append(s.pending, e)
	n := len(s.pending)
	var spill []entry
	if n >= 4*s.o.MaxBatchLines {
		spill, s.pending = s.pending, nil
	}
	s.mu.Unlock()
	if spill != nil {
		s.spool(s.encode(spill), len(spill))
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

// Flush sends the spool, oldest first, then the lines waiting; what
// cannot be sent is spooled. It returns the first send error.
func (s *Shipper) Flush(ctx context.Context) error {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	err := s.drain(ctx)
	for len(batch) > 0 {
		part := batch[:min(len(batch), s.o.MaxBatchLines)]
		batch = batch[len(part):]
		body := s.encode(part)
		if err == nil {
			if err = s.send(ctx, body, len(part)); err == nil {
				continue
			}
		}
		s.spool(body, len(part))
	}
	return err
}

// send pushes one body and counts it.
func (s *Shipper) send(ctx context.Context, body []byte, lines int) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.SendTimeout)
	defer cancel()
	if err := s.o.Sink(ctx, body); err != nil {
		s.o.Metrics.failed()
		return err
	}
	s.o.Metrics.shipped(lines)
	return nil
}

// encode groups lines into streams by component.
func (s *Shipper) encode(es []entry) []byte {
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
			if os.Remove(g.path) == nil {
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
// delivered; it stops at the first failure.
func (s *Shipper) drain(ctx context.Context) error {
	s.spoolMu.Lock()
	defer s.spoolMu.Unlock()
	if s.spoolLines == 0 && s.spoolBytes == 0 {
		return nil
	}
	segs, err := s.segments()
	if err != nil {
		return err
	}
	for _, g := range segs {
		body, err := os.ReadFile(g.path)
		if err != nil {
			return fmt.Errorf("log spool: %w", err)
		}
		if err := s.send(ctx, body, g.lines); err != nil {
			return err
		}
		if err := os.Remove(g.path); err != nil {
			return fmt.Errorf("log spool: %w", err)
		}
		s.spoolBytes -= g.size
		s.spoolLines -= g.lines
		s.o.Metrics.setBuffered(s.spoolLines)
	}
	return nil
}
