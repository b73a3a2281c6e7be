// Package link is the edge agent's end of the agent link (the protocol of
// internal/edge/wire): an HTTPS client that only ever dials out, to AMP,
// over mutual TLS with the cluster's certificate and AMP's CA pinned.
// Transient failures (the network, 5xx, 429) are retried with exponential
// backoff and full jitter; refusals (4xx) are not, and come back as
// *Error naming what the server said. Neither the registration token nor
// the private key is ever logged.
//
// It imports the standard library, OpenTelemetry, internal/edge/wire and
// the log shipper's sink contract (internal/telemetry/logship).
package link

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// Backoff is the retry policy of one call.
type Backoff struct {
	Initial  time.Duration // the first delay's cap
	Max      time.Duration // no delay is longer
	Attempts int           // calls in all, the first included
}

// DefaultBackoff: 5 attempts, delays capped at 0.5 s, 1 s, 2 s, 4 s.
var DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Attempts: 5}

// Delay is the wait before retry n (0 for the first retry): a random
// duration in [0, min(Max, Initial·2ⁿ)] ("full jitter"), so that 10,000
// agents cut off together do not come back in step.
func (b Backoff) Delay(n int) time.Duration {
	ceil := b.Initial
	for i := 0; i < n && ceil < b.Max; i++ {
		ceil *= 2
	}
	if ceil > b.Max {
		ceil = b.Max
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}

// Error is a refusal from AMP: its status and problem+json body.
type Error struct {
	Status   int
	Message  string
	Problems []Problem
}

// Problem is one problem of a refusal, naming the path it concerns.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "AMP answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, p := range e.Problems {
		if !strings.Contains(e.Message, p.Reason) {
			fmt.Fprintf(&b, "; %s: %s", p.Path, p.Reason)
		}
	}
	return b.String()
}

// IsStatus reports whether err is a refusal with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// retryable: the network failed, or the server is overloaded or down.
func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	// A server whose certificate the pinned CA did not sign stays so.
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Client talks to AMP for one cluster.
type Client struct {
	base    *url.URL
	cluster string
	hc      *http.Client
	tr      *http.Transport
	cert    atomic.Pointer[tls.Certificate]
	certGen atomic.Uint64 // counts SetCertificate calls
	Backoff Backoff
	// Version goes into the User-Agent.
	Version string
	// OnQueries, when set, is called when an answer of AMP says that
	// site queries wait for the agent (wire.QueriesHeader): it must not
	// block.
	OnQueries func()
}

// New is a client of the AMP at server for cluster, presenting cert and
// trusting only serverCA (nil: the system's roots, for an AMP whose
// certificate a public CA signed).
func New(server, cluster string, cert tls.Certificate, serverCA *x509.CertPool) (*Client, error) {
	u, err := ParseServer(server)
	if err != nil {
		return nil, err
	}
	c := &Client{base: u, cluster: cluster, Backoff: DefaultBackoff}
	c.cert.Store(&cert)
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    serverCA,
		// Read at each handshake, so a renewed certificate is used from
		// the next connection on.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c.cert.Load(), nil },
	}
	c.tr = Transport(tc)
	c.hc = &http.Client{Transport: c.tr}
	return c, nil
}

// SetCertificate replaces the client certificate (after a renewal) and
// drops the idle connections made with the old one.
func (c *Client) SetCertificate(cert tls.Certificate) {
	c.cert.Store(&cert)
	c.certGen.Add(1)
	if s, ok := c.tr.TLSClientConfig.ClientSessionCache.(*sessions); ok {
		s.forget()
	}
	c.tr.CloseIdleConnections()
}

// Close drops the idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Transport is the link's HTTP transport (exported for the fleet
// benchmark, which must speak the link as agents do). HTTP/1.1, not
// HTTP/2: AMP parks an HTTP/1.1 long-poll's connection with no goroutine
// waiting on it (internal/park), which HTTP/2 does not allow, so that a
// waiting agent costs AMP a few KiB. The agent checks in between two
// polls, on the poll's connection, so it holds one connection; a second
// one (a check-in with news while the poll waits) is closed soon after,
// and TLS session resumption makes the next one cheap.
func Transport(tc *tls.Config) *http.Transport {
	if tc.ClientSessionCache == nil {
		tc.ClientSessionCache = &sessions{}
	}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment, // sites behind an enterprise proxy
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 15 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     IdleConnTimeout,
		ForceAttemptHTTP2:   false,
	}
}

