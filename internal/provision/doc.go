// Package provision is the wing of the `inventory` model set (book
// chapter 3, resource provisioning; docs/provisioning.md). The set itself
// is YANG (models/inventory); this tree holds the code that works from it,
// one job per package:
//
//   - inventory: reads the set out of a snapshot into typed values;
//   - conventions: the book's conventions: a site spec made into the whole
//     site, and a site checked against them;
//   - netbox: reads a NetBox 4.x (its REST API or saved answers) and the
//     devicetype-library's YAML, and maps them onto the set for
//     `amp provision import`;
//   - render: the site's zero-touch artifacts (netplan, DHCP, DNS, …), one
//     renderer per file, rendered per site and cached by the site's scope;
//   - ipam: NetBox's available addresses, prefixes and VLAN ids, and
//     allocation from them as one transaction that retries when another
//     writer took the choice;
//   - cluster: clusters declared as code: the plan against what a cluster
//     reports, its agent's registration tokens and registration;
//   - rules: the set's invariants across objects (rack positions, cables,
//     MACs, addresses in their VLAN's prefix, template interfaces),
//     registered with the engine at init;
//   - provisionapi: the "provision" layer the set's descriptor names, the
//     REST routes beyond the generic ones (IPAM, /provision/…), registered
//     with internal/api/compat at init;
//   - rackview: the rack elevation (SVG), the cable report and the cable
//     trace of a site.
//
// The generic layers never import it: cmd/amp does, for its effect.
package provision
