package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/tlsutil"
)

// DefaultServer is the address `amp serve` listens on by default.
const DefaultServer = "https://127.0.0.1:8181"

// Client talks to one AMP server. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	baseErr error
	token   string
	hc      *http.Client
	ua      string
	source  string
	message string
	ifMatch string
	// TLS: trusted CA file and client certificate (see WithCA).
	caFile, certFile, keyFile string
	tlsErr                    error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the http.Client used (default: one with no timeout;
// bound requests with their context).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithCA trusts the CA certificates in the PEM file caFile, besides the
// system's roots: the local CA `amp serve` creates in
// <data-dir>/tls/ca.crt, or a private CA of a production server.
func WithCA(caFile string) Option { return func(c *Client) { c.caFile = caFile } }

// WithClientCert presents the client certificate in certFile (with its key
// in keyFile) to servers that require mutual TLS (amp serve --tls-client-ca).
func WithClientCert(certFile, keyFile string) Option {
	return func(c *Client) { c.certFile, c.keyFile = certFile, keyFile }
}

// WithVersion sets the User-Agent to "amp-cli/<version>".
func WithVersion(v string) Option { return func(c *Client) { c.ua = "amp-cli/" + v } }

// WithUserAgent sets the User-Agent verbatim.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// WithSource sets the X-AMP-Source header: "cli" (the default) or
// "import"; the server labels the transactions with it.
func WithSource(s string) Option { return func(c *Client) { c.source = s } }

// WithMessage sets a commit message (X-AMP-Message) for every write.
func WithMessage(m string) Option { return func(c *Client) { c.message = m } }

// WithIfMatch sends If-Match with every write (an ETag from a GET), so a
// write fails with 412 if the object changed since.
func WithIfMatch(etag string) Option { return func(c *Client) { c.ifMatch = etag } }

// New returns a client of the server at baseURL (e.g.
// "https://127.0.0.1:8181"; without a scheme, https) authenticating with
// token.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{token: token, hc: http.DefaultClient, ua: "amp-cli/dev", source: "cli"}
	if baseURL == "" {
		baseURL = DefaultServer
	}
	if !strings.Contains(baseURL, "://") {
		baseURL = "https://" + baseURL
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		c.baseErr = fmt.Errorf("bad server URL %q: %v", baseURL, err)
	} else if u.Scheme != "http" && u.Scheme != "https" {
		c.baseErr = fmt.Errorf("bad server URL %q: the scheme must be http or https", baseURL)
	} else if u.Scheme == "http" && token != "" && !isLoopback(u.Hostname()) {
		c.baseErr = fmt.Errorf("refusing to send the API token to %s over plain http://: %s is not a loopback address, so anyone on the way could read the token and reuse it; use https://%s (amp serve speaks HTTPS by default: trust its CA with --ca or AMP_CA). Plain http:// is only for a server on this machine (127.0.0.1, [::1], localhost)", u.Redacted(), u.Hostname(), u.Host)
	}
	c.base = u
	for _, o := range opts {
		o(c)
	}
	if c.hc.CheckRedirect == nil {
		// Go forwards Authorization on a redirect to the same host, even
		// from https:// to http://.
		cp := *c.hc
		cp.CheckRedirect = refusePlainRedirect
		c.hc = &cp
	}
	if c.caFile != "" || c.certFile != "" || c.keyFile != "" {
		c.hc, c.tlsErr = withTLS(c.hc, c.caFile, c.certFile, c.keyFile)
	}
	return c
}

// isLoopback reports whether host (a name or an address) is this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// refusePlainRedirect stops a redirect that would carry the token over
// plain http:// off this machine; otherwise it behaves as Go's default.
func refusePlainRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Scheme == "http" && req.Header.Get("Authorization") != "" && !isLoopback(req.URL.Hostname()) {
		return fmt.Errorf("refusing to follow a redirect to %s: it would send the API token over plain http://", req.URL.Redacted())
	}
	return nil
}

// withTLS returns a copy of hc whose transport trusts caFile and presents
// the client certificate.
func withTLS(hc *http.Client, caFile, certFile, keyFile string) (*http.Client, error) {
	cfg, err := tlsutil.ClientConfig(caFile, certFile, keyFile)
	if err != nil {
		return hc, err
	}
	base, ok := hc.Transport.(*http.Transport)
	if hc.Transport == nil {
		base, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return hc, errors.New("the CA and client certificate options need an http.Client whose Transport is an *http.Transport")
	}
	tr := base.Clone()
	tr.TLSClientConfig = cfg
	cp := *hc
	cp.Transport = tr
	return &cp, nil
}

