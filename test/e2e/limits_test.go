package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/idp"
)

// Regression tests for the REST resource limits and transport hygiene of
// issue 8 (docs/security.md, "HTTP API limits"), all through the binary.

// rawConn opens a TLS connection to s as a hand-written HTTP/1.1 client
// would, to send requests a well-behaved client never sends (slow bodies,
// bodies never sent). The deadline only turns a hang into a failure.
func rawConn(t *testing.T, s *testenv.Server) net.Conn {
	t.Helper()
	c, err := dialTLS(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	return c
}

func dialTLS(t *testing.T, s *testenv.Server, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs = pool(t, s.CA)
	cfg.NextProtos = []string{"http/1.1"}
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", u.Host, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// sendHead writes a request line and headers announcing a body of n bytes
// and then the first part of that body.
func sendHead(t *testing.T, c net.Conn, method, path, token string, n int, first string) {
	t.Helper()
	h := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: amp\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, n)
	if token != "" {
		h += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(c, h+"\r\n"+first); err != nil {
		t.Fatal(err)
	}
}

func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// newToken creates an API token through the API and returns its secret.
func newToken(t *testing.T, s *testenv.Server, body string) (id, secret string) {
	t.Helper()
	var tok struct{ ID, Token string }
	if err := json.Unmarshal(s.Must(t, 201, "POST", "/tokens", body), &tok); err != nil {
		t.Fatal(err)
	}
	return tok.ID, tok.Token
}

// TestUnauthenticatedBodyNotRead (issue 8, finding 13): a request without
// a credential is answered 401 and its connection closed at once; the
// server never waits for the body of a stranger.
func TestUnauthenticatedBodyNotRead(t *testing.T) {
	// A body timeout longer than the test's own deadline: the connection
	// must end because the server closes it, not because time ran out.
	s := testenv.Start(t, t.TempDir(), "--body-timeout", "10m")
	c := rawConn(t, s)
	// 200 kB announced, 10 bytes sent: a body the server would wait for
	// (below net/http's 256 kB drain limit) if it tried to read it.
	sendHead(t, c, "PATCH", "/aether-roc-api", "", 200_000, `{"Updates"`)
	br := bufio.NewReader(c)
	resp, body := readResponse(t, br)
	if resp.StatusCode != 401 || !resp.Close {
		t.Fatalf("unauthenticated slow body: %d, close %v: %s", resp.StatusCode, resp.Close, body)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection still open after the 401 (read %d, %v)", n, err)
	}
}

// TestSlowBodyTimesOut (finding 13): an authenticated client that sends
// its body too slowly gets 408 naming the limit, and its connection ends.
func TestSlowBodyTimesOut(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--body-timeout", "2s")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	c := rawConn(t, s)
	sendHead(t, c, "POST", "/aether/v2.1.x/acme/site/s1", s.Token, 100, `{"site-id"`)
	br := bufio.NewReader(c)
	resp, body := readResponse(t, br)
	if resp.StatusCode != 408 || !strings.Contains(body, "--body-timeout") {
		t.Fatalf("slow body: %d %s", resp.StatusCode, body)
	}
	if _, err := br.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after the body timed out")
	}
	s.Must(t, 404, "GET", "/aether/v2.1.x/acme/site/s1", "")
}

// TestConnectionCapPerSource (finding 13): one source holds at most
// --max-conns-per-source connections; more are closed on arrival and
// counted; a freed place can be used again.
func TestConnectionCapPerSource(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--max-conns-per-source", "3")
	var held []*tls.Conn
	for i := range 3 {
		c, err := dialTLS(t, s, nil)
		if err != nil {
			t.Fatalf("connection %d within the cap: %v", i+1, err)
		}
		held = append(held, c)
	}
	if c, err := dialTLS(t, s, nil); err == nil {
		c.Close()
		t.Fatal("a 4th connection from the same source was served")
	}
	for _, c := range held {
		c.Close()
	}
	// The server notices the closes as it reads them; wait for that.
	var m string
	waitFor(t, func() bool {
		code, b, _, err := s.Do(context.Background(), "GET", "/metrics", "")
		m = string(b)
		return err == nil && code == 200
	}, "a connection once the held ones are closed")
	if strings.Contains(m, `amp_http_connections_refused_total{reason="per-source"} 0`) || !strings.Contains(m, `amp_http_connections_refused_total{reason="per-source"}`) {
		t.Fatalf("refusal not counted:\n%s", grepLines(m, "amp_http_connections"))
	}
}

// TestBodyLimits (finding 5): ordinary writes take 4 MiB by default, the
// bulk route its own limit; bodies over the element or depth limit are
// refused while they stream in; a caller who may write no enterprise is
// refused before the body is read; large bodies share few slots.
func TestBodyLimits(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--max-body-elements", "1000", "--max-large-requests", "1", "--large-body", "100000")
	site := "/aether/v2.1.x/acme/site/acme-chicago"

	big := `{"display-name":"` + strings.Repeat("x", 5<<20) + `"}`
	b := s.Must(t, 413, "PATCH", site, big)
	if !strings.Contains(string(b), "larger than 4194304 bytes") {
		t.Fatalf("5 MiB write: %s", b)
	}
	many := `{"default-target":"acme","Updates":{"site-2.1.0":[{"site-id":"acme-chicago","sim-card":[` +
		strings.Repeat(`{"sim-id":"a"},`, 2000) + `{"sim-id":"b"}]}]}}`
	b = s.Must(t, 413, "PATCH", "/aether-roc-api", many)
	if !strings.Contains(string(b), "more than 1000 JSON values") || !strings.Contains(string(b), "--max-body-elements") {
		t.Fatalf("too many elements: %s", b)
	}
	deep := `{"default-target":"acme","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	b = s.Must(t, 400, "PATCH", "/aether-roc-api", deep)
	if !strings.Contains(string(b), "deeper than 64 levels") {
		t.Fatalf("too deep: %s", b)
	}

	// A state writer and an enterprise member may write no enterprise's
	// configuration: refused with the headers alone, the body never sent.
	_, writer := newToken(t, s, `{"name":"probe","role":"state-writer"}`)
	_, member := newToken(t, s, `{"name":"bob","role":"enterprise-member","enterprise":"acme"}`)
	for _, tok := range []string{writer, member} {
		c := rawConn(t, s)
		sendHead(t, c, "PATCH", "/aether-roc-api", tok, 50_000, "")
		resp, body := readResponse(t, bufio.NewReader(c))
		if resp.StatusCode != 403 {
			t.Fatalf("bulk write by a caller who may write nothing: %d %s", resp.StatusCode, body)
		}
	}

	// One large body in progress holds the only slot: the next is 503.
	c := rawConn(t, s)
	sendHead(t, c, "PATCH", "/aether-roc-api", s.Token, 200_000, `{"default-target":"acme",`)
	slotTaken := func() bool {
		code, _, h, err := s.Do(context.Background(), "PATCH", "/aether-roc-api", `{"default-target":"acme"}`+strings.Repeat(" ", 150_000))
		return err == nil && code == 503 && h.Get("Retry-After") != ""
	}
	waitFor(t, slotTaken, "503 while the only large-request slot is taken")
	c.Close()
	waitFor(t, func() bool {
		code, _, _, err := s.Do(context.Background(), "PATCH", "/aether-roc-api", `{"default-target":"acme"}`+strings.Repeat(" ", 150_000))
		return err == nil && code == 200 // an empty basket, taken: the slot was free
	}, "the slot freed once the large request ended")
	m := string(s.Must(t, 200, "GET", "/metrics", ""))
	for _, want := range []string{`amp_http_refused_total{limit="body-size"} 1`, `amp_http_refused_total{limit="body-elements"} 1`, `amp_http_refused_total{limit="body-depth"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "amp_http_refused_total"))
		}
	}
	if !strings.Contains(m, `amp_http_refused_total{limit="large-busy"}`) || strings.Contains(m, `amp_http_refused_total{limit="large-busy"} 0`) {
		t.Errorf("large-busy refusals not counted:\n%s", grepLines(m, "amp_http_refused_total"))
	}
}

