// Package controller runs AMP's adapters: it follows the engine's watch,
// computes for each adapter the objects its backends should hold, pushes
// what differs, and records per object and backend the index applied and the
// last error. It is level-triggered: a full reconcile at start, after a gap
// in the watch, and when a backend restarts; retries back off exponentially
// with jitter; nothing is hidden: every object is in-sync, pending or error.
//
// It imports internal/config and internal/schema; adapters import it.
package controller

import (
	"context"

	"github.com/amp-edge/amp/internal/config"
)

// Desired is one object a backend should hold, as the adapter renders it.
type Desired struct {
	// Backend identifies the system that holds the object (e.g. the SD-Core
	// endpoint of a site, a UPF's config endpoint).
	Backend string
	// Body is the exact payload to push; two Desired with equal Body are the
	// same (the fingerprint), so unchanged objects are not pushed again.
	Body []byte
	// Sources are the config object keys (and enterprise) the object was
	// derived from, so its status can be shown on them.
	Sources []string
	// Err, when set, says why the object cannot be rendered (a SIM without
	// an IMSI, say): it is reported as the object's error and not pushed.
	Err string
	// Degraded, when set, says what of the configuration the backend
	// cannot hold even though it takes the object (several slices on a
	// UPF that keeps one slice configuration, say): once pushed, the
	// object's status is degraded with this message, never in-sync.
	Degraded string
	// DependsOn lists the ids (as Render keys them) of the objects to push
	// before this one: a slice names its device groups, a Helm release
	// the release installing its CRDs. The controller pushes an object
	// once no dependency's push is queued or under way, on whatever
	// backend, and deletes an object once no object the backend holds
	// that depends on it has a push or delete queued or under way (the
	// reverse order). Dependencies order, they do not gate: a dependency
	// that failed is retried on its own schedule while its dependents go
	// ahead. An id nothing renders, or a cycle, is an error on the
	// objects involved, which are then not pushed (docs/controllers.md).
	DependsOn []string
}

// Adapter translates AMP's configuration into one kind of backend.
//
// Render must be a pure function of the snapshot (and, for a Trigger, of
// the inputs it signals). Push and Delete talk to the backend and must be
// idempotent; the controller calls them from one goroutine per backend,
// with retries. A long Push or Delete may report how far it has come with
// Progress; an error it marks Terminal is not retried.
type Adapter interface {
	// Name is the adapter's name in status, metrics and logs ("sdcore").
	Name() string
	// Render returns every object the backends should hold, keyed by a
	// stable id unique within the adapter (e.g. "device-group/<backend>/<id>").
	Render(snap *config.Snapshot) map[string]Desired
	// Push creates or replaces one object in its backend.
	Push(ctx context.Context, id string, d Desired) error
	// Delete removes an object the backend should no longer hold.
	Delete(ctx context.Context, id string, backend string) error
	// Held returns the ids (as Render keys them) of the objects the backend
	// reports it holds. The controller probes every backend periodically:
	// an object it believes applied but the backend no longer holds means the
	// backend restarted or lost state, and the backend is resynced without
	// anyone asking. An error means the backend is unreachable.
	Held(ctx context.Context, backend string) (map[string]bool, error)
}

// Trigger is implemented by adapters whose rendering also depends on
// something besides the snapshot (the SD-Core adapter: the operator's
// backend grants). A receive from Changed (a fresh channel after each
// change) makes the controller render again.
type Trigger interface {
	Changed() <-chan struct{}
}

// Watcher is implemented by adapters that declare what they watch: object
// key prefixes ("net/", "net/2.0.x/acme/site/s1"). A transaction that
// changes nothing under them does not wake the adapter; one that does leads
// to a full render (level-triggered), diffed per object.
type Watcher interface {
	Watches() []string
}
