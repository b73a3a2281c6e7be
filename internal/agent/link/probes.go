package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/telemetry/logship"
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
// A batch AMP refuses as it is (400, 413) comes back wrapping
// logship.ErrRefused, so that the shipper drops it, counted, instead of
// resending it ahead of every later batch forever.
func (c *Client) PushLogs(ctx context.Context, body []byte) error {
	_, err := c.call(ctx, http.MethodPost, c.clusterPath("/logs"), nil, json.RawMessage(body), nil, http.StatusOK)
	var refusal *Error
	if errors.As(err, &refusal) && logship.RefusedStatus(refusal.Status) {
		return fmt.Errorf("%w: %w", logship.ErrRefused, err)
	}
	return err
}
