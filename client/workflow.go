package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Workflow is a durable workflow run (GET /workflows/{id}).
type Workflow struct {
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	Subject  string          `json:"subject,omitempty"`
	State    string          `json:"state"`
	Step     string          `json:"step,omitempty"`
	Waiting  string          `json:"waiting,omitempty"`
	Attempts int             `json:"attempts,omitempty"`
	NextAt   time.Time       `json:"next-at,omitzero"`
	Reason   string          `json:"reason,omitempty"`
	Created  time.Time       `json:"created"`
	Updated  time.Time       `json:"updated"`
	History  []WorkflowEvent `json:"history,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// WorkflowEvent is one step outcome of a run.
type WorkflowEvent struct {
	At      time.Time `json:"at"`
	Step    string    `json:"step"`
	Outcome string    `json:"outcome"`
	Note    string    `json:"note,omitempty"`
}

// Workflows lists the runs, newest first (kind "": all): GET /workflows.
func (c *Client) Workflows(ctx context.Context, kind string) ([]Workflow, error) {
	q := url.Values{}
	if kind != "" {
		q.Set("kind", kind)
	}
	var out struct {
		Workflows []Workflow `json:"workflows"`
	}
	err := c.getJSON(ctx, "/workflows", q, &out)
	return out.Workflows, err
}

// Workflow reads one run: GET /workflows/{id}.
func (c *Client) Workflow(ctx context.Context, id string) (*Workflow, error) {
	var w Workflow
	return &w, c.getJSON(ctx, "/workflows/"+url.PathEscape(id), nil, &w)
}

// CancelWorkflow asks for a run to be cancelled: POST /workflows/{id}/cancel.
func (c *Client) CancelWorkflow(ctx context.Context, id string) error {
	_, _, err := c.Do(ctx, http.MethodPost, "/workflows/"+url.PathEscape(id)+"/cancel", nil, map[string]any{}, "")
	return err
}

// ApproveRollout approves the gate a rollout waits at: POST
// /fleet/rollouts/{id}/approve. It answers the partition it lets start.
func (c *Client) ApproveRollout(ctx context.Context, id string) (int, error) {
	b, _, err := c.Do(ctx, http.MethodPost, "/fleet/rollouts/"+url.PathEscape(id)+"/approve", nil, map[string]any{}, "")
	if err != nil {
		return 0, err
	}
	var a struct{ Partition int }
	return a.Partition, json.Unmarshal(b, &a)
}

// RollbackRollout puts back the clusters a rollout moved: POST
// /fleet/rollouts/{id}/rollback. It answers the workflow run doing it.
func (c *Client) RollbackRollout(ctx context.Context, id string) (string, error) {
	b, _, err := c.Do(ctx, http.MethodPost, "/fleet/rollouts/"+url.PathEscape(id)+"/rollback", nil, map[string]any{}, "")
	if err != nil {
		return "", err
	}
	var a struct{ Workflow string }
	return a.Workflow, json.Unmarshal(b, &a)
}
