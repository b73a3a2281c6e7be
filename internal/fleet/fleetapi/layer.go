// Package fleetapi is the "fleet" layer of the REST API: the routes the
// fleet model set's descriptor (compat: [fleet]) adds beyond the generic
// ones (docs/lifecycle.md): the repos' secrets and the git webhook. It
// joins the REST API by registering with internal/api/compat at init, and
// brings the set's commit rules (internal/fleet) along; cmd/amp imports
// it. Every route authorizes what it touches through the host, except the
// webhook, which its signature authenticates.
package fleetapi

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/fleet/gitsource"
	"github.com/amp-edge/amp/internal/fleet/rollout"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/workflow"

	// The fleet set's invariants (a depends-on cycle), enforced at commit.
	"github.com/amp-edge/amp/internal/fleet"
)

// Name is the layer's name, as the fleet set's descriptor names it.
const Name = "fleet"

func init() {
	// The poller: the fallback for lost webhooks (docs/lifecycle.md).
	component.RegisterService(component.Service{Name: "fleet-git", New: func(env component.Env) func(ctx context.Context) error {
		repos := gitsource.ReposFor(env.Engine, gitsource.MetricsFor(env.Metrics))
		repos.CacheUnder(env.DataDir)
		return repos.Run
	}})
	compat.Register(compat.Layer{Name: Name, Routes: routes(), Spec: spec, Metrics: func(reg prometheus.Registerer) {
		gitsource.MetricsFor(reg)
		workflow.MetricsFor(reg)
		rollout.MetricsFor(reg)
	}})
}

// routes gathers each feature's routes (one file per feature).
func routes() []compat.Route {
	var rs []compat.Route
	rs = append(rs, secretRoutes()...)
	rs = append(rs, hookRoutes()...)
	rs = append(rs, workflowRoutes()...)
	rs = append(rs, rolloutRoutes()...)
	return rs
}

// set is the newest fleet set loaded.
func set(h compat.Host) *schema.ModelSet { return h.Schema().Set(fleet.SetName, "") }
