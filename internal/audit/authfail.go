package audit

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of AuthFailures (flags --auth-fail-limit, --auth-fail-window).
const (
	DefaultAuthFailLimit  = 100
	DefaultAuthFailWindow = time.Minute
	// maxFailSources bounds the sources followed at once; failures from
	// further sources share one entry ("other"), so an attacker with many
	// addresses cannot make the table grow.
	maxFailSources = 10000
	otherSources   = "other"
	failSamples    = 3
)

// AuthFailures counts failed authentications per source and window, so an
// unauthenticated peer can make the server neither store nor log without
// bound: the first failure of a source in a window is recorded at once,
// the rest as one record with their count and a few sample paths when the
// window ends. Over the limit, a source is told to wait (429). The records
// name no enterprise (an unauthenticated request has no tenant, whatever
// its path says): only operators see them.
type AuthFailures struct {
	log    *Log
	limit  int
	window time.Duration

	mu      sync.Mutex
	sources map[string]*failures
	stop    chan struct{}
	done    chan struct{}
}

type failures struct {
	iface       string
	first, last time.Time
	count       int // failures after the first (the first is recorded at once)
	paths       []string
	reason      string
}

func newAuthFailures(l *Log, limit int, window time.Duration) *AuthFailures {
	if limit <= 0 {
		limit = DefaultAuthFailLimit
	}
	if window <= 0 {
		window = DefaultAuthFailWindow
	}
	a := &AuthFailures{log: l, limit: limit, window: window, sources: map[string]*failures{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go a.sweeper()
	return a
}

// Fail counts one failed authentication of a request from addr (host:port)
// for path, and returns how long the source must wait before it may try
// again: 0 while it is within --auth-fail-limit failures per window.
func (a *AuthFailures) Fail(ctx context.Context, iface, addr, method, path, reason string) time.Duration {
	a.log.m.authFailures.Inc()
	src := sourceOf(addr)
	now := a.log.opts.Now()
	a.mu.Lock()
	f := a.sources[src]
	if f != nil && now.Sub(f.first) >= a.window {
		a.summarise(src, f) // its window is over
		delete(a.sources, src)
		f = nil
	}
	if f == nil {
		if len(a.sources) >= maxFailSources {
			src = otherSources
			f = a.sources[src]
		}
		if f == nil {
			a.sources[src] = &failures{iface: iface, first: now, last: now}
			a.mu.Unlock()
			a.log.Enqueue(ctx, Record{Source: src, Interface: iface, Action: "login", Method: method, Outcome: Denied, Reason: reason,
				Details: map[string]any{"path": truncate(path, maxPathLen), "failures": 1}})
			return 0
		}
	}
	f.count++
	f.last = now
	if len(f.paths) < failSamples {
		f.paths = append(f.paths, truncate(path, maxPathLen))
	}
	if f.reason == "" {
		f.reason = truncate(reason, maxReasonLen)
	}
	wait := time.Duration(0)
	if f.count+1 > a.limit {
		wait = max(f.first.Add(a.window).Sub(now), time.Second)
	}
	a.mu.Unlock()
	if wait > 0 {
		a.log.m.authLimited.Inc()
	}
	return wait
}

// summarise records the failures of src after its first (a.mu held).
func (a *AuthFailures) summarise(src string, f *failures) {
	if f.count == 0 {
		return
	}
	a.log.Enqueue(context.Background(), Record{Source: src, Interface: f.iface, Action: "login", Outcome: Denied,
		Reason:  fmt.Sprintf("%d more failed authentications from %s in %s (%s)", f.count, src, f.last.Sub(f.first).Round(time.Millisecond), f.reason),
		Details: map[string]any{"failures": f.count, "sample-paths": f.paths, "first": f.first.UTC().Format(time.RFC3339Nano), "last": f.last.UTC().Format(time.RFC3339Nano)}})
}

// sweeper records and forgets the sources whose window is over.
func (a *AuthFailures) sweeper() {
	defer close(a.done)
	t := time.NewTicker(max(a.window/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			a.sweep(true)
			return
		case <-t.C:
			a.sweep(false)
		}
	}
}

func (a *AuthFailures) sweep(all bool) {
	now := a.log.opts.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for src, f := range a.sources {
		if all || now.Sub(f.first) >= a.window || now.Before(f.first) {
			a.summarise(src, f)
			delete(a.sources, src)
		}
	}
}

func (a *AuthFailures) close() {
	close(a.stop)
	<-a.done
}

// sourceOf is the source a failure counts against: the host of addr, an
// IPv6 address by its /64 (one host usually holds a whole /64).
func sourceOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return truncate(host, maxNameLen)
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
