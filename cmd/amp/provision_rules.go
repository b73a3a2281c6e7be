package main

// The inventory's invariants that span objects (rack positions, cables,
// MAC addresses, addresses in their VLAN's prefix, template interfaces),
// enforced by the engine at commit on every write path.
import _ "github.com/amp-edge/amp/internal/provision/rules"
