package server

import (
	"context"
	"net/netip"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/endpoint"
)

// DemoData is the demo data set amp serve --demo loads, given by the code
// that owns it (Config.DemoData, which cmd/amp sets), so the assembly
// names no model set.
type DemoData interface {
	// StartBackends serves the demo's backends in-process on addr, a
	// loopback address (port 0: a free one).
	StartBackends(addr string) (DemoBackends, error)
	// Load writes the demo data into an empty store; b is nil when no
	// backends run. It returns the transactions committed.
	Load(ctx context.Context, eng *config.Engine, b DemoBackends) (int, error)
}

// DemoBackends are the demo's backends, serving in-process.
type DemoBackends interface {
	// Address is the listener's: the one loopback address the backend
	// network policy lets AMP reach for the demo.
	Address() netip.AddrPort
	// Grants are the backends the demo's tenants are granted.
	Grants() []endpoint.Backend
	// Banner tells the user, on stderr, what serves there.
	Banner() string
	Close() error
}
