// Package monitorapi is the "monitor" layer of the REST API: the routes
// the monitor model set's descriptor (compat: [monitor]) adds beyond the
// generic ones — an enterprise's silences, kept in Alertmanager itself
// (docs/monitoring.md, "Silences"), its receivers' secrets, and PromQL
// queries over the central and the sites' Prometheus restricted to the
// caller's enterprise ("Queries", "Site queries"), dashboards exported for
// Grafana and their panels for the portal ("Dashboards"). It joins the
// REST API by registering with internal/api/compat at init and brings the
// set's wing
// (internal/monitor: commit checks and the adapter) along; cmd/amp
// imports it. Every route authorizes the enterprise it names through the
// host, as a write or a read of that enterprise's monitor configuration.
package monitorapi

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/api/compat"
)

// Name is the layer's name, as the monitor set's descriptor names it.
const Name = "monitor"

func init() {
	compat.Register(compat.Layer{Name: Name, Routes: slices.Concat(silenceRoutes(), secretRoutes(), queryRoutes(), logRoutes(), dashboardRoutes(), panelRoutes()), Spec: spec,
		Metrics: func(reg prometheus.Registerer) { metricsFor(reg) }})
}
