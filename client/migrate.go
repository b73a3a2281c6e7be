package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// MigrateResult is the answer to MigrateModelSet: the migration's
// transaction, or with DryRun the changes it would make. It has a
// rollback's shape (both are one transaction built by the server).
type MigrateResult RollbackResult

// MigrateModelSet converts every object of version from of model set set
// into version to and moves it there, as one transaction (operators
// only). A conversion that fails is an *Error (400) whose Problems name
// the object and the reason; nothing is migrated.
func (c *Client) MigrateModelSet(ctx context.Context, set, from, to string, dryRun bool) (*MigrateResult, error) {
	q := url.Values{"from": {from}, "to": {to}}
	if dryRun {
		q.Set("dry-run", "true")
	}
	data, _, err := c.Do(ctx, http.MethodPost, "/models/"+url.PathEscape(set)+"/migrate", q, nil, "")
	if err != nil {
		return nil, err
	}
	var r MigrateResult
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode the migration's answer: %w", err)
	}
	r.DryRun = r.DryRun || dryRun
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	return &r, nil
}
