package connlimit

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// refused reads amp_http_connections_refused_total{reason} from reg.
func refused(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "amp_http_connections_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no refusal counter for %s", reason)
	return 0
}

func (l *Listener) openNow() int { l.mu.Lock(); defer l.mu.Unlock(); return l.open }

// serve accepts on l and holds every connection until the client closes it.
func serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
	}
}

// closedByServer reports whether the server closed c, without a byte,
// within wait: long where a close is expected (it comes at once; the wait
// only bounds a failure), short where the connection should stay open.
func closedByServer(t *testing.T, c net.Conn, wait time.Duration) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF
}

const open, closed = 200 * time.Millisecond, 10 * time.Second

func TestPerSource(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	l := Wrap(inner, 3, 2, reg)
	defer l.Close()
	go serve(l)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	if closedByServer(t, a, open) || closedByServer(t, b, open) {
		t.Fatal("connections within the per-source cap were closed")
	}
	if c := dial(); !closedByServer(t, c, closed) {
		t.Fatal("a third connection from one source was served")
	}
	if got := refused(t, reg, "per-source"); got != 1 {
		t.Fatalf("per-source refusals %v, want 1", got)
	}
	a.Close()
	// The server side notices the close when its read ends.
	for deadline := time.Now().Add(10 * time.Second); l.openNow() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("closed connection never released")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := dial(); closedByServer(t, c, open) {
		t.Fatal("a freed place was not reused")
	}
}

func TestTotalCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	l := Wrap(inner, 1, 0, reg)
	defer l.Close()
	go serve(l)
	a, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if closedByServer(t, a, open) || !closedByServer(t, b, closed) {
		t.Fatal("the total cap of 1 was not applied")
	}
	if got := refused(t, reg, "total"); got != 1 {
		t.Fatalf("total refusals %v, want 1", got)
	}
}

func TestSourceIPv6Prefix(t *testing.T) {
	a := source(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::1"), Port: 1})
	b := source(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9"), Port: 2})
	c := source(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 3})
	if a != b || a == c {
		t.Fatalf("IPv6 sources by /64: %s %s %s", a, b, c)
	}
	if got := source(&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 9}); got != "192.0.2.7" {
		t.Fatalf("IPv4 source %s", got)
	}
}
