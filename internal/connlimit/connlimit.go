// Package connlimit caps the connections a server holds open: in total and
// per source address, so that one peer (authenticated or not) cannot take
// every file descriptor. It wraps a net.Listener and imports nothing of
// AMP's.
package connlimit

import (
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Listener accepts connections from an inner listener while fewer than
// Total are open and fewer than PerSource from the connection's source IP;
// one over a cap is closed at once, before a byte of it is read.
type Listener struct {
	net.Listener
	total, perSource int

	mu    sync.Mutex
	open  int
	bySrc map[string]int
	m     *metrics
}

type metrics struct {
	open    prometheus.Gauge
	refused *prometheus.CounterVec
}

// Wrap caps ln at total open connections and perSource per source IP
// (zero or less: no cap). reg, when set, gets amp_http_connections_open
// and amp_http_connections_refused_total{reason="total|per-source"}.
func Wrap(ln net.Listener, total, perSource int, reg prometheus.Registerer) *Listener {
	m := &metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "amp_http_connections_open",
			Help: "REST connections open now."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_http_connections_refused_total",
			Help: "REST connections closed on arrival because a cap was reached: total (--max-conns) or per-source (--max-conns-per-source)."},
			[]string{"reason"}),
	}
	m.refused.WithLabelValues("total")
	m.refused.WithLabelValues("per-source")
	if reg != nil {
		reg.MustRegister(m.open, m.refused)
	}
	return &Listener{Listener: ln, total: total, perSource: perSource, bySrc: map[string]int{}, m: m}
}

// Accept returns the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := source(c.RemoteAddr())
		if reason := l.admit(src); reason != "" {
			l.m.refused.WithLabelValues(reason).Inc()
			_ = c.Close()
			continue
		}
		return &conn{Conn: c, l: l, src: src}, nil
	}
}

// admit counts a new connection from src, or says which cap it is over.
func (l *Listener) admit(src string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total > 0 && l.open >= l.total:
		return "total"
	case l.perSource > 0 && l.bySrc[src] >= l.perSource:
		return "per-source"
	}
	l.open++
	l.bySrc[src]++
	l.m.open.Set(float64(l.open))
	return ""
}

func (l *Listener) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.bySrc[src]--; l.bySrc[src] <= 0 {
		delete(l.bySrc, src)
	}
	l.m.open.Set(float64(l.open))
}

// source is the unit of the per-source cap: the IPv4 address of addr, or
// its IPv6 /64 (one subscriber commonly holds a whole /64).
func source(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		if ta.IP.To4() == nil {
			return ta.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
		}
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

type conn struct {
	net.Conn
	l    *Listener
	src  string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}
