package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/amp-edge/amp/internal/aether/emulator/sdcore"
	"github.com/amp-edge/amp/internal/endpoint"
)

// upfs are the UPFs of every demo site, one per slice: the real UPF holds
// one slice configuration (omec-project/upf), so slices sharing one would
// not each get their QoS.
var upfs = []string{"upf-1", "upf-2"}

// Backends are the demo's backends: AMP's strict emulators of SD-Core's
// configuration API (webconsole) and of the UPF's, in-process on one
// loopback listener. Each site has its own core at /<site>/core/config and
// one UPF configuration endpoint per UPF at /<site>/<upf>, so the demo
// shows the loop end to end with nothing else running.
type Backends struct {
	// URL is the listener's base URL (http://127.0.0.1:port).
	URL string
	// Addr is the listener's address: the only loopback address the
	// backend network policy lets AMP connect to for the demo.
	Addr netip.AddrPort
	srv  *http.Server
	emus []*sdcore.Emulator
	stop chan struct{}
}

// StartBackends serves the demo's emulators on addr, which must be a
// loopback address (port 0 picks a free one).
func StartBackends(addr string) (*Backends, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo backends: %w", err)
	}
	ap, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil || !ap.Addr().IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("demo backends: %s is not a loopback address (the emulators are for this machine only)", addr)
	}
	b := &Backends{URL: "http://" + ln.Addr().String(), Addr: ap, stop: make(chan struct{})}
	mux := http.NewServeMux()
	mount := func(prefix string) {
		e := sdcore.NewHandler()
		b.emus = append(b.emus, e)
		mux.Handle(prefix+"/", http.StripPrefix(prefix, e))
	}
	for _, e := range enterprises {
		for _, s := range e.sites {
			mount("/" + s.id + "/core")
			for _, u := range upfs {
				mount("/" + s.id + "/" + u)
			}
		}
	}
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	go b.forgetRequests()
	return b, nil
}

// At returns Backends that do not run, whose URLs start with base: the
// demo data's endpoints for tests that render it without connecting.
func At(base string) *Backends { return &Backends{URL: base} }

// forgetRequests empties the emulators' request logs every minute: they
// keep every request for tests to inspect, and the demo may run for days.
func (b *Backends) forgetRequests() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			for _, e := range b.emus {
				e.ResetRequests()
			}
		}
	}
}

// Core is the core endpoint of a demo site.
func (b *Backends) Core(site string) string { return b.URL + "/" + site + "/core/config" }

// UPF is the configuration endpoint of a demo site's UPF.
func (b *Backends) UPF(site, upf string) string { return b.URL + "/" + site + "/" + upf }

// Grants are the demo backends as the operator declares them: each site's
// core and UPFs granted to the site's enterprise only.
func (b *Backends) Grants() []endpoint.Backend {
	var out []endpoint.Backend
	for _, e := range enterprises {
		for _, s := range e.sites {
			out = append(out, endpoint.Backend{Name: "demo-" + s.id + "-core", Kind: endpoint.Core, URL: b.Core(s.id), Enterprises: []string{e.id}})
			for _, u := range upfs {
				out = append(out, endpoint.Backend{Name: "demo-" + s.id + "-" + u, Kind: endpoint.UPF, URL: b.UPF(s.id, u), Enterprises: []string{e.id}})
			}
		}
	}
	return out
}

// Close stops the emulators.
func (b *Backends) Close() error {
	close(b.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
