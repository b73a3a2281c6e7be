// Package netlimit caps the connections a listener hands to its server: in
// total and per source IP address, so that one peer (or a crowd) cannot
// hold every file descriptor and the memory each connection costs before it
// has said who it is; and bounds the attempts per source address of the
// routes that take no credential (Limiter). It imports only the standard
// library.
package netlimit

import (
	"net"
	"sync"
)

// Refusal reasons passed to Options.Refused.
const (
	ReasonTotal     = "connections"
	ReasonPerSource = "connections_per_source"
)

// Options are a Listener's limits.
type Options struct {
	// Max bounds the open connections in total (0 = no bound).
	Max int
	// PerSource bounds the open connections from one source: an IPv4
	// address or an IPv6 /64 (0 = no bound).
	PerSource int
	// Refused, when set, is told of each connection closed at accept, with
	// ReasonTotal or ReasonPerSource (for a metric).
	Refused func(reason string)
}

// Listener is a net.Listener that closes, at once, each accepted
// connection over a limit and keeps accepting; the server above it never
// sees those.
type Listener struct {
	net.Listener
	opts Options

	mu    sync.Mutex
	total int
	by    map[string]int // source IP -> open connections
}

// Wrap limits l with opts.
func Wrap(l net.Listener, opts Options) *Listener {
	return &Listener{Listener: l, opts: opts, by: map[string]int{}}
}

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c.RemoteAddr())
		if reason := l.admit(src); reason != "" {
			// Counted before the close, so that whoever sees the
			// connection end also sees it counted.
			if l.opts.Refused != nil {
				l.opts.Refused(reason)
			}
			_ = c.Close()
			continue
		}
		return &conn{Conn: c, release: func() { l.release(src) }}, nil
	}
}

// Open returns the number of open connections (for tests and gauges).
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// admit counts a new connection from src, or says which limit it is over.
func (l *Listener) admit(src string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.Max > 0 && l.total >= l.opts.Max {
		return ReasonTotal
	}
	if l.opts.PerSource > 0 && l.by[src] >= l.opts.PerSource {
		return ReasonPerSource
	}
	l.total++
	l.by[src]++
	return ""
}

func (l *Listener) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.by[src]--; l.by[src] <= 0 {
		delete(l.by, src) // the map holds only sources with open connections
	}
}

// sourceOf is the unit of the per-source cap: the IPv4 address of a, or
// its IPv6 /64 (one subscriber commonly holds a whole /64, so counting
// single IPv6 addresses would bound nothing). The port varies per
// connection, so it is not part of the source.
func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ta.IP.To4() == nil {
			return ta.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
		}
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// conn releases its slot once, on the first Close.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
