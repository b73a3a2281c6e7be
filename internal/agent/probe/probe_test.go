package probe

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
)

func spec(t *testing.T, s wire.ProbeSpec) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateNamesTheField(t *testing.T) {
	sec := wire.Duration(time.Second)
	for _, c := range []struct {
		spec wire.ProbeSpec
		want string
	}{
		{wire.ProbeSpec{Kind: "ping", Interval: sec, Timeout: sec, Target: "x:1"}, "kind:"},
		{wire.ProbeSpec{Kind: wire.ProbeTCP, Interval: wire.Duration(time.Millisecond), Timeout: sec, Target: "x:1"}, "interval:"},
		{wire.ProbeSpec{Kind: wire.ProbeTCP, Interval: sec, Target: "x:1"}, "timeout:"},
		{wire.ProbeSpec{Kind: wire.ProbeUserPlane, Interval: sec, Timeout: sec}, "target: required"},
		{wire.ProbeSpec{Kind: wire.ProbeTCP, Interval: sec, Timeout: sec, Target: "no-port"}, "target:"},
		{wire.ProbeSpec{Kind: wire.ProbeHTTP, Interval: sec, Timeout: sec, Target: "ftp://x/"}, "target:"},
		{wire.ProbeSpec{Kind: wire.ProbeTCP, Interval: sec, Timeout: sec, Target: "x:1", SourceAddress: "eth0"}, "source-address:"},
	} {
		r := &Runner{}
		err := r.Validate("p", spec(t, c.spec))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.spec, err, c.want)
		}
	}
	for _, ok := range []wire.ProbeSpec{
		{Kind: wire.ProbeControlPlane, Interval: sec, Timeout: sec},
		{Kind: wire.ProbeUserPlane, Interval: sec, Timeout: sec, Target: "https://example.com/generate_204", SourceAddress: "127.0.0.1"},
		{Kind: wire.ProbeICMP, Interval: sec, Timeout: sec, Target: "127.0.0.1"},
	} {
		if err := (&Runner{}).Validate("p", spec(t, ok)); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

func TestChecks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := closed.Addr().String()
	closed.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	sec := wire.Duration(2 * time.Second)
	reachErr := errors.New("no route")
	r := &Runner{o: Options{ReachAMP: func(context.Context) error { return nil }}}
	down := &Runner{o: Options{ReachAMP: func(context.Context) error { return reachErr }}}
	for _, c := range []struct {
		r    *Runner
		spec wire.ProbeSpec
		ok   bool
		msg  string
	}{
		{r, wire.ProbeSpec{Kind: wire.ProbeHTTP, Target: srv.URL + "/", Timeout: sec}, true, "HTTP 204"},
		{r, wire.ProbeSpec{Kind: wire.ProbeHTTP, Target: srv.URL + "/", Timeout: sec, ExpectStatus: 200}, false, "HTTP 204, want 200"},
		{r, wire.ProbeSpec{Kind: wire.ProbeHTTP, Target: srv.URL + "/down", Timeout: sec}, false, "HTTP 503, want 2xx"},
		{r, wire.ProbeSpec{Kind: wire.ProbeTCP, Target: host, Timeout: sec, SourceAddress: "127.0.0.1"}, true, "connected to"},
		{r, wire.ProbeSpec{Kind: wire.ProbeTCP, Target: dead, Timeout: sec}, false, "connection refused"},
		{r, wire.ProbeSpec{Kind: wire.ProbeUserPlane, Target: srv.URL + "/", Timeout: sec}, true, "HTTP 204"},
		{r, wire.ProbeSpec{Kind: wire.ProbeUserPlane, Target: dead, Timeout: sec}, false, "connection refused"},
		{r, wire.ProbeSpec{Kind: wire.ProbeControlPlane, Timeout: sec}, true, "AMP reachable"},
		{r, wire.ProbeSpec{Kind: wire.ProbeControlPlane, Target: dead, Timeout: sec}, false, "AMP reachable over the link; core: connect"},
		{down, wire.ProbeSpec{Kind: wire.ProbeControlPlane, Timeout: sec}, false, "AMP unreachable over the link: no route"},
	} {
		ok, msg := c.r.check(context.Background(), c.spec)
		if ok != c.ok || !strings.Contains(msg, c.msg) {
			t.Errorf("%+v: %v %q, want %v %q", c.spec, ok, msg, c.ok, c.msg)
		}
	}
	// ICMP: either an echo reply from loopback (ping sockets allowed) or
	// the refusal saying how to allow them; never anything else.
	ok, msg := r.check(context.Background(), wire.ProbeSpec{Kind: wire.ProbeICMP, Target: "127.0.0.1", Timeout: sec})
	if ok != strings.Contains(msg, "echo reply from 127.0.0.1") || (!ok && !strings.Contains(msg, "net.ipv4.ping_group_range")) {
		t.Fatalf("icmp to loopback: %v %q", ok, msg)
	}
}