// BaseURL returns the server URL the client talks to.
func (c *Client) BaseURL() string {
	if c.base == nil {
		return ""
	}
	return c.base.String()
}

// Problem is one problem of an error response, naming the path it concerns.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Error is an error answered by the server (an RFC 7807 problem).
type Error struct {
	Status   int       // HTTP status code
	Title    string    // e.g. "Bad Request"
	Detail   string    // short summary, e.g. "validation failed"
	Message  string    // the server's message
	Problems []Problem // one per problem found
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Detail != "" {
		return e.Detail
	}
	if e.Title != "" {
		return fmt.Sprintf("%d %s", e.Status, e.Title)
	}
	return fmt.Sprintf("HTTP status %d", e.Status)
}

// Summary is the message without the problems it already lists: the
// server's message repeats them ("validation failed: /a: x; /b: y").
func (e *Error) Summary() string {
	if e.Detail != "" && len(e.Problems) > 0 {
		return e.Detail
	}
	return e.Error()
}

// IsNotFound reports whether err is a 404 from the server.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsConflict reports whether err is a 409 from the server.
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusConflict
}

func parseError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	var p struct {
		Title   string    `json:"title"`
		Detail  string    `json:"detail"`
		Message string    `json:"message"`
		Errors  []Problem `json:"errors"`
	}
	if json.Unmarshal(body, &p) == nil && (p.Message != "" || p.Title != "" || len(p.Errors) > 0) {
		e.Title, e.Detail, e.Message, e.Problems = p.Title, p.Detail, p.Message, p.Errors
		return e
	}
	e.Title = http.StatusText(resp.StatusCode)
	if msg := strings.TrimSpace(string(body)); msg != "" && len(msg) < 512 {
		e.Message = fmt.Sprintf("%d %s: %s", resp.StatusCode, e.Title, msg)
	}
	return e
}

// Stream is a request body read from R, of Length bytes (sent as the
// Content-Length; use -1 when unknown).
type Stream struct {
	R      io.Reader
	Length int64
}

func encodeBody(body any) (io.Reader, int64, error) {
	switch b := body.(type) {
	case nil:
		return nil, 0, nil
	case Stream:
		return b.R, b.Length, nil
	case *Stream:
		return b.R, b.Length, nil
	case []byte:
		return bytes.NewReader(b), int64(len(b)), nil
	case json.RawMessage:
		return bytes.NewReader(b), int64(len(b)), nil
	case *bytes.Buffer:
		return b, int64(b.Len()), nil
	case *bytes.Reader:
		return b, int64(b.Len()), nil
	case *strings.Reader:
		return b, int64(b.Len()), nil
	case io.Reader:
		return b, -1, nil
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, 0, fmt.Errorf("encode request body: %w", err)
	}
	return bytes.NewReader(raw), int64(len(raw)), nil
}

func (c *Client) url(path string, query url.Values) (string, error) {
	if c.baseErr != nil {
		return "", c.baseErr
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := *c.base
	// Keep the caller's escaping: path segments may hold %2F.
	raw := strings.TrimRight(u.EscapedPath(), "/") + path
	p, err := url.PathUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("bad path %q: %v", path, err)
	}
	u.Path, u.RawPath = p, raw
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	return u.String(), nil
}

// Do sends one request and returns the response body of a 2xx answer, the
// response headers, or an *Error. contentType is used when body is set.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any, contentType string) ([]byte, http.Header, error) {
	if c.tlsErr != nil {
		return nil, nil, c.tlsErr
	}
	u, err := c.url(path, query)
	if err != nil {
		return nil, nil, err
	}
	rd, n, err := encodeBody(body)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	if rd != nil {
		req.ContentLength = n
		if n == 0 {
			req.Body = http.NoBody
		}
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if method != http.MethodGet {
		if c.source != "" {
			req.Header.Set("X-AMP-Source", c.source)
		}
		if c.message != "" {
			req.Header.Set("X-AMP-Message", c.message)
		}
		if c.ifMatch != "" {
			req.Header.Set("If-Match", c.ifMatch)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ctx.Err() == nil {
			return nil, nil, fmt.Errorf("cannot reach the AMP server at %s: %v%s", c.BaseURL(), ue.Err, tlsHint(err))
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.Header, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, resp.Header, parseError(resp, data)
	}
	return data, resp.Header, nil
}

// tlsHint explains the usual TLS mistakes.
func tlsHint(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &ua):
		return " (trust the server's CA: AMP_CA or --ca with the CA file, for a local amp serve <data-dir>/tls/ca.crt)"
	case errors.As(err, &he):
		return " (the server certificate does not name this host: use a name it has, or restart amp serve with --tls-san)"
	case errors.As(err, &rh), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return " (the server speaks plain HTTP, amp serve --insecure-http: use an http:// URL)"
	}
	return ""
}

