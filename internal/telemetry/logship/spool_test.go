package logship_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/telemetry"
	"github.com/amp-edge/amp/internal/telemetry/logship"
)

// store is a sink that keeps what it is sent, decoded as AMP decodes it,
// and can be made to fail, refuse or hang.
type store struct {
	mu     sync.Mutex
	down   bool
	refuse string        // a body holding it is refused
	hang   chan struct{} // non-nil: a push waits until it is closed
	bodies []int         // sizes of the bodies taken
	lines  []string
}

func (s *store) sink(ctx context.Context, body []byte) error {
	s.mu.Lock()
	hang, down, refuse := s.hang, s.down, s.refuse
	s.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if down {
		return errors.New("unreachable")
	}
	if refuse != "" && strings.Contains(string(body), refuse) {
		return fmt.Errorf("%w: 400 Bad Request", logship.ErrRefused)
	}
	p, err := logship.DecodePush(body, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", logship.ErrRefused, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, len(body))
	for _, st := range p.Streams {
		for _, v := range st.Values {
			s.lines = append(s.lines, v[1])
		}
	}
	return nil
}

func (s *store) set(f func(*store)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *store) taken() (lines []string, bodies []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...), append([]int(nil), s.bodies...)
}

// TestLoggingNeverWaitsForTheSink: while a flush waits on a push that
// does not return (a link gone silent), the logger keeps logging, the
// lines past its in-memory share going to the spool; all are delivered,
// in order, once the push returns.
func TestLoggingNeverWaitsForTheSink(t *testing.T) {
	st := &store{down: true}
	sh, err := logship.New(logship.Options{Sink: st.sink, Dir: t.TempDir(), MaxBatchLines: 10, SendTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	log := telemetry.NewLogger(sh)
	for i := 0; i < 10; i++ {
		log.Info("line", "seq", i)
	}
	if err := sh.Flush(context.Background()); err == nil {
		t.Fatal("a flush to a store that is down succeeded")
	}
	release := make(chan struct{})
	st.set(func(s *store) { s.down, s.hang = false, release })
	flushed := make(chan error, 1)
	go func() { flushed <- sh.Flush(context.Background()) }()

	logged := make(chan struct{})
	go func() {
		for i := 10; i < 100; i++ { // past 4 batches: spilled to the spool
			log.Info("line", "seq", i)
		}
		close(logged)
	}()
	select {
	case <-logged:
	case <-time.After(30 * time.Second):
		t.Fatal("logging waited for a push that does not return")
	}
	close(release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := sh.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines, _ := st.taken()
	if len(lines) != 100 {
		t.Fatalf("%d lines delivered, want 100", len(lines))
	}
	for i, l := range lines {
		if !strings.Contains(l, fmt.Sprintf(`"seq":%d}`, i)) {
			t.Fatalf("line %d delivered is %s", i, l)
		}
	}
}

// TestBatchesBoundedInBytes: however many lines wait — sent at once or
// spilled to the spool while the store is down — no push body is larger
// than MaxBatchBytes, so a receiver's body limit (AMP's 4 MiB) never
// refuses one; a line over MaxLineBytes is cut, and still delivered.
func TestBatchesBoundedInBytes(t *testing.T) {
	const maxBody = 16 << 10
	st := &store{down: true}
	dir := t.TempDir()
	sh, err := logship.New(logship.Options{Sink: st.sink, Dir: dir, MaxBatchLines: 1000, MaxBatchBytes: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	log := telemetry.NewLogger(sh)
	pad := strings.Repeat(`"quoted" `, 40)
	for i := 0; i < 5000; i++ { // spilled: more than 4 batches of lines
		log.Info("line", "seq", i, "pad", pad)
	}
	log.Info("huge", "seq", 5000, "pad", strings.Repeat("x", logship.MaxLineBytes+1000))
	sh.Flush(context.Background())
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if info, _ := de.Info(); info.Size() > maxBody && !strings.HasSuffix(de.Name(), "-1.json") { // a line over the bound goes alone
			t.Fatalf("spooled batch %s of %d bytes, bound %d", de.Name(), info.Size(), maxBody)
		}
	}
	st.set(func(s *store) { s.down = false })
	if err := sh.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines, bodies := st.taken()
	if len(lines) != 5001 {
		t.Fatalf("%d lines delivered, want 5001", len(lines))
	}
	for _, n := range bodies {
		if n > maxBody && n > logship.MaxLineBytes+1024 { // the cut line, alone
			t.Fatalf("a push body of %d bytes, bound %d", n, maxBody)
		}
	}
	if huge := lines[5000]; len(huge) > logship.MaxLineBytes || !strings.HasSuffix(huge, "[cut]") {
		t.Fatalf("the long line delivered: %d bytes, ends %q", len(huge), huge[len(huge)-20:])
	}
}

// TestRefusedBatchDoesNotBlockTheSpool: a spooled batch the receiver
// refuses as it is (ErrRefused) is dropped and counted; the batches
// behind it are delivered.
func TestRefusedBatchDoesNotBlockTheSpool(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := &store{down: true, refuse: "poison"}
	dir := t.TempDir()
	sh, err := logship.New(logship.Options{Sink: st.sink, Dir: dir, MaxBatchLines: 10, Metrics: logship.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	log := telemetry.NewLogger(sh)
	for _, msg := range []string{"poison", "good", "good"} {
		for i := 0; i < 10; i++ {
			log.Info(msg, "i", i)
		}
		sh.Flush(context.Background())
	}
	st.set(func(s *store) { s.down = false })
	if err := sh.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines, _ := st.taken()
	if len(lines) != 20 {
		t.Fatalf("%d lines delivered, want the 20 behind the refused batch", len(lines))
	}
	if d := testutil.ToFloat64(metric(t, reg, "amp_log_dropped_lines_total")); d != 10 {
		t.Fatalf("%v lines counted dropped, want the refused 10", d)
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Fatalf("%d batches left in the spool", len(des))
	}
}
