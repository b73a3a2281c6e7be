package netlimit

import (
	"net"
	"sync"
	"testing"
)

// TestLimits: connections over the per-source limit are closed at accept
// and counted; closing one frees its slot; the total limit holds too.
func TestLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	refused := map[string]int{}
	l := Wrap(ln, Options{Max: 3, PerSource: 2, Refused: func(r string) { mu.Lock(); refused[r]++; mu.Unlock() }})
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	a1, a2 := <-accepted, <-accepted
	// The third from the same source is closed by the listener: the client
	// reads EOF.
	c3 := dial()
	if _, err := c3.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection from one source was served")
	}
	mu.Lock()
	if refused[ReasonPerSource] != 1 {
		t.Fatalf("refusals %v, want one per-source", refused)
	}
	mu.Unlock()
	if l.Open() != 2 {
		t.Fatalf("open %d, want 2", l.Open())
	}
	a1.Close()
	a1.Close() // a second Close frees nothing more
	dial()
	<-accepted
	if l.Open() != 2 {
		t.Fatalf("open %d after close and redial, want 2", l.Open())
	}
	a2.Close()

	// The total limit: a listener with Max 1 and no per-source limit.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	l2 := Wrap(ln2, Options{Max: 1})
	defer l2.Close()
	go func() {
		for {
			if _, err := l2.Accept(); err != nil {
				return
			}
		}
	}()
	k1, _ := net.Dial("tcp", ln2.Addr().String())
	defer k1.Close()
	k2, _ := net.Dial("tcp", ln2.Addr().String())
	defer k2.Close()
	if _, err := k2.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection over the total limit was served")
	}
}

// TestSourceIPv6Prefix: IPv6 peers are counted by /64, IPv4 by address.
func TestSourceIPv6Prefix(t *testing.T) {
	a := sourceOf(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::1"), Port: 1})
	b := sourceOf(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9"), Port: 2})
	c := sourceOf(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 3})
	if a != b || a == c {
		t.Fatalf("IPv6 sources by /64: %s %s %s", a, b, c)
	}
	if got := sourceOf(&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 9}); got != "192.0.2.7" {
		t.Fatalf("IPv4 source %s", got)
	}
}
