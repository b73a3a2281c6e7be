package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// ProvisionSite sends a site spec (JSON; docs/provisioning.md, "Site
// conventions") to POST /provision/sites: the site the conventions make of
// it is merged as one transaction (dryRun: only the diff).
func (c *Client) ProvisionSite(ctx context.Context, spec json.RawMessage, dryRun bool) (*WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/provision/sites", spec, dryRun, "application/json")
}

// SiteCheck is the answer of GET /provision/{site}/check.
type SiteCheck struct {
	Site  string `json:"site"`
	Index uint64 `json:"index"`
	// Departures from the conventions, each with the inventory path.
	Departures []Problem `json:"departures"`
}

// CheckSite asks for every departure of a site from the conventions.
func (c *Client) CheckSite(ctx context.Context, site string) (*SiteCheck, error) {
	var out SiteCheck
	if err := c.getJSON(ctx, "/provision/"+url.PathEscape(site)+"/check", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