// sessions is the link's TLS session cache. A resumed session presents
// the certificate of the handshake it resumes, so a renewal empties it
// (SetCertificate): the next connection presents the new certificate.
type sessions struct {
	mu    sync.Mutex
	cache tls.ClientSessionCache
}

func (s *sessions) current() tls.ClientSessionCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = tls.NewLRUClientSessionCache(4)
	}
	return s.cache
}

func (s *sessions) Get(key string) (*tls.ClientSessionState, bool) { return s.current().Get(key) }
func (s *sessions) Put(key string, cs *tls.ClientSessionState)     { s.current().Put(key, cs) }

// forget drops every session.
func (s *sessions) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache = nil
}

// IdleConnTimeout is how long an idle connection of the link stays open:
// the long-poll's is idle only between a poll and the check-in or poll
// that follows it; another (a check-in's beside a waiting poll) would
// otherwise cost AMP a waiting goroutine until the next check-in.
const IdleConnTimeout = 5 * time.Second

// ParseServer checks AMP's URL: HTTPS, with a host.
func ParseServer(server string) (*url.URL, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("server %q: want a URL such as https://amp.example.com:8181", server)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("server %q: the agent link is HTTPS only", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// Register enrols a cluster: it sends the registration token and a CSR to
// the AMP at server (trusting serverCA, nil: the system's roots) and
// returns the credentials AMP signed. No client certificate is presented:
// the token is the only credential, and it is used up, so a refusal is
// never retried (only a failure to reach AMP is).
func Register(ctx context.Context, server string, serverCA *x509.CertPool, req wire.RegisterRequest, b Backoff, version string) (*wire.Credentials, error) {
	u, err := ParseServer(server)
	if err != nil {
		return nil, err
	}
	tr := Transport(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: serverCA})
	defer tr.CloseIdleConnections()
	c := &Client{base: u, hc: &http.Client{Transport: tr}, Backoff: b, Version: version}
	var cr wire.Credentials
	_, err = c.call(ctx, http.MethodPost, "/clusters/register", nil, req, &cr, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	return &cr, nil
}

func (c *Client) clusterPath(suffix string) string {
	return "/edge/v1/clusters/" + url.PathEscape(c.cluster) + suffix
}

// Renew asks for a new certificate for csr, authenticated by the current
// one.
func (c *Client) Renew(ctx context.Context, csr string) (*wire.Credentials, error) {
	var cr wire.Credentials
	if _, err := c.call(ctx, http.MethodPost, c.clusterPath("/certificate"), nil, wire.RenewRequest{CSR: csr}, &cr, http.StatusCreated); err != nil {
		return nil, err
	}
	return &cr, nil
}

// Checkin reports the agent's state and returns what AMP holds for it.
// The check-in is built afresh for every attempt, so a retry never
// reports what was true before the previous attempt failed.
func (c *Client) Checkin(ctx context.Context, build func() wire.Checkin) (*wire.CheckinAnswer, error) {
	var a wire.CheckinAnswer
	body := func() any { return build() }
	if _, err := c.call(ctx, http.MethodPut, c.clusterPath("/status"), nil, body, &a, http.StatusOK); err != nil {
		return nil, err
	}
	return &a, nil
}

// Desired long-polls the cluster's desired state: the change since index
// since (0: the whole state), answered at once when the state's digest is
// not digest, else when it changes or after wait. It returns nil (and no
// error) when nothing changed within wait.
func (c *Client) Desired(ctx context.Context, since uint64, digest string, wait time.Duration) (*wire.Desired, error) {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	hdr := http.Header{}
	if digest != "" {
		hdr.Set("If-None-Match", `"`+digest+`"`)
	}
	var d wire.Desired
	code, err := c.call(ctx, http.MethodGet, c.clusterPath("/desired")+"?"+q.Encode(), hdr, nil, &d, http.StatusOK, http.StatusNotModified)
	if err != nil {
		return nil, err
	}
	if code == http.StatusNotModified {
		return nil, nil
	}
	return &d, nil
}

// Chart downloads the chart archive of digest ("sha256:<hex>") that the
// cluster's desired state names, and checks it: an archive of another
// digest is an error.
func (c *Client) Chart(ctx context.Context, digest string) ([]byte, error) {
	var b rawAnswer
	if _, err := c.call(ctx, http.MethodGet, c.clusterPath("/charts/"+url.PathEscape(digest)), nil, nil, &b, http.StatusOK); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
		return nil, fmt.Errorf("the chart AMP sent for %s has digest %s", digest, got)
	}
	return b, nil
}

// rawAnswer takes an answer's body as it is (not JSON).
type rawAnswer []byte

// maxAnswer bounds what the agent reads from AMP (a desired state).
const maxAnswer = 64 << 20

// call sends one request, retrying transient failures, and decodes a
// JSON answer of one of the wanted statuses into out. A body of type
// func() any is called for each attempt.
func (c *Client) call(ctx context.Context, method, path string, hdr http.Header, body, out any, want ...int) (int, error) {
	attempts := max(c.Backoff.Attempts, 1)
	var last error
	for n := 0; n < attempts; n++ {
		if n > 0 {
			if err := sleep(ctx, c.Backoff.Delay(n-1), retryAfter(last, c.Backoff.Max)); err != nil {
				return 0, fmt.Errorf("%w (after: %v)", err, last)
			}
		}
		var raw []byte
		if body != nil {
			v := body
			if f, ok := body.(func() any); ok {
				v = f()
			}
			var err error
			if raw, err = json.Marshal(v); err != nil {
				return 0, err
			}
		}
		code, err := c.once(ctx, method, path, hdr, raw, out, want)
		if err == nil {
			return code, nil
		}
		last = err
		if !retryable(err) {
			return 0, err
		}
	}
	return 0, last
}

// retryAfterError carries a server's Retry-After.
type retryAfterError struct {
	refusal *Error
	after   time.Duration
}

func (e *retryAfterError) Error() string { return e.refusal.Error() }
func (e *retryAfterError) Unwrap() error { return e.refusal }

// retryAfter is the server's Retry-After of err, capped at max (0: none).
func retryAfter(err error, max time.Duration) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return min(ra.after, max)
	}
	return 0
}