func (c *Client) getJSON(ctx context.Context, path string, query url.Values, out any) error {
	data, _, err := c.Do(ctx, http.MethodGet, path, query, nil, "")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode the answer of GET %s: %w", path, err)
	}
	return nil
}

// Get reads a model path (or any GET route). query may hold limit,
// continue, filter, at and with-defaults.
func (c *Client) Get(ctx context.Context, path string, query url.Values) (json.RawMessage, http.Header, error) {
	data, h, err := c.Do(ctx, http.MethodGet, path, query, nil, "")
	return json.RawMessage(data), h, err
}

// GetAll reads every page of a list, following X-AMP-Continue with pages
// of pageSize entries (0: the server's choice, one page), and returns all
// entries.
func (c *Client) GetAll(ctx context.Context, path string, query url.Values, pageSize int) ([]json.RawMessage, error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = append([]string(nil), v...)
	}
	if pageSize > 0 {
		q.Set("limit", strconv.Itoa(pageSize))
	}
	var all []json.RawMessage
	for {
		raw, h, err := c.Get(ctx, path, q)
		if err != nil {
			return nil, err
		}
		var page []json.RawMessage
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("%s is not a list: %w", path, err)
		}
		all = append(all, page...)
		next := h.Get("X-AMP-Continue")
		if next == "" || len(page) == 0 {
			return all, nil
		}
		q.Set("continue", next)
	}
}

// Change is one change of a transaction or dry run.
type Change struct {
	Path string          `json:"path"`
	Op   string          `json:"op"` // create, update, delete
	Old  json.RawMessage `json:"old,omitempty"`
	New  json.RawMessage `json:"new,omitempty"`
}

// WriteResult is the outcome of a write. For a committed write Index and
// ID name the transaction and Changes is nil (read it with Transaction);
// for a dry run DryRun is true and Changes holds what would change.
type WriteResult struct {
	Index   uint64   `json:"index,omitempty"`
	ID      string   `json:"id,omitempty"`
	Changes []Change `json:"changes"`
	DryRun  bool     `json:"dry-run,omitempty"`
	// Unchanged: the write changed nothing, so nothing was recorded; Index
	// is the current index.
	Unchanged bool `json:"unchanged,omitempty"`
}

func (c *Client) write(ctx context.Context, method, path string, body any, dryRun bool, contentType string) (*WriteResult, error) {
	var q url.Values
	if dryRun {
		q = url.Values{"dry-run": {"true"}}
	}
	data, h, err := c.Do(ctx, method, path, q, body, contentType)
	if err != nil {
		return nil, err
	}
	return parseWrite(data, h, dryRun)
}

func parseWrite(data []byte, h http.Header, dryRun bool) (*WriteResult, error) {
	res := &WriteResult{}
	if dryRun {
		if err := json.Unmarshal(data, res); err != nil {
			return nil, fmt.Errorf("decode the dry-run answer: %w", err)
		}
		res.DryRun = true
		if res.Changes == nil {
			res.Changes = []Change{}
		}
		return res, nil
	}
	if v := h.Get("X-AMP-Transaction-Index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad X-AMP-Transaction-Index %q", v)
		}
		res.Index = n
	}
	if h.Get("X-AMP-Transaction-Unchanged") == "true" {
		res.Unchanged = true
		return res, nil
	}
	res.ID = h.Get("X-AMP-Transaction-Id")
	if res.ID == "" {
		var id string
		if json.Unmarshal(data, &id) == nil {
			res.ID = id
		}
	}
	return res, nil
}

// Post merges body into path with aether-roc-api's POST rules (mandatory
// leaves must be sent or named in additionalProperties.unchanged).
func (c *Client) Post(ctx context.Context, path string, body any, dryRun bool) (*WriteResult, error) {
	return c.write(ctx, http.MethodPost, path, body, dryRun, "application/json")
}