// TestWatchEndsWhenTokenRevoked (finding 8): an open /watch stream stops
// delivering as soon as its token is revoked, and says why.
func TestWatchEndsWhenTokenRevoked(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	id, member := newToken(t, s, `{"name":"bob","role":"enterprise-member","enterprise":"acme"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/watch", nil)
	req.Header.Set("Authorization", "Bearer "+member)
	resp, err := s.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("watch: %d", resp.StatusCode)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() string {
		if !lines.Scan() {
			return ""
		}
		return lines.Text()
	}
	site := "/aether/v2.1.x/acme/site/acme-chicago"
	s.Must(t, 200, "PATCH", site, `{"display-name":"before revocation"}`)
	if l := next(); !strings.Contains(l, "before revocation") {
		t.Fatalf("first event: %q", l)
	}
	s.Must(t, 200, "DELETE", "/tokens/"+id, "")
	s.Must(t, 200, "PATCH", site, `{"display-name":"after revocation"}`)
	l := next()
	if strings.Contains(l, "after revocation") || !strings.Contains(l, "no longer valid") {
		t.Fatalf("after the token was revoked the stream sent %q", l)
	}
	if l := next(); l != "" {
		t.Fatalf("the stream went on: %q", l)
	}
	if m := string(s.Must(t, 200, "GET", "/metrics", "")); !strings.Contains(m, `amp_http_streams_ended_total{reason="credential"} 1`) {
		t.Fatalf("ended stream not counted:\n%s", grepLines(m, "amp_http_streams_ended_total"))
	}
}

// TestStreamsPerPrincipal (issue 8, low): one principal holds at most
// --max-streams-per-principal open /watch streams (/watch?from=0 replays
// the whole history); others are not affected.
func TestStreamsPerPrincipal(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--max-streams-per-principal", "1")
	_, alice := newToken(t, s, `{"name":"alice","role":"enterprise-admin","enterprise":"acme"}`)
	open := func(tok string) *http.Response {
		req, _ := http.NewRequest("GET", s.URL+"/watch?from=0", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := s.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := open(alice); r.StatusCode != 200 {
		t.Fatalf("first stream: %d", r.StatusCode)
	}
	r := open(alice)
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 429 || !strings.Contains(string(b), "--max-streams-per-principal") {
		t.Fatalf("second stream of the same principal: %d %s", r.StatusCode, b)
	}
	if r := open(s.Token); r.StatusCode != 200 {
		t.Fatalf("another principal's stream: %d", r.StatusCode)
	}
}

// TestRESTLowFindings (issue 8, low), one subtest per finding on one
// server: operator-only /metrics and log level, /spec through the policy,
// security headers, no global index for tenants, tenant-paged history,
// AEAD-only TLS 1.2.
func TestRESTLowFindings(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	_, alice := newToken(t, s, `{"name":"alice","role":"enterprise-admin","enterprise":"acme"}`)
	_, writer := newToken(t, s, `{"name":"probe","role":"state-writer"}`)
	as := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	site := "/aether/v2.1.x/acme/site/acme-chicago"

	t.Run("metrics, log level and spec are authorized", func(t *testing.T) {
		s.Must(t, 403, "GET", "/metrics", "", as(alice)...)
		s.Must(t, 403, "GET", "/admin/log-level", "", as(alice)...)
		s.Must(t, 403, "GET", "/spec", "", as(writer)...)
		s.Must(t, 200, "GET", "/spec", "", as(alice)...)
		s.Must(t, 200, "GET", "/metrics", "")
	})

	t.Run("security headers on authenticated JSON", func(t *testing.T) {
		_, _, h, err := s.Do(context.Background(), "GET", site, "", as(alice)...)
		if err != nil {
			t.Fatal(err)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") {
			t.Fatalf("security headers missing: %v", h)
		}
	})

	t.Run("no global index for tenants", func(t *testing.T) {
		_, _, h, err := s.Do(context.Background(), "GET", site, "", as(alice)...)
		if err != nil {
			t.Fatal(err)
		}
		if h.Get("X-AMP-Index") != "" {
			t.Errorf("tenant read carries X-AMP-Index %s", h.Get("X-AMP-Index"))
		}
		if _, _, oh, _ := s.Do(context.Background(), "GET", site, ""); oh.Get("X-AMP-Index") == "" {
			t.Error("operator read lost X-AMP-Index")
		}
		if b := s.Must(t, 200, "GET", "/readyz", "", "Authorization", ""); strings.Contains(string(b), "index") {
			t.Errorf("/readyz tells the index: %s", b)
		}
		if b := s.Must(t, 404, "GET", "/transactions/999999", "", as(alice)...); strings.Contains(string(b), "newest") {
			t.Errorf("error tells a tenant the newest index: %s", b)
		}
		var d map[string]any
		json.Unmarshal(s.Must(t, 200, "GET", "/diff?from=0", "", as(alice)...), &d)
		if _, ok := d["to"]; ok || d["changes"] == nil {
			t.Errorf("diff tells a tenant the newest index: to=%v", d["to"])
		}
	})

	t.Run("history pages by what the tenant may see", func(t *testing.T) {
		// starbucks' activity after acme's last change leaves acme's page full.
		s.Must(t, 200, "PATCH", site, `{"display-name":"acme's last"}`)
		for i := range 30 {
			s.Must(t, 200, "PATCH", "/aether/v2.1.x/starbucks/site/starbucks-seattle", fmt.Sprintf(`{"display-name":"s%d"}`, i))
		}
		var page []struct{ Targets []string }
		json.Unmarshal(s.Must(t, 200, "GET", "/amp/transactions?limit=1", "", as(alice)...), &page)
		if len(page) != 1 || len(page[0].Targets) != 1 || page[0].Targets[0] != "acme" {
			t.Fatalf("tenant's /amp/transactions?limit=1: %+v", page)
		}
		// aether-roc-api's shape (onos-config transactions) too.
		var onos []struct {
			Details struct {
				Change []struct {
					TargetName string `json:"target-name"`
				}
			}
		}
		json.Unmarshal(s.Must(t, 200, "GET", "/transactions?limit=1", "", as(alice)...), &onos)
		if len(onos) != 1 || len(onos[0].Details.Change) != 1 || onos[0].Details.Change[0].TargetName != "acme" {
			t.Fatalf("tenant's /transactions?limit=1: %+v", onos)
		}
	})

	t.Run("TLS 1.2 offers only ECDHE AEAD suites", func(t *testing.T) {
		cbc := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}
		if c, err := dialTLS(t, s, cbc); err == nil {
			c.Close()
			t.Fatalf("TLS 1.2 handshake with CBC/SHA-1 suites succeeded: %s", tls.CipherSuiteName(c.ConnectionState().CipherSuite))
		}
		c, err := dialTLS(t, s, &tls.Config{MaxVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("TLS 1.2 with the default suites: %v", err)
		}
		defer c.Close()
		if name := tls.CipherSuiteName(c.ConnectionState().CipherSuite); !strings.Contains(name, "ECDHE") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
			t.Fatalf("TLS 1.2 suite %s", name)
		}
	})
}

// TestForgedKeyIDsFetchKeysRarely (issue 8, low): JWTs naming key ids the
// provider never issued do not make AMP fetch the provider's key set once
// each (before: 653 fetches for 2,000 requests); real tokens keep working.
func TestForgedKeyIDsFetchKeysRarely(t *testing.T) {
	p, err := idp.Start(t)
	if err != nil {
		t.Fatal(err)
	}
	s := testenv.Start(t, t.TempDir(), "--demo", "--oidc-issuer", p.Issuer, "--oidc-client-id", p.ClientID)
	alice := p.Token(t, "alice", "alice-pw")
	acme := "/aether/v2.1.x/acme/site/acme-chicago"
	s.Must(t, 200, "GET", acme, "", "Authorization", "Bearer "+alice)
	parts := strings.Split(alice, ".")
	var hdr map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	const forged = 40
	for i := range forged {
		hdr["kid"] = fmt.Sprintf("forged-%d", i)
		h, _ := json.Marshal(hdr)
		tok := base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "." + parts[2]
		s.Must(t, 401, "GET", acme, "", "Authorization", "Bearer "+tok)
	}
	s.Must(t, 200, "GET", acme, "", "Authorization", "Bearer "+alice)
	m := string(s.Must(t, 200, "GET", "/metrics", ""))
	var refused float64
	for _, l := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(l, "amp_oidc_key_fetches_refused_total "); ok {
			fmt.Sscan(v, &refused)
		}
	}
	// Within one refresh interval at most one forged token may fetch;
	// the run may straddle one interval boundary on a slow machine.
	if refused < forged-2 {
		t.Fatalf("only %v of %d forged-key tokens were denied a key fetch:\n%s", refused, forged, grepLines(m, "amp_oidc"))
	}
}
