package netbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// FieldError is what is wrong with one field, and where: the page's URL
// (or the saved file) for a malformed answer, which stops the read at the
// first one; the object's NetBox URL (or the library file) for what the
// mapping refuses.
type FieldError struct {
	URL, Field, Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.URL + ": " + e.Reason
	}
	return e.URL + ": " + e.Field + ": " + e.Reason
}

// maxPage bounds one answer's body: NetBox's largest page (MAX_PAGE_SIZE,
// 1000 by default) of devices is a few MiB.
const maxPage = 256 << 20

// Client reads a NetBox's REST API.
type Client struct {
	// BaseURL is NetBox's address; the API root is BaseURL/api/.
	BaseURL string
	// Token is an API token: a v2 token (nbt_<key>.<secret>) is sent as
	// "Bearer", a v1 token as "Token". It is never logged or saved.
	Token string
	// HTTP is the client to use (nil: http.DefaultClient).
	HTTP *http.Client
	// PageSize is the limit asked for each page (0: 1000, NetBox's
	// default MAX_PAGE_SIZE; the server may answer fewer).
	PageSize int
	// Save, when set, is given every endpoint's pages as read (the
	// import's --save writes them where --from reads them back).
	Save func(ep Endpoint, pages []json.RawMessage) error
	// Progress, when set, hears about every page read.
	Progress func(ep Endpoint, read, count int)
}

// loopback reports whether host (a name or an address) is this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// page is one answer of a list endpoint (rest-api.md, "Pagination").
type page struct {
	Count   *int              `json:"count"`
	Next    *string           `json:"next"`
	Results []json.RawMessage `json:"results"`
}

