package link

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// PushProbes sends probe results (oldest first) and returns how many AMP
// took (one older than a probe's last result is not).
func (c *Client) PushProbes(ctx context.Context, results []wire.ProbeResult) (int, error) {
	var a wire.ProbePushAnswer
	if _, err := c.call(ctx, http.MethodPost, c.clusterPath("/probes"), nil, wire.ProbePush{Results: results}, &a, http.StatusOK); err != nil {
		return 0, err
	}
	return a.Accepted, nil
}

// Reach checks, once and without retrying, that AMP answers over the
// link (GET /healthz with the pinned CA): the control-plane probe's
// first half.
func (c *Client) Reach(ctx context.Context) error {
	_, err := c.once(ctx, http.MethodGet, "/healthz", nil, nil, nil, []int{http.StatusOK})
	return err
}

// PushLogs sends a Loki push body of the agent's own log lines, which AMP
// labels with the cluster, its site and enterprise and relays to the log
// store; an error (AMP or the store away) leaves the batch to the caller.
func (c *Client) PushLogs(ctx context.Context, body []byte) error {
	_, err := c.call(ctx, http.MethodPost, c.clusterPath("/logs"), nil, json.RawMessage(body), nil, http.StatusOK)
	return err
}
