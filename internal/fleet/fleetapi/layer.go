// Package fleetapi is the "fleet" layer of the REST API: the routes the
// fleet model set's descriptor (compat: [fleet]) adds beyond the generic
// ones (docs/lifecycle.md). It joins the REST API by registering with
// internal/api/compat at init, and brings the set's commit rules
// (internal/fleet) along; cmd/amp imports it.
package fleetapi

import (
	"github.com/amp-edge/amp/internal/api/compat"

	// The fleet set's invariants (a depends-on cycle), enforced at commit.
	_ "github.com/amp-edge/amp/internal/fleet"
)

// Name is the layer's name, as the fleet set's descriptor names it.
const Name = "fleet"

// The layer has no routes of its own yet: it exists because the set's
// descriptor names it, and it brings the set's rules into the binary.
func init() {
	compat.Register(compat.Layer{Name: Name})
}
