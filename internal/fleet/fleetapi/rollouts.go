package fleetapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/fleet/dedicatedupf"
	"github.com/amp-edge/amp/internal/fleet/rollout"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/workflow"
)

func init() {
	// The workflow runner and the rollouts' controller: on the leading
	// replica only when replicas share a store (docs/lifecycle.md).
	component.RegisterService(component.Service{Name: "workflows", New: func(env component.Env) func(ctx context.Context) error {
		return workflow.For(env.Engine, env.Metrics).Run
	}})
	// A slice's dedicated UPF (docs/lifecycle.md).
	component.RegisterService(component.Service{Name: "fleet-dedicated-upf", New: func(env component.Env) func(ctx context.Context) error {
		c := &dedicatedupf.Controller{Engine: env.Engine, Workflow: workflow.For(env.Engine, env.Metrics),
			Log: slog.Default().With("component", "fleet-dedicated-upf")}
		return c.Run
	}})
	component.RegisterService(component.Service{Name: "fleet-rollouts", New: func(env component.Env) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			hub, err := edge.For(env.Engine, env.Metrics)
			if err != nil {
				return err
			}
			c := &rollout.Controller{Engine: env.Engine, Workflow: workflow.For(env.Engine, env.Metrics), Hub: hub,
				Metrics: rollout.MetricsFor(env.Metrics), Log: slog.Default().With("component", "fleet-rollouts")}
			return c.Run(ctx)
		}
	}})
}

// rolloutRoutes approve a rollout's gate and roll a rollout back by hand:
// writes of the rollout, as the policy decides (operators), audited.
func rolloutRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "POST /fleet/rollouts/{id}/approve", Name: "fleet-rollouts", Handler: approveRollout},
		{Pattern: "POST /fleet/rollouts/{id}/rollback", Name: "fleet-rollouts", Handler: rollbackRollout},
	}
}

// authorizeRollout asks the policy for a write of the rollout, names the
// request's own path in the audit record (what was done to the rollout)
// and checks that the rollout is declared.
func authorizeRollout(h compat.Host, r *http.Request, verb string) (string, string, error) {
	fs := set(h)
	id := r.PathValue("id")
	path := fleet.RolloutPath(fs, id)
	if err := h.Authorize(r, auth.Write, path); err != nil {
		return "", "", err
	}
	h.Touch(r, "/fleet/rollouts/"+schema.EscapeSegment(id)+"/"+verb)
	if _, ok := h.Engine().Snapshot().Get(fleet.RolloutKey(fs, id)); !ok {
		return "", "", schema.Errorf(schema.KindNotFound, path, "no rollout %q is declared", id)
	}
	return id, path, nil
}

func approveRollout(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id, path, err := authorizeRollout(h, r, "approve")
	if err != nil {
		return err
	}
	part, err := rollout.Approve(h.Engine(), workflows(h), id, caller(r))
	if err != nil {
		return rolloutError(path, id, err)
	}
	return h.WriteJSON(w, http.StatusOK, map[string]any{"rollout": id, "approved-by": caller(r), "partition": part,
		"note": "the partition starts when the stage's time window allows"})
}

func rollbackRollout(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id, path, err := authorizeRollout(h, r, "rollback")
	if err != nil {
		return err
	}
	run, err := rollout.Rollback(h.Engine(), workflows(h), id, caller(r))
	if err != nil {
		return rolloutError(path, id, err)
	}
	return h.WriteJSON(w, http.StatusAccepted, map[string]any{"rollout": id, "workflow": run.ID,
		"note": "the clusters the rollout moved go back to the version they had; see the rollout's status"})
}

func rolloutError(path, id string, err error) error {
	switch {
	case errors.Is(err, rollout.ErrNoRun):
		return schema.Errorf(schema.KindConflict, path, "rollout %q has not started yet", id)
	case errors.Is(err, rollout.ErrNotWaiting), errors.Is(err, rollout.ErrNothingBack):
		return schema.Errorf(schema.KindConflict, path, "%v", err)
	}
	return err
}
