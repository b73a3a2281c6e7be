// Package provisionapi is the "provision" layer of the REST API: the routes
// the inventory model set's descriptor (compat: [provision, edge]) adds beyond
// the generic ones (docs/provisioning.md). It joins the REST API by
// registering with internal/api/compat at init; cmd/amp imports it.
// Every route authorizes what it touches through the host, so it is
// authenticated, limited and audited like the generic ones.
package provisionapi

import "github.com/amp-edge/amp/internal/api/compat"

// Name is the layer's name, as the inventory set's descriptor names it.
const Name = "provision"

func init() {
	compat.Register(compat.Layer{Name: Name, Routes: routes(), Spec: spec, Metrics: registerMetrics})
}

// routes gathers each feature's routes (one file per feature).
func routes() []compat.Route {
	var rs []compat.Route
	rs = append(rs, viewRoutes()...)
	rs = append(rs, conventionsRoutes()...)
	rs = append(rs, importRoutes()...)
	rs = append(rs, artifactRoutes()...)
	rs = append(rs, ipamRoutes()...)
	rs = append(rs, clusterRoutes()...)
	return rs
}