// pushRecorder is AMP's end as the runner sees it: it fails while down.
type pushRecorder struct {
	mu   sync.Mutex
	down bool
	got  []wire.ProbeResult
}

func (p *pushRecorder) push(_ context.Context, rs []wire.ProbeResult) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return errors.New("connection refused")
	}
	p.got = append(p.got, rs...)
	return nil
}

func (p *pushRecorder) results() []wire.ProbeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]wire.ProbeResult(nil), p.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBufferedWhileAMPIsDown: results taken while pushes fail are kept on
// disk (a new runner on the same directory has them) and pushed, oldest
// first, once AMP answers; a removed probe stops.
func TestBufferedWhileAMPIsDown(t *testing.T) {
	dir, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	amp := &pushRecorder{down: true}
	r, err := New(Options{Dir: dir, Push: amp.push})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := r.Apply(ctx, "core", spec(t, wire.ProbeSpec{Kind: wire.ProbeTCP, Target: ln.Addr().String(), Interval: wire.Duration(time.Second), Timeout: wire.Duration(time.Second)})); err != nil || !r.Running("core") {
		t.Fatalf("apply: %v", err)
	}
	waitFor(t, "two results kept on disk", func() bool {
		rs, err := dir.PendingProbes()
		return err == nil && len(rs) >= 2
	})
	// A second runner on the directory (the agent restarted) has them.
	r2, err := New(Options{Dir: dir})
	if err != nil || len(r2.pending) < 2 {
		t.Fatalf("after a restart: %d pending, %v", len(r2.pending), err)
	}
	amp.mu.Lock()
	amp.down = false
	amp.mu.Unlock()
	waitFor(t, "the buffered results pushed", func() bool {
		rs, _ := dir.PendingProbes()
		return len(amp.results()) >= 2 && len(rs) == 0
	})
	got := amp.results()
	for i := 1; i < len(got); i++ {
		if got[i].At.Before(got[i-1].At) {
			t.Fatalf("pushed out of order: %v", got)
		}
	}
	if got[0].Probe != "core" || !got[0].OK || got[0].Kind != wire.ProbeTCP {
		t.Fatalf("the first result: %+v", got[0])
	}
	if gone, err := r.Prune(ctx, map[string]bool{}); err != nil || len(gone) != 1 || gone[0] != "core" {
		t.Fatalf("prune: %v %v", gone, err)
	}
	n := len(amp.results())
	time.Sleep(1500 * time.Millisecond)
	if m := len(amp.results()); m > n+1 { // at most a run in flight when it stopped
		t.Fatalf("a pruned probe still runs: %d results after %d", m, n)
	}
}

func TestPendingIsBounded(t *testing.T) {
	dir, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Dir: dir, MaxPending: 20})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 30 {
		r.enqueue(wire.ProbeResult{Probe: "p", Kind: wire.ProbeTCP, At: start.Add(time.Duration(i) * time.Millisecond)})
	}
	rs, err := dir.PendingProbes()
	if err != nil || len(rs) != 20 || !rs[0].At.Equal(start.Add(10*time.Millisecond)) {
		t.Fatalf("%d kept (first at %v), %v", len(rs), rs[0].At, err)
	}
}
