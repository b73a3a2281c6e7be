package demo

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestBackendsServeEverySiteOnLoopbackOnly(t *testing.T) {
	if _, err := StartBackends("0.0.0.0:0"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("a non-loopback listener: %v", err)
	}
	b, err := StartBackends("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	grants := b.Grants()
	if len(grants) != 4*(1+len(upfs)) {
		t.Fatalf("%d grants; want a core and %d UPFs for each of 4 sites", len(grants), len(upfs))
	}
	for _, g := range grants {
		if len(g.Enterprises) != 1 || !strings.HasPrefix(g.Name, "demo-"+g.Enterprises[0]) {
			t.Errorf("%s is granted to %v, not only to its site's enterprise", g.Name, g.Enterprises)
		}
		// The core lists its (no) slices; the UPF has no read, and
		// answers any method but PUT and POST with 405, as the real one.
		path, wantCode, wantBody := "/v1/network-slice", http.StatusOK, "[]"
		if g.Kind != "core" {
			path, wantCode, wantBody = "/v1/config/network-slices", http.StatusMethodNotAllowed, `{"message":"Failed to add slice"}`
		}
		resp, err := http.Get(g.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantCode || strings.TrimSpace(string(body)) != wantBody {
			t.Errorf("%s: %s %s", g.URL+path, resp.Status, body)
		}
	}
}
