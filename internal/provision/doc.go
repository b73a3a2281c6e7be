// Package provision is the wing of the `inventory` model set (book
// chapter 3, resource provisioning; docs/provisioning.md). The set itself
// is YANG (models/inventory); this tree holds the code that works from it,
// one job per package:
//
//   - inventory: reads the set out of a snapshot into typed values;
//   - cluster: clusters declared as code: the plan against what a cluster
//     reports, its agent's registration tokens and registration;
//   - provisionapi: the "provision" layer the set's descriptor names, the
//     REST routes beyond the generic ones (IPAM, /provision/…), registered
//     with internal/api/compat at init.
//
// The generic layers never import it: cmd/amp does, for its effect.
package provision
