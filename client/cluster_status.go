package client

import (
	"context"
	"net/http"
)

// ClusterVersion names a desired state by index and digest.
type ClusterVersion struct {
	Index  uint64 `json:"index"`
	Digest string `json:"digest"`
}

// ClusterStatus is a cluster's agent link as AMP last heard it
// (GET /clusters/{name}/status, docs/agent.md).
type ClusterStatus struct {
	Cluster          string         `json:"cluster"`
	Site             string         `json:"site,omitempty"`
	Connected        bool           `json:"connected"`
	LastSeen         string         `json:"last-seen,omitempty"`
	AgentVersion     string         `json:"agent-version,omitempty"`
	ClockSkewSeconds int64          `json:"clock-skew-seconds"`
	Desired          ClusterVersion `json:"desired"`
	Applied          ClusterVersion `json:"applied"`
	// InSync: the agent holds the current desired state and reports every
	// object of it applied.
	InSync  bool     `json:"in-sync"`
	Objects int      `json:"objects"`
	Failed  []string `json:"failed"`
	// One cluster's detail: its report (facts), object states, last outage.
	Report       map[string]any   `json:"report,omitempty"`
	ObjectStates []map[string]any `json:"object-states,omitempty"`
	LastOutage   map[string]any   `json:"last-outage,omitempty"`
}

// ClusterStatus reads one cluster's link status, in detail.
func (c *Client) ClusterStatus(ctx context.Context, name string) (*ClusterStatus, error) {
	return doJSON[ClusterStatus](ctx, c, http.MethodGet, clusterPath(name, "/status"), nil)
}

// ClusterStatuses reads the link status of every cluster the caller may
// read.
func (c *Client) ClusterStatuses(ctx context.Context) ([]ClusterStatus, error) {
	out, err := doJSON[[]ClusterStatus](ctx, c, http.MethodGet, "/clusters/status", nil)
	if err != nil {
		return nil, err
	}
	return *out, nil
}
