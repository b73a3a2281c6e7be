package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// IPAM: NetBox's available-ips, available-prefixes and available-vlans on
// the inventory set (docs/provisioning.md, "IPAM").

const inventoryBase = "/inventory/v1.0.0"

func prefixPath(site, prefix string) string {
	return inventoryBase + "/site/" + url.PathEscape(site) + "/prefix/" + url.PathEscape(prefix)
}

// FreeIP is a free address of a prefix.
type FreeIP struct {
	Address      string `json:"address"`
	PrefixLength int    `json:"prefix-length"`
}

// FreeIPs lists up to limit free addresses of a site's prefix, lowest
// first (limit 0: the server's default, 50).
func (c *Client) FreeIPs(ctx context.Context, site, prefix string, limit int) ([]FreeIP, error) {
	var out []FreeIP
	return out, c.getJSON(ctx, prefixPath(site, prefix)+"/available-ips", limitQuery(limit), &out)
}

// FreePrefixes lists the largest free blocks inside a site's prefix.
func (c *Client) FreePrefixes(ctx context.Context, site, prefix string) ([]string, error) {
	var out []struct {
		Prefix string `json:"prefix"`
	}
	if err := c.getJSON(ctx, prefixPath(site, prefix)+"/available-prefixes", nil, &out); err != nil {
		return nil, err
	}
	ps := make([]string, len(out))
	for i, p := range out {
		ps[i] = p.Prefix
	}
	return ps, nil
}

// Allocation is the answer of an allocation: the objects created (none
// for a dry run) or, for a dry run, the changes it would make.
type Allocation struct {
	Created []map[string]any
	DryRun  bool
	Changes []Change
	Index   uint64 // the transaction's
}

// NextIPs allocates one ip-address per item (its dns-name, device,
// interface, status, description) in the lowest free addresses of a
// site's prefix, as one transaction.
func (c *Client) NextIPs(ctx context.Context, site, prefix string, items []map[string]any, dryRun bool) (*Allocation, error) {
	return c.allocate(ctx, prefixPath(site, prefix)+"/available-ips", items, dryRun)
}

// NextPrefixes allocates one prefix per item (prefix-id and prefix-length,
// and the prefix's other leaves) in the lowest free blocks of a site's
// prefix, as one transaction.
func (c *Client) NextPrefixes(ctx context.Context, site, prefix string, items []map[string]any, dryRun bool) (*Allocation, error) {
	return c.allocate(ctx, prefixPath(site, prefix)+"/available-prefixes", items, dryRun)
}

func (c *Client) allocate(ctx context.Context, path string, items []map[string]any, dryRun bool) (*Allocation, error) {
	var q url.Values
	if dryRun {
		q = url.Values{"dry-run": {"true"}}
	}
	data, h, err := c.Do(ctx, http.MethodPost, path, q, items, "")
	if err != nil {
		return nil, err
	}
	a := &Allocation{DryRun: dryRun}
	if dryRun {
		var res WriteResult
		if err := json.Unmarshal(data, &res); err != nil {
			return nil, fmt.Errorf("decode the dry-run answer: %w", err)
		}
		a.Changes = res.Changes
		return a, nil
	}
	if err := json.Unmarshal(data, &a.Created); err != nil {
		return nil, fmt.Errorf("decode the answer of POST %s: %w", path, err)
	}
	a.Index, _ = strconv.ParseUint(h.Get("X-AMP-Transaction-Index"), 10, 64)
	return a, nil
}

func limitQuery(limit int) url.Values {
	if limit <= 0 {
		return nil
	}
	return url.Values{"limit": {strconv.Itoa(limit)}}
}
