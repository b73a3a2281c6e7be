package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// check runs one probe and says whether it succeeded and what it saw.
func (r *Runner) check(ctx context.Context, spec wire.ProbeSpec) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(spec.Timeout))
	defer cancel()
	switch spec.Kind {
	case wire.ProbeHTTP:
		return httpCheck(ctx, spec)
	case wire.ProbeTCP:
		return tcpCheck(ctx, spec.Target, spec.SourceAddress)
	case wire.ProbeICMP:
		return icmpCheck(ctx, spec.Target, spec.SourceAddress)
	case wire.ProbeUserPlane:
		return reach(ctx, spec)
	case wire.ProbeControlPlane:
		if r.o.ReachAMP == nil {
			return false, "AMP: this agent has no link to check"
		}
		if err := r.o.ReachAMP(ctx); err != nil {
			return false, "AMP unreachable over the link: " + err.Error()
		}
		if spec.Target == "" {
			return true, "AMP reachable over the link"
		}
		ok, msg := reach(ctx, spec)
		return ok, "AMP reachable over the link; core: " + msg
	}
	return false, fmt.Sprintf("unknown kind %q", spec.Kind)
}

// reach checks a target given as an http(s) URL (GET) or as host:port
// (a TCP connection).
func reach(ctx context.Context, spec wire.ProbeSpec) (bool, string) {
	if wire.IsProbeURL(spec.Target) {
		return httpCheck(ctx, spec)
	}
	return tcpCheck(ctx, spec.Target, spec.SourceAddress)
}

// dialer sends from source when given (the UE-side path).
func dialer(source string) *net.Dialer {
	d := &net.Dialer{}
	if source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	return d
}

func tcpCheck(ctx context.Context, target, source string) (bool, string) {
	c, err := dialer(source).DialContext(ctx, "tcp", target)
	if err != nil {
		return false, "connect " + target + ": " + cause(err)
	}
	c.Close()
	return true, "connected to " + target
}

func httpCheck(ctx context.Context, spec wire.ProbeSpec) (bool, string) {
	tr := &http.Transport{DialContext: dialer(spec.SourceAddress).DialContext, Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec.Target, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "amp-agent-probe")
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return false, "GET " + spec.Target + ": " + cause(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // only the status matters
	resp.Body.Close()
	want := "2xx"
	ok := resp.StatusCode/100 == 2
	if spec.ExpectStatus != 0 {
		want = fmt.Sprint(spec.ExpectStatus)
		ok = resp.StatusCode == spec.ExpectStatus
	}
	if !ok {
		return false, fmt.Sprintf("GET %s: HTTP %d, want %s", spec.Target, resp.StatusCode, want)
	}
	return true, fmt.Sprintf("GET %s: HTTP %d", spec.Target, resp.StatusCode)
}

// icmpCheck sends one echo request on an unprivileged ICMP ("ping")
// socket: Linux lets a process open one when its group is within
// net.ipv4.ping_group_range, no root or CAP_NET_RAW needed. Where that is
// not allowed the probe fails and says how to allow it.
func icmpCheck(ctx context.Context, target, source string) (bool, string) {
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, target)
	if err != nil || len(addrs) == 0 {
		return false, "resolve " + target + ": " + cause(err)
	}
	ip := addrs[0].IP
	network, proto, local := "udp4", 1, "0.0.0.0"
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if ip.To4() == nil {
		network, proto, local, typ = "udp6", 58, "::", ipv6.ICMPTypeEchoRequest
	}
	if source != "" {
		local = source
	}
	c, err := icmp.ListenPacket(network, local)
	if err != nil {
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, os.ErrPermission) {
			return false, fmt.Sprintf("ICMP is not permitted to this agent (gid %d): unprivileged ping sockets need the group within "+
				"net.ipv4.ping_group_range (sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"); use a tcp or http probe otherwise", os.Getgid())
		}
		return false, "open an ICMP socket: " + err.Error()
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl) //nolint:errcheck // a socket just opened
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: 1, Data: []byte("amp-probe")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return false, err.Error()
	}
	if _, err := c.WriteTo(b, &net.UDPAddr{IP: ip}); err != nil {
		return false, "send an echo to " + ip.String() + ": " + cause(err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return false, "no echo reply from " + ip.String() + ": " + cause(err)
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		if m.Type == ipv4.ICMPTypeEchoReply || m.Type == ipv6.ICMPTypeEchoReply {
			return true, "echo reply from " + ip.String()
		}
	}
}

// cause is an error without the URL and operation the net package
// repeats.
func cause(err error) string {
	if err == nil {
		return "no answer"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}
