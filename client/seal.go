package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// SealKey fetches a cluster's active sealing certificate (PEM):
// GET /clusters/{name}/seal-key. The first request makes the cluster's
// first key.
func (c *Client) SealKey(ctx context.Context, cluster string) ([]byte, error) {
	b, _, err := c.Do(ctx, http.MethodGet, "/clusters/"+url.PathEscape(cluster)+"/seal-key", nil, nil, "")
	return b, err
}

// SealKeyRenewal is what renewing a cluster's sealing key made.
type SealKeyRenewal struct {
	Cluster     string `json:"cluster"`
	Fingerprint string `json:"fingerprint"`
	Created     string `json:"created"`
	Keys        int    `json:"keys"`
}

// RenewSealKey gives a cluster a new active sealing key:
// POST /clusters/{name}/seal-key/renew.
func (c *Client) RenewSealKey(ctx context.Context, cluster string) (*SealKeyRenewal, error) {
	var out SealKeyRenewal
	b, _, err := c.Do(ctx, http.MethodPost, "/clusters/"+url.PathEscape(cluster)+"/seal-key/renew", nil, map[string]any{}, "application/json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("the renewal's answer: %w", err)
	}
	return &out, nil
}
