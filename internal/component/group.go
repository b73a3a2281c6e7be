package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
)

// Component is one long-running part of amp serve.
type Component struct {
	// Name names the component in errors, logs, /readyz and metrics.
	Name string
	// Run runs until ctx ends (then it returns nil) or the component fails.
	Run func(ctx context.Context) error
	// Stop, when set, makes Run return (a server's graceful shutdown);
	// otherwise ending Run's ctx does.
	Stop func()
	// KeepServing: a failure of this component does not stop amp serve;
	// it marks the server not ready, naming the component and the cause,
	// until the server stops. Without it, the first failure stops every
	// component and amp serve exits with the error.
	KeepServing bool
}

// Group runs components together and answers whether the server is
// ready. Its zero value is not usable: see NewGroup.
type Group struct {
	log   *slog.Logger
	ready *prometheus.GaugeVec
	list  []Component

	mu       sync.Mutex
	notReady map[string]error // by component
}

// NewGroup returns an empty group whose readiness is exported as
// amp_component_ready on reg (nil: unregistered).
func NewGroup(log *slog.Logger, reg prometheus.Registerer) *Group {
	g := &Group{log: log, notReady: map[string]error{},
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "amp_component_ready",
			Help: "1 while a component of amp serve works, 0 while it marks the server not ready (see /readyz)."}, []string{"component"})}
	if reg != nil {
		reg.MustRegister(g.ready)
	}
	return g
}

// Add adds a component; Run starts it.
func (g *Group) Add(c Component) {
	g.list = append(g.list, c)
	g.ready.WithLabelValues(c.Name).Set(1)
}

// Report sets (err != nil) or clears (nil) the reason a component gives
// for the server not to take traffic: a component that watches something
// it cannot fix (the store out of reach) reports instead of failing.
func (g *Group) Report(name string, err error) {
	// The gauge changes under the lock too, so /readyz and amp_component_ready
	// never disagree for a reader between the two.
	g.mu.Lock()
	prev, was := g.notReady[name]
	failing := err != nil && (!was || prev.Error() != err.Error())
	recovered := err == nil && was
	if err != nil {
		g.notReady[name] = err
	} else {
		delete(g.notReady, name)
	}
	switch {
	case failing:
		g.ready.WithLabelValues(name).Set(0)
	case recovered:
		g.ready.WithLabelValues(name).Set(1)
	}
	g.mu.Unlock()
	switch {
	case failing:
		g.log.Error("component failing; the server is not ready", "component", name, "error", err)
	case recovered:
		g.log.Info("component works again; the server is ready", "component", name)
	}
}

// Ready is nil when every component works, else an error naming each
// failing component and its cause (the /readyz answer).
func (g *Group) Ready() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.notReady) == 0 {
		return nil
	}
	names := make([]string, 0, len(g.notReady))
	for n := range g.notReady {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + g.notReady[n].Error()
	}
	return errors.New(strings.Join(parts, "; "))
}

// Run runs every component until ctx ends, then stops them all and
// returns nil; or until a component without KeepServing returns, then
// stops the rest and returns its error prefixed with its name (a
// component that returns nil before ctx ends failed too: it stopped
// without being asked). Run returns once every component has returned.
func (g *Group) Run(ctx context.Context) error {
	var rg run.Group
	done, stop := context.WithCancel(ctx)
	defer stop()
	rg.Add(func() error { <-done.Done(); return nil }, func(error) { stop() })
	for _, c := range g.list {
		cctx, cancel := context.WithCancel(ctx)
		rg.Add(func() error {
			defer cancel()
			err := c.Run(cctx)
			if done.Err() != nil {
				return nil // asked to stop
			}
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			if c.KeepServing {
				g.Report(c.Name, err)
				<-done.Done()
				return nil
			}
			g.log.Error("component failed; stopping the server", "component", c.Name, "error", err)
			return fmt.Errorf("%s: %w", c.Name, err)
		}, func(error) {
			if c.Stop != nil {
				c.Stop()
			}
			cancel()
		})
	}
	return rg.Run()
}