// Put replaces the subtree at path with body.
func (c *Client) Put(ctx context.Context, path string, body any, dryRun bool) (*WriteResult, error) {
	return c.write(ctx, http.MethodPut, path, body, dryRun, "application/json")
}

// Patch applies body as a JSON merge patch (RFC 7386) to path; list
// entries merge by key and null deletes.
func (c *Client) Patch(ctx context.Context, path string, body any, dryRun bool) (*WriteResult, error) {
	return c.write(ctx, http.MethodPatch, path, body, dryRun, "application/merge-patch+json")
}

// Delete deletes path (an entry, a container or a leaf).
func (c *Client) Delete(ctx context.Context, path string, dryRun bool) (*WriteResult, error) {
	return c.write(ctx, http.MethodDelete, path, nil, dryRun, "")
}

// TopLevel is the body of PATCH /aether-roc-api. Updates and Deletes are
// keyed by element name, <list>-<model version> (e.g. "site-2.1.0"); an
// entry may name its enterprise in additionalProperties.enterprise-id.
type TopLevel struct {
	DefaultTarget string           `json:"default-target,omitempty"`
	Updates       map[string][]any `json:"Updates,omitempty"`
	Deletes       map[string][]any `json:"Deletes,omitempty"`
}

// AddUpdate appends one top-level entry (an element such as "site-2.1.0")
// for an enterprise, naming it in the entry's additionalProperties as
// aether-roc-api expects.
func (t *TopLevel) AddUpdate(element, enterprise string, entry map[string]any) {
	ap, _ := entry["additionalProperties"].(map[string]any)
	if ap == nil {
		ap = map[string]any{}
		entry["additionalProperties"] = ap
	}
	ap["enterprise-id"] = enterprise
	if t.Updates == nil {
		t.Updates = map[string][]any{}
	}
	t.Updates[element] = append(t.Updates[element], entry)
}

// PatchTopLevel sends PATCH /aether-roc-api: all updates and deletes, of
// any number of enterprises, as ONE transaction. body is a TopLevel, a
// map in the same shape, or raw JSON (see the package documentation).
func (c *Client) PatchTopLevel(ctx context.Context, body any, dryRun bool) (*WriteResult, error) {
	return c.write(ctx, http.MethodPatch, "/aether-roc-api", body, dryRun, "application/json")
}

// TxnInfo describes one transaction of the history.
type TxnInfo struct {
	Index          uint64    `json:"index"`
	ID             string    `json:"id"`
	Time           time.Time `json:"time"`
	Username       string    `json:"username"`
	Source         string    `json:"source"`
	Message        string    `json:"message,omitempty"`
	RollbackOf     uint64    `json:"rollback-of,omitempty"`
	Targets        []string  `json:"targets"`
	ChangedObjects int       `json:"changed-objects"`
}

// Txn is a transaction with its changes.
type Txn struct {
	TxnInfo
	Changes []Change `json:"changes"`
}

// Transactions lists the newest transactions first: at most limit (0: the
// server's default, 100), only those before index before (0: no bound),
// and, when enterprise is given, only those touching it.
func (c *Client) Transactions(ctx context.Context, limit int, before uint64, enterprise ...string) ([]TxnInfo, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if before > 0 {
		q.Set("before", strconv.FormatUint(before, 10))
	}
	if len(enterprise) > 0 && enterprise[0] != "" {
		q.Set("enterprise", enterprise[0])
	}
	var out []TxnInfo
	err := c.getJSON(ctx, "/amp/transactions", q, &out)
	return out, err
}

// TransactionInfo returns one transaction without its changes (cheap for
// very large transactions).
func (c *Client) TransactionInfo(ctx context.Context, index uint64) (*TxnInfo, error) {
	list, err := c.Transactions(ctx, 1, index+1)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 || list[0].Index != index {
		return nil, &Error{Status: http.StatusNotFound, Title: "Not Found", Message: fmt.Sprintf("transaction %d does not exist", index)}
	}
	return &list[0], nil
}