func sleep(ctx context.Context, d, atLeast time.Duration) error {
	t := time.NewTimer(max(d, atLeast))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) once(ctx context.Context, method, path string, hdr http.Header, raw []byte, out any, want []int) (int, error) {
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if _, raw := out.(*rawAnswer); raw {
		req.Header.Set("Accept", "application/gzip")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("User-Agent", "amp-agent/"+c.Version)
	// The trace of the agent's step (a check-in, a poll) goes on at AMP.
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	gen := c.certGen.Load()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if c.OnQueries != nil && resp.Header.Get(wire.QueriesHeader) != "" {
		c.OnQueries()
	}
	if c.certGen.Load() != gen {
		// A request open across a renewal (a long-poll) kept a
		// connection that presents the old certificate: closed now that
		// it is idle, so the next request presents the new one.
		c.tr.CloseIdleConnections()
	}
	if err != nil {
		return 0, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	for _, w := range want {
		if resp.StatusCode != w {
			continue
		}
		if w == http.StatusNotModified || out == nil {
			return w, nil
		}
		if raw, ok := out.(*rawAnswer); ok {
			*raw = b
			return w, nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return 0, fmt.Errorf("%s %s: the answer is not what the protocol says: %w", method, path, err)
		}
		return w, nil
	}
	e := problem(resp.StatusCode, b)
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs > 0 {
			return 0, &retryAfterError{refusal: e, after: time.Duration(secs) * time.Second}
		}
	}
	return 0, e
}

// problem reads an RFC 7807 body; anything else is summarised.
func problem(status int, body []byte) *Error {
	e := &Error{Status: status}
	var p struct {
		Title   string    `json:"title"`
		Detail  string    `json:"detail"`
		Message string    `json:"message"`
		Errors  []Problem `json:"errors"`
	}
	if json.Unmarshal(body, &p) == nil {
		e.Message, e.Problems = p.Message, p.Errors
		if e.Message == "" {
			e.Message = p.Detail
		}
		if e.Message == "" {
			e.Message = p.Title
		}
		return e
	}
	if s := strings.TrimSpace(string(body)); len(s) < 256 {
		e.Message = s
	}
	return e
}
