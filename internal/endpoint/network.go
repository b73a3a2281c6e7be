package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// special are the address ranges AMP does not connect to unless the
// operator allows them: a backend URL (or a name that resolves, perhaps
// only later, to one of these) would otherwise let whoever chooses it reach
// AMP's own host, the cloud's metadata service or the operator's internal
// network.
var special = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/3"), "multicast or reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64 (reaches IPv4)"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local (fd00:ec2::254 is cloud metadata)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Network decides which addresses AMP may connect to. Every connection to
// a backend is checked on the address it actually dials, after DNS
// resolution, so a name that resolves to an allowed address at grant time
// and to a forbidden one later (DNS rebinding) is still refused.
type Network struct {
	allow []netip.Prefix
	mu    sync.RWMutex
	exact map[netip.AddrPort]bool
	// refused counts connections refused, by the range they aimed at.
	refused *prometheus.CounterVec
}

// NewNetwork returns the policy: public addresses, plus the prefixes the
// operator allows (--backend-allow-net). reg may be nil.
func NewNetwork(allow []netip.Prefix, reg prometheus.Registerer) *Network {
	n := &Network{allow: allow, exact: map[netip.AddrPort]bool{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_backend_connect_refused_total",
			Help: "Connections to backends AMP refused because of the address they resolved to, by range."}, []string{"range"})}
	if reg != nil {
		reg.MustRegister(n.refused)
	}
	return n
}

// ParsePrefixes parses --backend-allow-net values: CIDR prefixes or single
// addresses.
func ParsePrefixes(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR prefix", v)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// AllowExact lets AMP connect to exactly this address and port whatever
// its range: the demo's in-process emulators on loopback, and nothing else
// there.
func (n *Network) AllowExact(ap netip.AddrPort) {
	n.mu.Lock()
	n.exact[netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())] = true
	n.mu.Unlock()
}

// Check says whether AMP may connect to ap.
func (n *Network) Check(ap netip.AddrPort) error {
	// Unmapped (::ffff:127.0.0.1 is 127.0.0.1) and without its zone
	// (Prefix.Contains never matches a zoned address: fe80::1%eth0 would
	// pass as public).
	a := ap.Addr().Unmap().WithZone("")
	n.mu.RLock()
	ok := n.exact[netip.AddrPortFrom(a, ap.Port())]
	n.mu.RUnlock()
	if ok {
		return nil
	}
	for _, p := range n.allow {
		if p.Contains(a) {
			return nil
		}
	}
	if what, ok := SpecialRange(a); ok {
		n.refused.WithLabelValues(what).Inc()
		return fmt.Errorf("%w: %s is a %s address (the operator can allow it with --backend-allow-net)", ErrAddressRefused, a, what)
	}
	return nil
}

// SpecialRange says whether a is in one of the ranges AMP refuses unless
// the operator allows them (loopback, private, link-local and cloud
// metadata, …), and which: the backends' policy, and the one the
// enterprises' alert webhooks are checked against.
func SpecialRange(a netip.Addr) (what string, ok bool) {
	a = a.Unmap().WithZone("")
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.what, true
		}
	}
	return "", false
}

// ErrAddressRefused is wrapped by the error of a connection the network
// policy refused.
var ErrAddressRefused = errors.New("connection refused by AMP's backend network policy")

// control runs on every socket before it connects, with the resolved
// address.
func (n *Network) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse the address %q", ErrAddressRefused, address)
	}
	return n.Check(ap)
}

// Dialer returns a dialer that refuses forbidden addresses.
func (n *Network) Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: n.control}
}

// DialContext dials through Dialer (for gRPC's WithContextDialer).
func (n *Network) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return n.Dialer().DialContext(ctx, network, addr)
}

// HTTPClient returns a client for backends: every connection checked, no
// proxy from the environment (a proxy would connect on AMP's behalf,
// unchecked), and redirects not followed (a backend's answer must not send
// AMP somewhere else).
func (n *Network) HTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = n.Dialer().DialContext
	return &http.Client{Timeout: timeout, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
