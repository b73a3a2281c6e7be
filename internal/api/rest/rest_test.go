package rest

import (
	"encoding/json"
	"github.com/amp-edge/amp/internal/testenv"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
)

type env struct {
	t     testing.TB
	srv   *httptest.Server
	token string
	eng   *config.Engine
}

func newEnv(t testing.TB, withDemo bool) *env {
	t.Helper()
	eng, st := testenv.Engine(t, withDemo)
	tokens := auth.NewTokens(st)
	tok, _, err := tokens.Create("t", "tester", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mustNew(t, Options{Engine: eng, Auth: tokens, Authorizer: auth.AllowAuthenticated{}}))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, token: tok, eng: eng}
}

func (e *env) do(method, path, body string, hdr ...string) (int, string, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (e *env) want(code int, method, path, body string, hdr ...string) string {
	e.t.Helper()
	got, b, _ := e.do(method, path, body, hdr...)
	if got != code {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, code, b)
	}
	return b
}

func repoFile(t *testing.T, rel string) []byte {
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDemoReadsAndErrors(t *testing.T) {
	e := newEnv(t, true)
	b := e.want(200, "GET", "/aether/v2.1.x/acme/site", "")
	var sites []map[string]any
	if err := json.Unmarshal([]byte(b), &sites); err != nil || len(sites) != 2 {
		t.Fatalf("sites: %v %s", err, b)
	}
	e.want(200, "GET", "/aether/v2.1.x/acme/site/acme-chicago/slice/video", "")
	e.want(404, "GET", "/aether/v2.1.x/acme/site/nope", "")
	e.want(404, "GET", "/aether/v2.1.x/nope/site", "")
	e.want(401, "GET", "/aether/v2.1.x/acme/site", "", "Authorization", "Bearer amp_000000000000_x")
	// Invalid IMSI names the path.
	b = e.want(400, "POST", "/aether/v2.1.x/acme/site/acme-chicago/sim-card/bad", `{"imsi":"12"}`)
	if !strings.Contains(b, "/aether/v2.1.x/acme/site/acme-chicago/sim-card/bad/imsi") {
		t.Fatalf("error does not name the path: %s", b)
	}
	// Cross-site reference.
	b = e.want(409, "POST", "/aether/v2.1.x/acme/site/acme-dallas/device-group/x",
		`{"device":[{"device-id":"ghost"}],"mbr":{"uplink":1,"downlink":1},"traffic-class":"class-1"}`)
	if !strings.Contains(b, "ghost") {
		t.Fatal(b)
	}
	// Unknown field, wrong type, bad UTF-8, dot segments.
	e.want(400, "POST", "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1", `{"bogus":1}`)
	e.want(400, "POST", "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1", `{"port":"x"}`)
	e.want(400, "POST", "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1", "{\"address\":\"\xff\"}")
	e.want(400, "GET", "/aether/v2.1.x/acme/../x", "")
	// Leafref values.
	b = e.want(200, "GET", "/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras/traffic-class/values", "")
	if !strings.Contains(b, "class-3") {
		t.Fatal(b)
	}
	// Paging.
	_, b, h := e.do("GET", "/aether/v2.1.x/acme/site/acme-chicago/device?limit=3", "")
	if c := h.Get("X-AMP-Continue"); c == "" {
		t.Fatalf("no continue token: %s", b)
	} else {
		b2 := e.want(200, "GET", "/aether/v2.1.x/acme/site/acme-chicago/device?limit=100&continue="+c, "")
		var d1, d2 []any
		json.Unmarshal([]byte(b), &d1)
		json.Unmarshal([]byte(b2), &d2)
		if len(d1) != 3 || len(d2) != 5 {
			t.Fatalf("paging %d + %d", len(d1), len(d2))
		}
	}
	b = e.want(200, "GET", "/aether/v2.1.x/acme/site/acme-chicago/device?filter=sim-card=sim-2", "")
	if strings.Count(b, "device-id") != 1 {
		t.Fatal(b)
	}
}

func TestWritesHistoryRollback(t *testing.T) {
	e := newEnv(t, true)
	p := "/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras"
	// POST without mandatory field and without unchanged: aether-roc-api rule.
	b := e.want(400, "POST", p, `{"mbr":{"uplink":5}}`)
	if !strings.Contains(b, "must be provided or added to 'unchanged'") {
		t.Fatal(b)
	}
	e.want(201, "POST", p, `{"mbr":{"uplink":5,"downlink":6},"additionalProperties":{"unchanged":"traffic-class"}}`)
	_, _, h := e.do("GET", p, "")
	etagV := h.Get("ETag")
	e.want(412, "PATCH", p, `{"display-name":"x"}`, "If-Match", `"1"`)
	_, _, h = e.do("PATCH", p, `{"display-name":"Cams"}`, "If-Match", etagV)
	idx1 := h.Get("X-AMP-Transaction-Index")
	e.want(200, "PATCH", p, `{"description":"later"}`)
	// Dry run changes nothing.
	b = e.want(200, "PUT", p+"/mbr?dry-run=true", `{"uplink":1,"downlink":1}`)
	if !strings.Contains(b, `"dry-run":true`) {
		t.Fatal(b)
	}
	// Roll back the older one.
	e.want(200, "POST", "/transactions/"+idx1+"/rollback", "")
	b = e.want(200, "GET", p, "")
	if strings.Contains(b, "Cams") || !strings.Contains(b, "later") {
		t.Fatal(b)
	}
	// Point in time.
	b = e.want(200, "GET", p+"?at="+idx1, "")
	if !strings.Contains(b, "Cams") {
		t.Fatal(b)
	}
	e.want(200, "GET", "/transactions/"+idx1, "")
	e.want(200, "GET", "/diff?from=1", "")
	// Delete then 404.
	e.want(200, "DELETE", "/aether/v2.1.x/acme/site/acme-chicago/small-cell/cell-2", "")
	e.want(404, "DELETE", "/aether/v2.1.x/acme/site/acme-chicago/small-cell/cell-2", "")
}

func TestOperationalState(t *testing.T) {
	e := newEnv(t, true)
	dev := "/aether/v2.1.x/acme/site/acme-chicago/device/camera-1"
	before := e.eng.Snapshot().Index
	e.want(204, "PUT", "/state"+dev+"/state", `{"ip-address":"10.250.0.7","connected":"Yes","last-connected":"2026-11-22T10:00:00Z"}`)
	b := e.want(200, "GET", dev+"/state", "")
	if !strings.Contains(b, `"connected":"Yes"`) || !strings.Contains(b, "10.250.0.7") {
		t.Fatal(b)
	}
	e.want(204, "PATCH", "/state"+dev+"/state", `{"connected":"Idle"}`)
	b = e.want(200, "GET", dev, "")
	if !strings.Contains(b, `"connected":"Idle"`) || !strings.Contains(b, "10.250.0.7") {
		t.Fatal(b)
	}
	if e.eng.Snapshot().Index != before {
		t.Fatal("state is versioned")
	}
	// Not for configuration, not for missing objects, validated.
	e.want(400, "PUT", "/state"+dev+"/imei", `"123456789012345"`)
	e.want(404, "PUT", "/state/aether/v2.1.x/acme/site/acme-chicago/device/nope/state", `{"connected":"Yes"}`)
	e.want(400, "PUT", "/state"+dev+"/state", `{"connected":"Maybe"}`)
	// Config reads through ?encoding=rfc7951 leave state out; deleting the
	// device drops its state.
	if b := e.want(200, "GET", "/aether/v2.1.x/acme?encoding=rfc7951", ""); strings.Contains(b, "10.250.0.7") {
		t.Fatal("state in a config export")
	}
	e.want(204, "DELETE", "/state"+dev+"/state", "")
	e.want(404, "GET", dev+"/state", "")
}
