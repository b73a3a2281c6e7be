// Package component holds the named parts of `amp serve`: the southbound
// adapters that register themselves with their flags (as k3s registers its
// drivers), and the run group that runs every long-running part, so that the
// first to fail stops the rest, or marks the server not ready, and nothing
// dies silently.
//
// An adapter's package registers it from init; cmd/amp imports the package
// for that effect. internal/server never names an adapter: it builds the
// ones the flags select and runs each under a controller.
package component

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/endpoint"
	"github.com/amp-edge/amp/internal/schema"
)

// Env is what amp serve hands an adapter it builds.
type Env struct {
	Engine   *config.Engine
	Schema   *schema.Schema
	Network  *endpoint.Network     // every backend connection goes through it
	Backends *endpoint.Registry    // the operator's backends and their grants
	Metrics  prometheus.Registerer // the server's registry, for a service's amp_ metrics
	DataDir  string                // the server's data directory, for a service's caches on disk
}

// trails holds the audit trail amp serve bound to each engine.
var trails sync.Map // *config.Engine → *audit.Log

// BindTrail makes Submit record eng's service writes in trail (amp serve
// binds its trail at start; without one, as in tests, nothing is recorded).
func BindTrail(eng *config.Engine, trail *audit.Log) { trails.Store(eng, trail) }

// Submit commits req on eng as a service's own write (a workflow's step,
// a key renewal) and records it in the audit trail, as REST and gNMI
// record their callers' writes: every write is audited, whoever makes it.
// A record lost to a crash before it reached the disk is recovered from
// the transaction log at the next start, as for any write.
func Submit(ctx context.Context, eng *config.Engine, req *config.Request) (*config.Result, error) {
	res, err := eng.Submit(ctx, req)
	t, ok := trails.Load(eng)
	if err != nil || !ok || res.DryRun || res.Unchanged {
		return res, err
	}
	var paths []string
	if rec, err := eng.Transaction(res.Index); err == nil { // the paths as the history shows them
		for _, c := range eng.Changes(rec) {
			paths = append(paths, c.Path)
		}
	}
	t.(*audit.Log).Enqueue(ctx, audit.Record{Principal: req.Principal, Interface: audit.Service, Action: "write",
		Paths: paths, Transaction: res.Index, Outcome: audit.Allowed, Reason: req.Message,
		Details: map[string]any{"source": req.Source}})
	return res, nil
}

// Service is a long-running part of amp serve that a model set's wing
// registers from init (the fleet's git poller): amp serve runs it in its
// group, on one replica at a time when replicas share a store.
type Service struct {
	Name string
	// New builds the service's run function.
	New func(env Env) func(ctx context.Context) error
}

var services struct {
	mu   sync.Mutex
	list []Service
}

// RegisterService adds a service amp serve runs.
func RegisterService(s Service) {
	services.mu.Lock()
	defer services.mu.Unlock()
	services.list = append(services.list, s)
}

// Services returns the registered services.
func Services() []Service {
	services.mu.Lock()
	defer services.mu.Unlock()
	return slices.Clone(services.list)
}

// Adapter is one southbound adapter's registration.
type Adapter struct {
	// Name is the adapter's name in --adapters, status, metrics and logs.
	Name string
	// Flags adds the adapter's own flags to amp serve's flag set (nil:
	// none); the values are bound to the adapter's package.
	Flags func(fs *pflag.FlagSet)
	// Default: the adapter runs unless --adapters says otherwise.
	Default bool
	// Enabled, when set, decides from the adapter's own flags whether it
	// runs (the gNMI push adapter: a --gnmi-push-config was given), and
	// the adapter is not named in --adapters. Unset, --adapters decides.
	Enabled func() bool
	// New builds the adapter, and what to do when amp serve stops (nil:
	// nothing). An error stops amp serve before it serves.
	New func(env Env) (controller.Adapter, func(), error)
}

// Registry is a set of registered adapters and the --adapters choice.
type Registry struct {
	mu       sync.Mutex
	adapters []Adapter
	selected []string // --adapters
}

// Default is the registry adapters register with from init.
var Default = &Registry{}

// Register adds an adapter to the Default registry; a second adapter of
// the same name is a programming error.
func Register(a Adapter) { Default.Register(a) }

// Register adds an adapter.
func (r *Registry) Register(a Adapter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.Name == "" || a.New == nil {
		panic("component: an adapter needs a name and a New")
	}
	for _, b := range r.adapters {
		if b.Name == a.Name {
			panic("component: adapter " + a.Name + " registered twice")
		}
	}
	r.adapters = append(r.adapters, a)
	slices.SortFunc(r.adapters, func(x, y Adapter) int { return strings.Compare(x.Name, y.Name) })
}

// listed returns the names --adapters chooses from and, of them, those
// that run by default.
func (r *Registry) listed() (names, defaults []string) {
	for _, a := range r.adapters {
		if a.Enabled != nil {
			continue
		}
		names = append(names, a.Name)
		if a.Default {
			defaults = append(defaults, a.Name)
		}
	}
	return names, defaults
}

// AddFlags adds --adapters (its choices and default taken from the
// registered adapters) and every adapter's own flags to fs.
func (r *Registry) AddFlags(fs *pflag.FlagSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names, defaults := r.listed()
	fs.StringSliceVar(&r.selected, "adapters", defaults,
		"southbound adapters to run: "+strings.Join(names, ", ")+", or none (status: GET /sync-status)")
	for _, a := range r.adapters {
		if a.Flags != nil {
			a.Flags(fs)
		}
	}
}

// Enabled returns the adapters the flags select, in name order: those
// named in --adapters ("none" or "" name nothing) and those whose own
// flags enable them. An unknown name in --adapters is an error naming the
// known ones.
func (r *Registry) Enabled() ([]Adapter, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names, _ := r.listed()
	want := map[string]bool{}
	for _, n := range r.selected {
		switch {
		case n == "" || n == "none":
		case slices.Contains(names, n):
			want[n] = true
		default:
			return nil, fmt.Errorf("--adapters: unknown adapter %q (known: %s)", n, strings.Join(append(names, "none"), ", "))
		}
	}
	var out []Adapter
	for _, a := range r.adapters {
		if (a.Enabled == nil && want[a.Name]) || (a.Enabled != nil && a.Enabled()) {
			out = append(out, a)
		}
	}
	return out, nil
}
