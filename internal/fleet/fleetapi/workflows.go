package fleetapi

import (
	"errors"
	"net/http"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/workflow"
)

// workflowRoutes show the durable workflows (the rollouts' runs) and
// cancel one. Operators only: the policy is asked about the fleet set's
// root, read to see, write to cancel (audited).
func workflowRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /workflows", Name: "workflows", Handler: listWorkflows},
		{Pattern: "GET /workflows/{id}", Name: "workflows", Handler: getWorkflow},
		{Pattern: "POST /workflows/{id}/cancel", Name: "workflows", Handler: cancelWorkflow},
	}
}

func workflowPath(id string) string { return "/workflows/" + schema.EscapeSegment(id) }

func workflows(h compat.Host) *workflow.Engine { return workflow.For(h.Engine(), h.Metrics()) }

// runSummary is a run as listed: without its data and its history (GET
// /workflows/{id} has them).
type runSummary struct {
	*workflow.Run
	Data    any `json:"data,omitempty"`
	History any `json:"history,omitempty"`
}

func listWorkflows(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	if err := h.Authorize(r, auth.Read, schema.RESTBase(set(h))); err != nil {
		return err
	}
	runs, err := workflows(h).List()
	if err != nil {
		return err
	}
	kind := r.URL.Query().Get("kind")
	out := []runSummary{}
	for _, run := range runs {
		if kind == "" || run.Kind == kind {
			out = append(out, runSummary{Run: run})
		}
	}
	return h.WriteJSON(w, http.StatusOK, map[string]any{"workflows": out})
}

func getWorkflow(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	if err := h.Authorize(r, auth.Read, schema.RESTBase(set(h))); err != nil {
		return err
	}
	id := r.PathValue("id")
	run, err := workflows(h).Get(id)
	if errors.Is(err, workflow.ErrNotFound) {
		return schema.Errorf(schema.KindNotFound, workflowPath(id), "no workflow run %q", id)
	}
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, run)
}

func cancelWorkflow(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	if err := h.Authorize(r, auth.Write, schema.RESTBase(set(h))); err != nil {
		return err
	}
	id := r.PathValue("id")
	h.Touch(r, workflowPath(id))
	run, err := workflows(h).Cancel(id, "cancelled by "+caller(r))
	switch {
	case errors.Is(err, workflow.ErrNotFound):
		return schema.Errorf(schema.KindNotFound, workflowPath(id), "no workflow run %q", id)
	case errors.Is(err, workflow.ErrEnded):
		return schema.Errorf(schema.KindConflict, workflowPath(id), "workflow run %q has ended (%s): there is nothing to cancel", id, run.State)
	case err != nil:
		return err
	}
	return h.WriteJSON(w, http.StatusAccepted, map[string]any{"id": id, "note": "cancel requested: the run stops before its next step", "run": run})
}

// caller names who asks, for a run's history.
func caller(r *http.Request) string {
	if p := auth.FromContext(r.Context()); p != nil && p.Name != "" {
		return p.Name
	}
	return "an unnamed caller"
}