// Fetch reads every endpoint the import needs, following `next` until the
// last page.
func (c *Client) Fetch(ctx context.Context) (*Dump, error) {
	base, err := url.Parse(strings.TrimRight(c.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--url %q: want NetBox's address, e.g. https://netbox.example.com", c.BaseURL)
	}
	if base.Scheme == "http" && c.Token != "" && !loopback(base.Hostname()) {
		return nil, fmt.Errorf("--url %s: the token would cross the network in clear text: use https://%s (plain http is for loopback only)", base, base.Host)
	}
	d := &Dump{}
	for _, ep := range Endpoints {
		pages, err := c.fetchAll(ctx, base, ep, d.target(ep.Path))
		if err != nil {
			return nil, err
		}
		if c.Save != nil {
			if err := c.Save(ep, pages); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

func (c *Client) fetchAll(ctx context.Context, base *url.URL, ep Endpoint, into any) ([]json.RawMessage, error) {
	size := c.PageSize
	if size <= 0 {
		size = 1000
	}
	q := url.Values{"limit": {strconv.Itoa(size)}, "offset": {"0"}}
	if ep.Brief {
		q.Set("brief", "true")
	}
	if ep.Path == "dcim/devices" {
		q.Set("exclude", "config_context") // rest-api.md: large and unused here
	}
	list := base.JoinPath("api", ep.Path) // JoinPath drops the trailing slash NetBox's routes have
	list.Path = "/" + strings.Trim(list.Path, "/") + "/"
	list.RawQuery = q.Encode()
	var pages []json.RawMessage
	seen := map[string]bool{}
	read := 0
	for u := list.String(); u != ""; {
		seen[u] = true
		body, err := c.get(ctx, u)
		if err != nil {
			return nil, err
		}
		p, err := decodePage(u, body, into)
		if err != nil {
			return nil, err
		}
		pages = append(pages, body)
		read += len(p.Results)
		if c.Progress != nil {
			total := read
			if p.Count != nil {
				total = *p.Count
			}
			c.Progress(ep, read, total)
		}
		if p.Next == nil || *p.Next == "" {
			break
		}
		nu, err := url.Parse(*p.Next)
		if err != nil || "/"+strings.Trim(nu.Path, "/")+"/" != list.Path {
			return nil, &FieldError{URL: u, Field: "next", Reason: fmt.Sprintf("%q is no further page of %s", *p.Next, list.Path)}
		}
		// Followed on --url's scheme and host: a NetBox behind a proxy
		// often names itself otherwise, and the token goes nowhere else.
		follow := *list
		follow.RawQuery = nu.RawQuery
		if seen[follow.String()] {
			return nil, &FieldError{URL: u, Field: "next", Reason: fmt.Sprintf("%q is a page already read (the paging loops)", *p.Next)}
		}
		u = follow.String()
	}
	return pages, nil
}

func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		scheme := "Token"
		if strings.HasPrefix(c.Token, "nbt_") {
			scheme = "Bearer"
		}
		req.Header.Set("Authorization", scheme+" "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err // names the URL, never the header
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(body) > maxPage {
		return nil, &FieldError{URL: u, Reason: fmt.Sprintf("the answer is larger than %d MiB: ask for smaller pages (--page-size)", maxPage>>20)}
	}
	if resp.StatusCode != http.StatusOK {
		var detail struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(body, &detail)
		msg := resp.Status
		if detail.Detail != "" {
			msg += ": " + detail.Detail
		}
		return nil, fmt.Errorf("GET %s: %s", u, msg)
	}
	return body, nil
}

// decodePage reads one page and appends its results to into (a pointer
// to a slice of the endpoint's type).
func decodePage(where string, body []byte, into any) (*page, error) {
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, jsonError(where, "", err)
	}
	if p.Results == nil {
		return nil, &FieldError{URL: where, Field: "results", Reason: "missing: not a NetBox list answer ({count, next, previous, results})"}
	}
	slice := reflect.ValueOf(into).Elem()
	for i, raw := range p.Results {
		el := reflect.New(slice.Type().Elem())
		if err := json.Unmarshal(raw, el.Interface()); err != nil {
			return nil, jsonError(where, fmt.Sprintf("results[%d]", i), err)
		}
		if el.Elem().FieldByName("ID").Int() <= 0 { // every type has an ID, some through Ref
			return nil, &FieldError{URL: where, Field: fmt.Sprintf("results[%d].id", i), Reason: "missing or not a positive integer"}
		}
		slice.Set(reflect.Append(slice, el.Elem()))
	}
	return &p, nil
}

// jsonError names the field a decoding error is about.
func jsonError(where, prefix string, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if prefix != "" && field != "" {
			field = prefix + "." + field
		} else if prefix != "" {
			field = prefix
		}
		return &FieldError{URL: where, Field: field, Reason: fmt.Sprintf("want %s, got a JSON %s", kindName(te.Type), te.Value)}
	case errors.As(err, &se):
		return &FieldError{URL: where, Field: prefix, Reason: fmt.Sprintf("not JSON (at byte %d: %v)", se.Offset, err)}
	}
	return &FieldError{URL: where, Field: prefix, Reason: err.Error()}
}

func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// ReadDir reads saved API answers: DIR/<app>/<endpoint>.json (e.g.
// DIR/dcim/sites.json) holding one list answer or a JSON array of the
// pages of one (what Fetch's Save writes).
func ReadDir(dir string) (*Dump, error) {
	d := &Dump{}
	for _, ep := range Endpoints {
		name := filepath.Join(dir, filepath.FromSlash(ep.Path)+".json")
		body, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("no saved answer of /api/%s/: %w", ep.Path, err)
		}
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) > 0 && trimmed[0] == '[' {
			var pages []json.RawMessage
			if err := json.Unmarshal(trimmed, &pages); err != nil {
				return nil, jsonError(name, "", err)
			}
			for i, pg := range pages {
				if _, err := decodePage(fmt.Sprintf("%s (page %d)", name, i+1), pg, d.target(ep.Path)); err != nil {
					return nil, err
				}
			}
			continue
		}
		if _, err := decodePage(name, body, d.target(ep.Path)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// SaveTo returns a Client.Save that writes every endpoint's pages where
// ReadDir reads them.
func SaveTo(dir string) func(ep Endpoint, pages []json.RawMessage) error {
	return func(ep Endpoint, pages []json.RawMessage) error {
		name := filepath.Join(dir, filepath.FromSlash(ep.Path)+".json")
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		body, err := json.MarshalIndent(pages, "", " ")
		if err != nil {
			return err
		}
		return os.WriteFile(name, append(body, '\n'), 0o644)
	}
}
