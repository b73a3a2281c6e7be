package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Backup asks for a backup of the server's whole store (GET /admin/backup,
// operators only) and returns the stream, to be closed by the caller. A
// backup that fails part way ends without its end frame: read it with a
// backup reader (internal/backup, docs/backup.md), which refuses that.
func (c *Client) Backup(ctx context.Context) (io.ReadCloser, error) {
	if c.tlsErr != nil {
		return nil, c.tlsErr
	}
	u, err := c.url("/admin/backup", nil)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ctx.Err() == nil {
			return nil, fmt.Errorf("cannot reach the AMP server at %s: %v%s", c.BaseURL(), ue.Err, tlsHint(err))
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, parseError(resp, body)
	}
	return resp.Body, nil
}
