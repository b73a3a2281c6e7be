// Package provision is the wing of the `inventory` model set (book
// chapter 3, resource provisioning; docs/provisioning.md). The set itself
// is YANG (models/inventory); this tree holds the code that works from it,
// one job per package:
//
//   - inventory: reads the set out of a snapshot into typed values;
//   - rules: the set's invariants across objects (rack positions, cables,
//     MACs, addresses in their VLAN's prefix, template interfaces),
//     registered with the engine at init;
//   - provisionapi: the "provision" layer the set's descriptor names, the
//     REST routes beyond the generic ones (IPAM, /provision/…), registered
//     with internal/api/compat at init.
//
// The generic layers never import it: cmd/amp does, for its effect.
package provision
