package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestSpecMatchesServer fetches the OpenAPI document from the running
// binary and checks real requests and the server's real responses against
// it with kin-openapi's request/response validator: the document describes
// what the server actually accepts and returns.
func TestSpecMatchesServer(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	raw := s.Must(t, 200, "GET", "/spec", "")
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("served document is invalid: %v", err)
	}
	if y := s.Must(t, 200, "GET", "/spec?format=yaml", ""); !bytes.HasPrefix(y, []byte("components:")) && !bytes.Contains(y, []byte("openapi: 3")) {
		t.Fatalf("yaml spec: %.100s", y)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/" {
		t.Fatalf("servers: %+v, want the relative server /", doc.Servers)
	}
	// kin-openapi's router matches servers against the request's host and
	// does not resolve a relative server URL against the document's; the
	// server is this one, so match paths only.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	base := "/aether/v2.1.x/acme/site/acme-chicago"
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"GET", base, "", 200},
		{"GET", "/aether/v2.1.x/acme/site?limit=1", "", 200},
		{"GET", base + "/sim-card?sort=-imsi&limit=2", "", 200},
		{"GET", base + "/sim-card?filter=imsi%5E%3D315010&sort=imsi", "", 200},
		{"GET", base + "/device/camera-1", "", 200},
		{"GET", base + "/device-group/cameras/mbr", "", 200},
		{"GET", base + "/device-group/cameras/traffic-class/values", "", 200},
		{"POST", base + "/device/new-1", `{"device-id":"new-1","imei":"350101000000099","display-name":"New"}`, 201},
		{"PUT", base + "/upf/upf-1", `{"upf-id":"upf-1","address":"upf.local","port":8805}`, 200},
		{"PATCH", base + "/slice/video", `{"description":"patched"}`, 200},
		{"POST", base + "/sim-card/bad", `{"imsi":"1"}`, 400},
		{"GET", base + "/device/nope", "", 404},
		{"DELETE", base + "/device/new-1", "", 200},
		{"GET", "/transactions?limit=2", "", 200},
		{"GET", "/amp/transactions?limit=2", "", 200},
		{"GET", "/aether/v2.1.x/acme", "", 200},
		{"GET", "/sync-status", "", 200},
		{"PUT", "/state" + base + "/device/camera-1/state", `{"ip-address":"10.250.0.7","connected":"Yes"}`, 204},
		{"PATCH", "/state" + base + "/device/camera-1/state", `{"connected":"Idle"}`, 204},
		{"GET", "/aether-2.1.0-openapi3.yaml", "", 200},
		{"GET", "/transactions/1", "", 200},
		{"GET", "/diff?from=1&to=2", "", 200},
		{"GET", "/targets", "", 200},
		{"GET", "/enterprises", "", 200},
		{"PATCH", "/aether-roc-api", `{"default-target":"acme","Updates":{"traffic-class-2.1.0":[{"traffic-class-id":"class-9","qci":9}]}}`, 200},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+s.Token)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not in the document: %v", c.method, c.path, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if c.status < 400 {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("%s %s: request does not fit the document: %v", c.method, c.path, err)
			}
		}
		req.Body = io.NopCloser(strings.NewReader(c.body))
		resp, err := s.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, body)
			continue
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s %s: response does not fit the document: %v", c.method, c.path, err)
		}
	}
}

// TestExportIsValidYANGData exports an enterprise as RFC 7951 JSON and has
// the independent validator yanglint check it against the models.
func TestExportIsValidYANGData(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	for _, ent := range []string{"acme", "starbucks"} {
		data := s.Must(t, 200, "GET", "/aether/v2.1.x/"+ent+"?encoding=rfc7951", "")
		if !bytes.Contains(data, []byte(`"onf-site:site"`)) {
			t.Fatalf("export is not module-qualified: %.200s", data)
		}
		file := filepath.Join(t.TempDir(), ent+".json")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		root := testenv.RepoRoot()
		args := []string{"-t", "config", "-p", filepath.Join(root, "models/ietf"), "-p", filepath.Join(root, "models/amp"), "-p", filepath.Join(root, "models/aether/2.1.x")}
		for _, m := range []string{"aether/2.1.x/amp-aether-lifecycle", "aether/2.1.x/onf-aether-types", "aether/2.1.x/onf-application", "aether/2.1.x/onf-site",
			"aether/2.1.x/onf-template", "aether/2.1.x/onf-traffic-class", "amp/amp-extensions", "ietf/ietf-inet-types", "ietf/ietf-yang-types"} {
			args = append(args, filepath.Join(root, "models", m+".yang"))
		}
		out, err := exec.Command("yanglint", append(args, file)...).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Fatalf("yanglint rejects AMP's export of %s (install: scripts/test-deps.sh): %v\n%s", ent, err, out)
		}
	}
}
