package e2e

// The provision layer's routes in the OpenAPI document and their metrics,
// through the real binary (issue 11): every route's real requests and the
// server's real answers fit what GET /spec says of them, and each
// feature's amp_ metric moves with what was done.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/internal/testenv"
)

// acmeSiteSpec is the book's example site as a site of acme's (its
// organization's tenant), as JSON for POST /provision/sites.
func acmeSiteSpec(t *testing.T, site string) string {
	t.Helper()
	raw, err := os.ReadFile(bookExample)
	if err != nil {
		t.Fatal(err)
	}
	y := strings.NewReplacer("site: stanford1", "site: "+site, "organization: {id: stanford, display-name: Stanford University}",
		"organization: {id: acme-org, tenant: acme}").Replace(string(raw))
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

// provisionMetrics reads the provision features' series from /metrics.
func provisionMetrics(t *testing.T, s *testenv.Server) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(s.Must(t, 200, "GET", "/metrics", "")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || !strings.HasPrefix(f[0], "amp_ipam_") && !strings.HasPrefix(f[0], "amp_provision_") && !strings.HasPrefix(f[0], "amp_cluster_") {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		out[f[0]] = v
	}
	return out
}

// TestProvisionRoutesMatchSpec: every route of the provision layer, called
// as a client would, with kin-openapi checking each request and answer
// against the document the binary serves (success and refusals); then
// the features' metrics on /metrics moved by exactly what was done.
func TestProvisionRoutesMatchSpec(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	doc, err := openapi3.NewLoader().LoadFromData(s.Must(t, 200, "GET", "/spec", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("served document is invalid: %v", err)
	}
	before := provisionMetrics(t, s)
	for _, series := range []string{`amp_ipam_allocations_total{kind="ip",result="ok"}`, `amp_ipam_allocations_total{kind="vlan",result="conflict_retry"}`,
		`amp_provision_render_sites_total{result="cached"}`, `amp_cluster_registrations_total{result="refused"}`, `amp_provision_render_duration_seconds_count`,
		`amp_provision_site_objects_count`} {
		if v, ok := before[series]; !ok || v != 0 {
			t.Errorf("before anything is done, %s = %v (present %v), want 0", series, v, ok)
		}
	}

	// call sends a request to the route of template tmpl and checks the
	// request (when it should be taken) and the answer against the
	// document; token "" sends no credential.
	call := func(method, tmpl string, params map[string]string, query, body, token string, want int) []byte {
		t.Helper()
		item := doc.Paths.Value(tmpl)
		if item == nil || item.GetOperation(method) == nil {
			t.Fatalf("%s %s: not in the document", method, tmpl)
		}
		path := tmpl
		for k, v := range params {
			path = strings.ReplaceAll(path, "{"+k+"}", v)
		}
		if query != "" {
			path += "?" + query
		}
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, s.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		route := &routers.Route{Spec: doc, Path: tmpl, PathItem: item, Method: method, Operation: item.GetOperation(method)}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, QueryParams: req.URL.Query(), Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if want < 400 {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("%s %s: the request does not fit the document: %v", method, path, err)
			}
			if body != "" {
				req.Body = io.NopCloser(strings.NewReader(body))
			}
		}
		resp, err := s.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %.400s", method, path, resp.StatusCode, want, b)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		ct := resp.Header.Get("Content-Type")
		if !strings.Contains(ct, "json") {
			// SVG, CSV, zone files, scripts: the document names the
			// media type; kin-openapi decodes JSON and YAML bodies only.
			out.Options.ExcludeResponseBody = true
			mt, _, _ := strings.Cut(ct, ";")
			if item.GetOperation(method).Responses.Status(want).Value.Content.Get(mt) == nil {
				t.Errorf("%s %s: answered as %s, which the document does not name", method, path, ct)
			}
		}
		out.SetBodyBytes(b)
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s %s: the answer does not fit the document: %v", method, path, err)
		}
		return b
	}
	op := s.Token
	site := map[string]string{"site": "acme1"}

	// Conventions: a dry run, the site, its check.
	spec := acmeSiteSpec(t, "acme1")
	call("POST", "/provision/sites", nil, "dry-run=true", spec, op, 200)
	s.Must(t, 404, "GET", "/inventory/v1.0.0/site/acme1", "")
	call("POST", "/provision/sites", nil, "", spec, op, 200)
	call("GET", "/provision/{site}/check", site, "", "", op, 200)
	call("POST", "/provision/sites", nil, "", `{"site":"Bad Site"}`, op, 400)

	// Rack and cable views.
	var rows []map[string]any
	json.Unmarshal(call("GET", "/provision/{site}/cables", site, "", "", op, 200), &rows)
	if len(rows) == 0 {
		t.Fatal("the book's site has no cables")
	}
	call("GET", "/provision/{site}/cables", site, "format=csv", "", op, 200)
	call("GET", "/provision/{site}/racks/{rack}/elevation.svg", map[string]string{"site": "acme1", "rack": "r1"}, "face=rear", "", op, 200)
	call("GET", "/provision/{site}/racks/{rack}/elevation.svg", map[string]string{"site": "acme1", "rack": "nope"}, "", "", op, 404)
	end := map[string]string{"site": "acme1", "device": rows[0]["device-a"].(string), "name": rows[0]["termination-a"].(string)}
	call("GET", "/provision/{site}/devices/{device}/interfaces/{name}/trace", end, "", "", op, 200)

	// Artifacts: rendered, then read from the cache; one of each type.
	var list struct {
		Index     uint64
		Artifacts []struct{ Name string }
	}
	json.Unmarshal(call("GET", "/provision/{site}/artifacts", site, "", "", op, 200), &list)
	call("GET", "/provision/{site}/artifacts", site, "since=1", "", op, 200)
	kinds := map[string]bool{}
	for _, a := range list.Artifacts {
		ext := path.Ext(a.Name)
		if kinds[ext] {
			continue
		}
		kinds[ext] = true
		call("GET", "/provision/{site}/artifacts/{name}", map[string]string{"site": "acme1", "name": a.Name}, "", "", op, 200)
	}
	if len(kinds) < 4 {
		t.Errorf("artifacts of %d name extensions, want at least 4: %v", len(kinds), list.Artifacts)
	}
	call("GET", "/provision/{site}/artifacts/{name}", map[string]string{"site": "acme1", "name": "nope.txt"}, "", "", op, 404)

	// Import: a dry run, then a change.
	imp := `{"inventory":{"site":[{"site-id":"acme1","display-name":"Acme One"}]},"prune":false}`
	call("POST", "/provision/import", nil, "dry-run=true", imp, op, 200)
	call("POST", "/provision/import", nil, "", imp, op, 200)
	call("POST", "/provision/import", nil, "", `{"prune":1}`, op, 400)

	// IPAM: free lists, allocations (one, a list, a dry run) and a
	// request for more than is free.
	var prefixes []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/site/acme1/prefix", ""), &prefixes)
	if len(prefixes) == 0 {
		t.Fatal("the book's site has no prefixes")
	}
	pfx := map[string]string{"site-id": "acme1", "prefix-id": prefixes[0]["prefix-id"].(string)}
	ips := "/inventory/v1.0.0/site/{site-id}/prefix/{prefix-id}/available-ips"
	call("GET", ips, pfx, "limit=5", "", op, 200)
	call("POST", ips, pfx, "", `{"status":"reserved"}`, op, 201)
	call("POST", ips, pfx, "", `[{},{}]`, op, 201)
	call("POST", ips, pfx, "dry-run=true", `[{}]`, op, 200)
	call("POST", ips, pfx, "", "["+strings.Repeat("{},", 1023)+"{}]", op, 409)
	call("GET", ips, pfx, "limit=0", "", op, 400)
	subs := "/inventory/v1.0.0/site/{site-id}/prefix/{prefix-id}/available-prefixes"
	call("GET", subs, pfx, "", "", op, 200)
	call("POST", subs, pfx, "", `{"prefix-id":"acme1-sub","prefix-length":28}`, op, 201)
	vlans := "/inventory/v1.0.0/site/{site-id}/available-vlans"
	call("GET", vlans, map[string]string{"site-id": "acme1"}, "limit=3", "", op, 200)
	call("POST", vlans, map[string]string{"site-id": "acme1"}, "", `{"name":"acme1-extra"}`, op, 201)

	// Clusters: the plan, tokens minted, listed and revoked, and an
	// agent's registration (no credential but the token), once.
	s.Must(t, 201, "POST", "/inventory/v1.0.0", strings.Replace(aceX, `"cluster-id":"ace-x",`, `"cluster-id":"ace-x","site":"acme1",`, 1))
	cl := map[string]string{"name": "ace-x"}
	call("GET", "/clusters/{name}/plan", cl, "", "", op, 200)
	call("GET", "/clusters/{name}/plan", map[string]string{"name": "nope"}, "", "", op, 404)
	var minted struct{ ID, Token string }
	json.Unmarshal(call("POST", "/clusters/{name}/tokens", cl, "", `{"ttl":"1h"}`, op, 201), &minted)
	call("GET", "/clusters/{name}/tokens", cl, "", "", op, 200)
	call("DELETE", "/clusters/{name}/tokens/{id}", map[string]string{"name": "ace-x", "id": minted.ID}, "", "", op, 200)
	call("POST", "/clusters/{name}/tokens", cl, "", `{"ttl":"forever"}`, op, 400)
	json.Unmarshal(call("POST", "/clusters/{name}/tokens", cl, "", `{}`, op, 201), &minted)
	call("POST", "/clusters/register", nil, "", tokenBody(minted.Token), "", 201)
	call("POST", "/clusters/register", nil, "", tokenBody(minted.Token), "", 401)
	call("GET", "/clusters/{name}/tokens", cl, "", "", "", 401)

	// The metrics moved by what was done.
	after := provisionMetrics(t, s)
	delta := func(series string) float64 { return after[series] - before[series] }
	for series, want := range map[string]float64{
		`amp_ipam_allocations_total{kind="ip",result="ok"}`:             2,
		`amp_ipam_allocations_total{kind="ip",result="exhausted"}`:      1,
		`amp_ipam_allocations_total{kind="prefix",result="ok"}`:         1,
		`amp_ipam_allocations_total{kind="vlan",result="ok"}`:           1,
		`amp_ipam_allocations_total{kind="ip",result="conflict_retry"}`: 0, // one writer: no lost race
		`amp_cluster_registrations_total{result="ok"}`:                  1,
		`amp_cluster_registrations_total{result="refused"}`:             1,
		`amp_provision_site_objects_count`:                              1, // the dry run committed nothing
	} {
		if got := delta(series); got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	// The listing rendered the site; the next read and each artifact
	// came from the cache; each render was timed.
	rendered, cached := delta(`amp_provision_render_sites_total{result="rendered"}`), delta(`amp_provision_render_sites_total{result="cached"}`)
	if rendered < 1 || cached < float64(len(kinds)) {
		t.Errorf("render: %v rendered, %v cached; want at least 1 and %d", rendered, cached, len(kinds))
	}
	if got := delta(`amp_provision_render_duration_seconds_count`); got != rendered {
		t.Errorf("%v renders timed, want %v", got, rendered)
	}
	if objs := delta(`amp_provision_site_objects_sum`); objs < 20 {
		t.Errorf("the book's site was %v objects, want at least 20", objs)
	}
}

// TestProvisionRenderHelpNamesKinds: `amp provision render --help` names
// the seven artifact kinds and where each is written.
func TestProvisionRenderHelpNamesKinds(t *testing.T) {
	out, err := ampCLI(t, nil, "provision", "render", "--help")
	if err != nil {
		t.Fatalf("amp provision render --help: %v\n%s", err, out)
	}
	for _, kind := range []string{"netplan/<device>.yaml", "dhcp/kea-dhcp4.json", "dns/<zone>.zone", "ipxe/menu.ipxe",
		"ansible/inventory.yml", "terraform/<cluster>.tfvars", "prometheus/{node,snmp,blackbox}.json"} {
		name, _, _ := strings.Cut(kind, "/")
		if !regexp.MustCompile(`(?m)^\s+` + name + `\s+` + regexp.QuoteMeta(kind)).MatchString(out) {
			t.Errorf("the help does not name the kind %s (%s):\n%s", name, kind, out)
		}
	}
}
