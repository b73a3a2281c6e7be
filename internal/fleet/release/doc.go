// Package release turns the fleet's staged deployments into Helm releases
// at the sites (docs/lifecycle.md, "Releases at the site"): the edge
// source of kind helm-release gives a cluster's agent one object per
// bundle staged for it, and the fleet-charts service (leading replica
// only) prepares the charts those objects name — packaged from the
// bundle's path in the config repo at the staged commit, or downloaded
// from its chart repository — checked (they load and render) and kept by
// content in the store's metadata (edge.PutChart), so a site needs no
// route to the git server or the chart repository.
package release
