package link

import (
	"context"
	"net/http"
	"net/url"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// TakeQueries takes the queries AMP queued for the site's Prometheus
// (each is handed out once).
func (c *Client) TakeQueries(ctx context.Context) ([]wire.SiteQuery, error) {
	var qs wire.SiteQueries
	if _, err := c.call(ctx, http.MethodGet, c.clusterPath("/queries"), nil, nil, &qs, http.StatusOK); err != nil {
		return nil, err
	}
	return qs.Queries, nil
}

// AnswerQuery posts the site Prometheus's answer to query id.
func (c *Client) AnswerQuery(ctx context.Context, id string, a wire.SiteAnswer) error {
	_, err := c.call(ctx, http.MethodPost, c.clusterPath("/queries/"+url.PathEscape(id)), nil, a, nil, http.StatusNoContent)
	return err
}
