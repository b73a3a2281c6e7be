package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ArtifactInfo is one artifact of a site's listing.
type ArtifactInfo struct {
	Name        string `json:"name"`
	Size        int    `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content-type"`
	Changed     *bool  `json:"changed,omitempty"`
}

// ArtifactList is GET /provision/{site}/artifacts.
type ArtifactList struct {
	Site      string         `json:"site"`
	Index     uint64         `json:"index"`
	Artifacts []ArtifactInfo `json:"artifacts"`
	Since     *uint64        `json:"since,omitempty"`
	Removed   []string       `json:"removed,omitempty"`
}

// Artifacts lists a site's zero-touch artifacts; with since, each says
// whether it changed since that inventory index, and Removed names those
// no longer rendered.
func (c *Client) Artifacts(ctx context.Context, site string, since *uint64) (*ArtifactList, error) {
	q := url.Values{}
	if since != nil {
		q.Set("since", strconv.FormatUint(*since, 10))
	}
	var out ArtifactList
	if err := c.getJSON(ctx, "/provision/"+url.PathEscape(site)+"/artifacts", q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Artifact reads one artifact's content; the headers carry its ETag
// ("sha256:…") and Content-Type.
func (c *Client) Artifact(ctx context.Context, site, name string) ([]byte, http.Header, error) {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return c.Do(ctx, http.MethodGet, "/provision/"+url.PathEscape(site)+"/artifacts/"+strings.Join(segs, "/"), nil, nil, "")
}