// Transaction returns one transaction with its changes.
func (c *Client) Transaction(ctx context.Context, index uint64) (*Txn, error) {
	var t Txn
	err := c.getJSON(ctx, "/transactions/"+strconv.FormatUint(index, 10), nil, &t)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// RollbackResult is the outcome of a rollback.
type RollbackResult struct {
	Index   uint64    `json:"index,omitempty"`
	ID      string    `json:"id,omitempty"`
	Time    time.Time `json:"time,omitempty"`
	DryRun  bool      `json:"dry-run,omitempty"`
	Changes []Change  `json:"changes"`
}

// Rollback undoes transaction index with a new transaction. A conflict
// (a later transaction changed the same data) is an *Error with status 409
// whose Problems name each conflicting path.
func (c *Client) Rollback(ctx context.Context, index uint64, dryRun bool) (*RollbackResult, error) {
	var q url.Values
	if dryRun {
		q = url.Values{"dry-run": {"true"}}
	}
	data, _, err := c.Do(ctx, http.MethodPost, "/transactions/"+strconv.FormatUint(index, 10)+"/rollback", q, nil, "")
	if err != nil {
		return nil, err
	}
	var r RollbackResult
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode the rollback answer: %w", err)
	}
	r.DryRun = r.DryRun || dryRun
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	return &r, nil
}

// DiffResult is the difference between two points of the history.
type DiffResult struct {
	From    uint64   `json:"from"`
	To      uint64   `json:"to"`
	Changes []Change `json:"changes"`
}

// Diff returns the changes from the state after transaction a to the
// state after transaction b (b = 0: the current state).
func (c *Client) Diff(ctx context.Context, a, b uint64) (*DiffResult, error) {
	q := url.Values{"from": {strconv.FormatUint(a, 10)}}
	if b > 0 {
		q.Set("to", strconv.FormatUint(b, 10))
	}
	var d DiffResult
	if err := c.getJSON(ctx, "/diff", q, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Enterprise is one enterprise (a configuration target).
type Enterprise struct {
	ID          string `json:"enterprise-id"`
	DisplayName string `json:"display-name,omitempty"`
	Description string `json:"description,omitempty"`
}

// Enterprises lists the enterprises the token may read.
func (c *Client) Enterprises(ctx context.Context) ([]Enterprise, error) {
	var out []Enterprise
	err := c.getJSON(ctx, "/enterprises", nil, &out)
	return out, err
}

// CreateEnterprise creates an enterprise (admin only).
func (c *Client) CreateEnterprise(ctx context.Context, e Enterprise, dryRun bool) (*WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/enterprises", e, dryRun, "application/json")
}

// DeleteEnterprise deletes an enterprise and all its configuration (admin
// only).
func (c *Client) DeleteEnterprise(ctx context.Context, id string, dryRun bool) (*WriteResult, error) {
	return c.write(ctx, http.MethodDelete, "/enterprises/"+url.PathEscape(id), nil, dryRun, "")
}

// Targets lists the configuration targets (aether-roc-api's GET /targets).
func (c *Client) Targets(ctx context.Context) ([]string, error) {
	var out []struct {
		Name string `json:"name"`
	}
	if err := c.getJSON(ctx, "/targets", nil, &out); err != nil {
		return nil, err
	}
	names := make([]string, len(out))
	for i, t := range out {
		names[i] = t.Name
	}
	return names, nil
}

// ModelSet is one model set the server loaded, with every loaded version
// (GET /models).
type ModelSet struct {
	Name     string            `json:"name"`
	Versions []ModelSetVersion `json:"versions"`
}

// ModelSetVersion is one loaded version of a model set: its descriptor and
// modules, and its tree when asked for.
type ModelSetVersion struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Scope is "tenant" (paths /{rest-prefix}/v{version}/{enterprise}/…)
	// or "global" (/{rest-prefix}/v{version}/…).
	Scope         string   `json:"scope"`
	RESTPrefix    string   `json:"rest-prefix"`
	GNMIOrigin    string   `json:"gnmi-origin"`
	OpenAPIPrefix string   `json:"openapi-prefix"`
	CLIName       string   `json:"cli-name"`
	Compat        []string `json:"compat,omitempty"`
	Modules       []Module `json:"modules"`
	// Tree is the set's tree as the server describes it (node names,
	// kinds, list keys, types); nil unless asked for.
	Tree json.RawMessage `json:"tree,omitempty"`
}

// Module is a YANG module of a model set.
type Module struct {
	Name         string `json:"name"`
	Revision     string `json:"revision,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	Organization string `json:"organization,omitempty"`
}

// Models lists the model sets the server loaded; withTree adds each
// version's tree.
func (c *Client) Models(ctx context.Context, withTree bool) ([]ModelSet, error) {
	var q url.Values
	if withTree {
		q = url.Values{"tree": {"true"}}
	}
	var out []ModelSet
	err := c.getJSON(ctx, "/models", q, &out)
	return out, err
}
