package client

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHTTPSByDefault(t *testing.T) {
	if got := New("", "t").BaseURL(); got != "https://127.0.0.1:8181" {
		t.Fatalf("default %s", got)
	}
	if got := New("amp.example.com:8181", "t").BaseURL(); got != "https://amp.example.com:8181" {
		t.Fatalf("no scheme: %s", got)
	}
}

func TestWithCA(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer ts.Close()
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := New(ts.URL, "t", WithCA(ca)).Get(ctx, "/x", nil); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	_, _, err := New(ts.URL, "t").Get(ctx, "/x", nil)
	if err == nil || !strings.Contains(err.Error(), "unknown authority") || !strings.Contains(err.Error(), "AMP_CA") {
		t.Fatalf("without the CA: %v", err)
	}
	_, _, err = New(ts.URL, "t", WithCA(filepath.Join(t.TempDir(), "missing.crt"))).Get(ctx, "/x", nil)
	if err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Fatalf("missing CA file: %v", err)
	}
	_, _, err = New(ts.URL, "t", WithCA(ca), WithClientCert(ca, "")).Get(ctx, "/x", nil)
	if err == nil || !strings.Contains(err.Error(), "key") {
		t.Fatalf("client cert without key: %v", err)
	}
	// A plain HTTP server dialled over https.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	_, _, err = New(strings.Replace(plain.URL, "http://", "https://", 1), "t").Get(ctx, "/x", nil)
	if err == nil || !strings.Contains(err.Error(), "http://") {
		t.Fatalf("https to a plain HTTP server: %v", err)
	}
}

// TestTokenNeverOverPlainHTTPOffLoopback: a client of an http:// server
// that is not this machine refuses before sending anything (it used to
// send the bearer token in clear to any host); loopback http:// works, and
// a redirect from https:// down to http:// is not followed with the token.
func TestTokenNeverOverPlainHTTPOffLoopback(t *testing.T) {
	var sawToken atomic.Bool
	// Every connection, whatever host the URL names, reaches this local
	// server: no request leaves the machine.
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			sawToken.Store(true)
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	defer local.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, local.Listener.Addr().String())
	}}
	hc := &http.Client{Transport: tr}
	ctx := context.Background()
	for _, u := range []string{"http://amp.example.com:8181", "http://10.1.2.3:8181", "http://0.0.0.0:8181"} {
		_, _, err := New(u, "secret", WithHTTPClient(hc)).Get(ctx, "/x", nil)
		if err == nil || !strings.Contains(err.Error(), "refusing to send the API token to "+u) || !strings.Contains(err.Error(), "https://") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if sawToken.Load() {
		t.Fatal("the token was sent over plain http:// off loopback")
	}
	for _, u := range []string{"http://127.0.0.1:8181", "http://[::1]:8181", "http://localhost:8181"} {
		if _, _, err := New(u, "secret", WithHTTPClient(hc)).Get(ctx, "/x", nil); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, _, err := New("http://amp.example.com:8181", "", WithHTTPClient(hc)).Get(ctx, "/x", nil); err != nil {
		t.Errorf("without a token there is nothing to protect: %v", err)
	}
	// A redirect from https:// down to http:// on the same host, to which
	// Go would forward the token (httptest's certificate is example.com's).
	sawToken.Store(false)
	redir := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/x", http.StatusFound)
	}))
	redir.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer redir.Close()
	tr2 := redir.Client().Transport.(*http.Transport).Clone()
	tr2.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		to := local.Listener.Addr().String()
		if strings.HasSuffix(addr, ":443") {
			to = redir.Listener.Addr().String()
		}
		return (&net.Dialer{}).DialContext(ctx, network, to)
	}
	_, _, err := New("https://example.com", "secret", WithHTTPClient(&http.Client{Transport: tr2})).Get(ctx, "/x", nil)
	if err == nil || !strings.Contains(err.Error(), "refusing to follow a redirect") || sawToken.Load() {
		t.Fatalf("redirect to plain http://: %v (token sent: %v)", err, sawToken.Load())
	}
}
