package client

import (
	"context"
	"net/http"
	"net/url"
)

// PutFleetSecret sets the secret a fleet git-repo names by id (its
// webhook-secret or credentials): PUT /fleet/secrets/{id}. The server
// never answers it back.
func (c *Client) PutFleetSecret(ctx context.Context, id, secret string) error {
	_, _, err := c.Do(ctx, http.MethodPut, "/fleet/secrets/"+url.PathEscape(id), nil, map[string]string{"secret": secret}, "application/json")
	return err
}

// DeleteFleetSecret deletes a fleet secret: DELETE /fleet/secrets/{id}.
func (c *Client) DeleteFleetSecret(ctx context.Context, id string) error {
	_, _, err := c.Do(ctx, http.MethodDelete, "/fleet/secrets/"+url.PathEscape(id), nil, nil, "")
	return err
}
