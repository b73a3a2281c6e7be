// Package edgeapi is the "edge" layer of the REST API: the central end of
// the agent link (docs/agent.md), the routes an edge agent calls over
// mutual TLS with its cluster's certificate. The inventory set's
// descriptor names it (compat: [provision, edge]) because that set holds
// the clusters the agents stand for; cmd/amp imports it. Every route
// authorizes what it touches through the host and the one policy (the
// agent role may reach its own cluster's routes only).
package edgeapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/probes"
)

// Name is the layer's name, as the inventory set's descriptor names it.
const Name = "edge"

func init() {
	compat.Register(compat.Layer{Name: Name, Routes: routes(), Spec: spec, Metrics: func(reg prometheus.Registerer) { edge.RegisterMetrics(reg); probes.RegisterMetrics(reg) }})
}

// routes gathers each feature's routes (one file per feature).
func routes() []compat.Route {
	var rs []compat.Route
	rs = append(rs, linkRoutes()...)
	rs = append(rs, certificateRoutes()...)
	rs = append(rs, chartRoutes()...)
	rs = append(rs, probeRoutes()...)
	rs = append(rs, queryRoutes()...)
	return rs
}
