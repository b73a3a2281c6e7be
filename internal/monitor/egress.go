package monitor

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"github.com/amp-edge/amp/internal/endpoint"
)

// Egress is the policy for the addresses an enterprise's receivers make
// AMP's Alertmanager connect to (webhook and Slack-compatible URLs, an
// e-mail smarthost). Alertmanager sits on the operator's network, so a
// tenant's receiver aimed at loopback, a private network, link-local or
// the cloud's metadata service would have it call internal services on
// the tenant's behalf: those ranges (the backends' ones,
// endpoint.SpecialRange) and the names that always mean them are refused
// at commit unless the operator allows them with --alert-webhook-allow.
// The operator's own receiver (--alertmanager-operator-webhook) is not
// checked. A public name that resolves to an internal address is not
// caught here (Alertmanager resolves it, not AMP): restrict Alertmanager's
// egress too.
type Egress struct {
	nets  []netip.Prefix
	hosts map[string]bool
}

// Set adds one --alert-webhook-allow value: an address, a CIDR prefix or
// a host name (pflag.Value).
func (e *Egress) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if p, err := netip.ParsePrefix(item); err == nil {
			e.nets = append(e.nets, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(item); err == nil {
			e.nets = append(e.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		name := canonicalHost(item)
		if name == "" || strings.ContainsAny(name, "/:@ ") {
			return fmt.Errorf("%q is not an address, a CIDR prefix or a host name", item)
		}
		if e.hosts == nil {
			e.hosts = map[string]bool{}
		}
		e.hosts[name] = true
	}
	return nil
}

// String lists the values (pflag.Value).
func (e *Egress) String() string {
	var out []string
	for _, p := range e.nets {
		out = append(out, p.String())
	}
	for h := range e.hosts {
		out = append(out, h)
	}
	return strings.Join(out, ",")
}

// Type names the flag's values in --help (pflag.Value).
func (e *Egress) Type() string { return "hosts-or-CIDRs" }

var numericHost = regexp.MustCompile(`^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$`)

// localNames always mean the host itself or the cloud's metadata service.
var localNames = []string{"localhost", "metadata", "metadata.google.internal", "instance-data"}

func canonicalHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// CheckHost says why Alertmanager must not connect to host (a URL's host
// or a smarthost's, without its port) for an enterprise, or "" when it
// may.
func (e *Egress) CheckHost(host string) string {
	h := canonicalHost(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if e != nil && e.hosts[h] {
		return ""
	}
	if a, err := netip.ParseAddr(h); err == nil {
		a = a.Unmap().WithZone("")
		if e != nil {
			for _, p := range e.nets {
				if p.Contains(a) {
					return ""
				}
			}
		}
		if what, special := endpoint.SpecialRange(a); special {
			return fmt.Sprintf("%s is a %s address, which an enterprise's receiver may not reach (the operator can allow it with --alert-webhook-allow)", a, what)
		}
		return ""
	}
	if numericHost.MatchString(h) {
		// 0x7f.1, 2130706433, 127.1, 0177.0.0.1: forms a C resolver
		// (inet_aton) still reads as an IPv4 address.
		return fmt.Sprintf("%q is a numeric host in a form that hides its address: write the address in dotted decimal", host)
	}
	for _, l := range localNames {
		if h == l || strings.HasSuffix(h, "."+l) {
			return fmt.Sprintf("%q names the host itself or the cloud's metadata service, which an enterprise's receiver may not reach (the operator can allow it with --alert-webhook-allow)", host)
		}
	}
	return ""
}

// CheckURL is CheckHost on an http(s) URL's host; a URL that does not
// parse is left to the URL's own check.
func (e *Egress) CheckURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return e.CheckHost(u.Hostname())
}

// CheckSmarthost is CheckHost on an e-mail receiver's host:port.
func (e *Egress) CheckSmarthost(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return e.CheckHost(host)
}
