package client

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
