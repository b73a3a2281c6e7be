// Package models holds the YANG modules AMP serves and validates
// against, embedded into the binary:
//
//   - aether/2.1.x: the Aether 2.1.x connectivity-service modules
//     (onf-aether-types, onf-application, onf-traffic-class, onf-template
//     and onf-site with its submodules);
//   - ietf: the RFC 6991 ietf-inet-types and ietf-yang-types modules
//     (revision 2013-07-15) they import;
//   - inventory/1.0.0: the operator's inventory of edge sites (book
//     chapter 3; docs/provisioning.md);
//   - fleet/1.0.0: lifecycle management, the config repos, bundles,
//     cluster groups and rollouts (book chapter 4; docs/lifecycle.md);
//   - monitor/1.0.0: alert rules, receivers, routes and dashboards per
//     enterprise (book chapter 6; docs/monitoring.md);
//   - amp: amp-extensions, AMP's own YANG extensions (ampx:immutable).
//
// Paths inside FS are relative to this directory, e.g.
// "aether/2.1.x/onf-site.yang". docs/models.md describes the models.
package models

import "embed"

// FS holds the aether, inventory, fleet, monitor, ietf and amp directories of YANG modules.
//
//go:embed aether inventory fleet monitor ietf amp
var FS embed.FS
