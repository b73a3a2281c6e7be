package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// PutMonitorSecret sets an enterprise's receiver secret (a
// Slack-compatible webhook's URL) that its receivers name by id: PUT
// /monitor/secrets/{enterprise}/{id}. The server never answers it back.
func (c *Client) PutMonitorSecret(ctx context.Context, enterprise, id, secret string) error {
	_, _, err := c.Do(ctx, http.MethodPut, monitorPath("secrets", enterprise, id), nil, map[string]string{"secret": secret}, "application/json")
	return err
}

// DeleteMonitorSecret deletes an enterprise's receiver secret.
func (c *Client) DeleteMonitorSecret(ctx context.Context, enterprise, id string) error {
	_, _, err := c.Do(ctx, http.MethodDelete, monitorPath("secrets", enterprise, id), nil, nil, "")
	return err
}

// SilenceMatcher is one matcher of a silence (Alertmanager's API v2).
type SilenceMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"`
}

// Silence is an enterprise's silence, as the server answers it.
type Silence struct {
	ID        string           `json:"id"`
	Matchers  []SilenceMatcher `json:"matchers"`
	StartsAt  string           `json:"startsAt"`
	EndsAt    string           `json:"endsAt"`
	CreatedBy string           `json:"createdBy"`
	Comment   string           `json:"comment"`
	Status    struct {
		State string `json:"state"`
	} `json:"status"`
}

// MonitorSilences lists an enterprise's silences: GET
// /monitor/silences/{enterprise}.
func (c *Client) MonitorSilences(ctx context.Context, enterprise string) ([]Silence, error) {
	b, _, err := c.Do(ctx, http.MethodGet, monitorPath("silences", enterprise), nil, nil, "")
	if err != nil {
		return nil, err
	}
	var out []Silence
	return out, json.Unmarshal(b, &out)
}

// AddMonitorSilence silences the enterprise's alerts the matchers select
// for duration (e.g. "2h"): POST /monitor/silences/{enterprise}. The
// server adds the enterprise's own matcher.
func (c *Client) AddMonitorSilence(ctx context.Context, enterprise string, matchers []SilenceMatcher, duration, comment string) (Silence, error) {
	body := map[string]any{"matchers": matchers, "duration": duration, "comment": comment}
	b, _, err := c.Do(ctx, http.MethodPost, monitorPath("silences", enterprise), nil, body, "application/json")
	var out Silence
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	return out, err
}

// ExpireMonitorSilence ends an enterprise's silence: DELETE
// /monitor/silences/{enterprise}/{id}.
func (c *Client) ExpireMonitorSilence(ctx context.Context, enterprise, id string) error {
	_, _, err := c.Do(ctx, http.MethodDelete, monitorPath("silences", enterprise, id), nil, nil, "")
	return err
}

func monitorPath(kind string, segs ...string) string {
	p := "/monitor/" + kind
	for _, s := range segs {
		p += "/" + url.PathEscape(s)
	}
	return p
}
