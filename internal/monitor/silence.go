package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Silence is a silence in Alertmanager's API v2 shape (what amtool
// creates and lists).
type Silence struct {
	ID        string           `json:"id,omitempty"`
	Matchers  []SilenceMatcher `json:"matchers"`
	StartsAt  time.Time        `json:"startsAt"`
	EndsAt    time.Time        `json:"endsAt"`
	CreatedBy string           `json:"createdBy"`
	Comment   string           `json:"comment"`
	Status    *struct {
		State string `json:"state"`
	} `json:"status,omitempty"`
}

// SilenceMatcher is one of a silence's matchers; IsEqual absent means
// true, as in Alertmanager.
type SilenceMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual *bool  `json:"isEqual,omitempty"`
}

// Of reports whether the silence is the enterprise's: one of its
// matchers is enterprise="<tenant>" (equality, not a regular
// expression), so it can mute only alerts carrying that label.
func (s Silence) Of(tenant string) bool {
	for _, m := range s.Matchers {
		if m.Name == TenantLabel && m.Value == tenant && !m.IsRegex && (m.IsEqual == nil || *m.IsEqual) {
			return true
		}
	}
	return false
}

// ErrNoSilence means Alertmanager has no such silence.
var ErrNoSilence = errors.New("no such silence")

// Silences talks to Alertmanager's silence API.
type Silences struct {
	URL    string
	Client *http.Client
}

// List returns every silence Alertmanager holds.
func (s Silences) List(ctx context.Context) ([]Silence, error) {
	var out []Silence
	return out, s.do(ctx, http.MethodGet, "/api/v2/silences", nil, &out)
}

// Get returns one silence.
func (s Silences) Get(ctx context.Context, id string) (Silence, error) {
	var out Silence
	return out, s.do(ctx, http.MethodGet, "/api/v2/silence/"+url.PathEscape(id), nil, &out)
}

// Create adds a silence and returns its id.
func (s Silences) Create(ctx context.Context, sil Silence) (string, error) {
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	err := s.do(ctx, http.MethodPost, "/api/v2/silences", sil, &out)
	return out.SilenceID, err
}

// Expire ends a silence.
func (s Silences) Expire(ctx context.Context, id string) error {
	return s.do(ctx, http.MethodDelete, "/api/v2/silence/"+url.PathEscape(id), nil, nil)
}

func (s Silences) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(s.URL, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	cl := s.Client
	if cl == nil {
		cl = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("Alertmanager: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return ErrNoSilence
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("Alertmanager: %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	case out != nil:
		return json.Unmarshal(b, out)
	}
	return nil
}
