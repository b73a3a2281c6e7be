package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// The test model sets (test/testdata/models): lab/1.0.0 is global (the
// operator's racks and servers, /lab/v1.0.0/…), workload/1.0.0 is per
// tenant (/workload/v1.0.0/{enterprise}/…).
func modelsDir() string { return filepath.Join(testenv.RepoRoot(), "test", "testdata", "models") }

// TestModelSetGlobalBolt drives a global and a tenant set end to end
// through the binary on the embedded store.
func TestModelSetGlobalBolt(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--models", modelsDir(), "--gnmi-listen", "127.0.0.1:0"}
	s := testenv.Start(t, dir, args...)
	modelSetScenario(t, s, func() *testenv.Server {
		s.Stop()
		return testenv.Start(t, dir, args...)
	})
}

// TestModelSetGlobalEtcd: the same on etcd.
func TestModelSetGlobalEtcd(t *testing.T) {
	c := etcd.Start(t, 1)
	dir := t.TempDir()
	args := []string{"--models", modelsDir(), "--gnmi-listen", "127.0.0.1:0", "--store", "etcd://" + c.Endpoints() + "/amp-modelset/"}
	s := testenv.Start(t, dir, args...)
	modelSetScenario(t, s, func() *testenv.Server {
		s.Stop()
		return testenv.Start(t, dir, args...)
	})
}

// problemOf decodes a problem+json answer.
type problemBody struct {
	Message *string `json:"message"`
	Errors  []struct{ Path, Reason string }
}

func problemOf(t *testing.T, b []byte) problemBody {
	t.Helper()
	var p problemBody
	if err := json.Unmarshal(b, &p); err != nil || len(p.Errors) == 0 {
		t.Fatalf("not a problem with errors: %v %s", err, b)
	}
	return p
}

// refused checks a refusal: its status, and an error naming the path and
// saying why (the reason holds want).
func refused(t *testing.T, s *testenv.Server, code int, method, path, body, wantPath, want string, hdr ...string) problemBody {
	t.Helper()
	p := problemOf(t, s.Must(t, code, method, path, body, hdr...))
	for _, e := range p.Errors {
		if strings.Contains(e.Path, wantPath) && strings.Contains(e.Reason, want) {
			return p
		}
	}
	t.Fatalf("%s %s: no error with path %q and reason %q: %+v", method, path, wantPath, want, p.Errors)
	return p
}

func txnIndex(t *testing.T, s *testenv.Server, method, path, body string) string {
	t.Helper()
	code, b, h, err := s.Do(context.Background(), method, path, body)
	if err != nil || code >= 300 {
		t.Fatalf("%s %s: %d %v %s", method, path, code, err, b)
	}
	idx := h.Get("X-AMP-Transaction-Index")
	if idx == "" {
		t.Fatalf("%s %s: no transaction index", method, path)
	}
	return idx
}

func getJSON(t *testing.T, s *testenv.Server, path string, v any, hdr ...string) {
	t.Helper()
	if err := json.Unmarshal(s.Must(t, 200, "GET", path, "", hdr...), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func modelSetScenario(t *testing.T, s *testenv.Server, restart func() *testenv.Server) {
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)

	// Paths: a known set at an unknown version, a tenant where a global
	// set has none, no tenant where a tenant set needs one.
	refused(t, s, 404, "GET", "/lab/v2.0.0/rack", "", "/lab/v2.0.0/rack", "v1.0.0")
	refused(t, s, 404, "GET", "/lab/v1.0.0/acme/rack", "", "/lab/v1.0.0/acme", "no tenant segment")
	refused(t, s, 404, "PUT", "/lab/v1.0.0/acme/rack/r1", `{"rack-id":"r1"}`, "/lab/v1.0.0/acme", "no tenant segment")
	refused(t, s, 404, "GET", "/workload/v1.0.0/deployment", "", "/workload/v1.0.0/deployment", "per tenant")
	// aether-roc-api's "message" member is Aether's only.
	if p := problemOf(t, s.Must(t, 404, "GET", "/workload/v1.0.0/deployment", "")); p.Message != nil {
		t.Errorf("a workload problem has aether-roc-api's message member: %q", *p.Message)
	}
	if p := problemOf(t, s.Must(t, 404, "GET", "/aether/v2.1.x/nope/site", "")); p.Message == nil {
		t.Errorf("an Aether problem lost its message member")
	}

	// CRUD on the global set, with no enterprise record behind it.
	first := txnIndex(t, s, "PUT", "/lab/v1.0.0/rack/r1", `{"rack-id":"r1","display-name":"Rack 1"}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r2", `{"display-name":"Rack 2","height":40}`)
	var r1 map[string]any
	getJSON(t, s, "/lab/v1.0.0/rack/r1", &r1)
	if r1["display-name"] != "Rack 1" || r1["rack-id"] != "r1" {
		t.Fatalf("GET r1: %v", r1)
	}
	// Leafref inside the global set: a dangling one is refused with its
	// path; a referenced rack cannot be deleted, the referrer is named.
	refused(t, s, 409, "POST", "/lab/v1.0.0/server/sv1", `{"rack":"r9"}`, "/lab/v1.0.0/server/sv1/rack", `"r9"`)
	s.Must(t, 404, "GET", "/lab/v1.0.0/server/sv1", "")
	s.Must(t, 201, "POST", "/lab/v1.0.0/server/sv1", `{"rack":"r1","position":3}`)
	refused(t, s, 409, "DELETE", "/lab/v1.0.0/rack/r1", "", "/lab/v1.0.0/server/sv1", "r1")
	var vals struct{ Values []string }
	getJSON(t, s, "/lab/v1.0.0/server/sv1/rack/values", &vals)
	if !slices.Equal(vals.Values, []string{"r1", "r2"}) {
		t.Errorf("leafref values: %v", vals.Values)
	}

	// Listing, filters and paging.
	var racks []map[string]any
	getJSON(t, s, "/lab/v1.0.0/rack", &racks)
	if len(racks) != 2 {
		t.Fatalf("racks: %v", racks)
	}
	getJSON(t, s, "/lab/v1.0.0/rack?filter=height=40", &racks)
	if len(racks) != 1 || racks[0]["rack-id"] != "r2" {
		t.Fatalf("filtered racks: %v", racks)
	}
	code, b, h, err := s.Do(context.Background(), "GET", "/lab/v1.0.0/rack?limit=1", "")
	if err != nil || code != 200 || json.Unmarshal(b, &racks) != nil || len(racks) != 1 || racks[0]["rack-id"] != "r1" || h.Get("X-AMP-Continue") == "" {
		t.Fatalf("first page: %d %v %s %v", code, err, b, h)
	}
	getJSON(t, s, "/lab/v1.0.0/rack?limit=1&continue="+url.QueryEscape(h.Get("X-AMP-Continue")), &racks)
	if len(racks) != 1 || racks[0]["rack-id"] != "r2" {
		t.Fatalf("second page: %v", racks)
	}

	// ETag and If-Match; dry runs change nothing.
	_, _, h, _ = s.Do(context.Background(), "GET", "/lab/v1.0.0/rack/r1", "")
	tag := h.Get("ETag")
	if tag == "" {
		t.Fatal("no ETag on a global object")
	}
	refused(t, s, 412, "PATCH", "/lab/v1.0.0/rack/r1", `{"display-name":"stale"}`, "/lab/v1.0.0/rack/r1", "version", "If-Match", `"1"`)
	s.Must(t, 200, "PATCH", "/lab/v1.0.0/rack/r1", `{"display-name":"Rack One"}`, "If-Match", tag)
	var dry struct {
		DryRun  bool `json:"dry-run"`
		Changes []map[string]any
	}
	if err := json.Unmarshal(s.Must(t, 200, "DELETE", "/lab/v1.0.0/server/sv1?dry-run=true", ""), &dry); err != nil || !dry.DryRun || len(dry.Changes) == 0 {
		t.Fatalf("dry run: %v %+v", err, dry)
	}
	s.Must(t, 200, "GET", "/lab/v1.0.0/server/sv1", "")

	// Point-in-time reads and history.
	getJSON(t, s, "/lab/v1.0.0/rack/r1?at="+first, &r1)
	if r1["display-name"] != "Rack 1" {
		t.Errorf("r1 at %s: %v", first, r1)
	}
	s.Must(t, 404, "GET", "/lab/v1.0.0/server/sv1?at="+first, "")
	var txn struct {
		Targets []string
		Sets    []string
		Changes []struct{ Path string }
	}
	getJSON(t, s, "/transactions/"+first, &txn)
	if len(txn.Targets) != 0 || !slices.Equal(txn.Sets, []string{"lab/1.0.0"}) || len(txn.Changes) != 1 || txn.Changes[0].Path != "/lab/v1.0.0/rack/r1" {
		t.Errorf("transaction %s: %+v", first, txn)
	}
	var diff struct{ Changes []struct{ Path string } }
	getJSON(t, s, "/diff?from="+first, &diff)
	if len(diff.Changes) != 3 { // r2, sv1 created; r1 changed
		t.Errorf("diff from %s: %+v", first, diff)
	}

	// The tenant set beside it.
	s.Must(t, 201, "POST", "/workload/v1.0.0/acme/deployment/d1", `{"image":"nginx:1.27","rack":"r2"}`)

	// One transaction across both sets (a gNMI Set), rolled back as one.
	js := func(v string) *gpb.TypedValue {
		return &gpb.TypedValue{Value: &gpb.TypedValue_JsonVal{JsonVal: []byte(v)}}
	}
	_, err = gpb.NewGNMIClient(gnmiConn(t, s)).Set(bearer(context.Background(), s.Token), &gpb.SetRequest{Update: []*gpb.Update{
		{Path: &gpb.Path{Origin: "lab", Elem: []*gpb.PathElem{{Name: "rack", Key: map[string]string{"rack-id": "r3"}}}}, Val: js(`{"rack-id":"r3","height":10}`)},
		{Path: &gpb.Path{Origin: "workload", Target: "acme", Elem: []*gpb.PathElem{{Name: "deployment", Key: map[string]string{"deployment-id": "d2"}}}}, Val: js(`{"deployment-id":"d2","image":"redis:7","rack":"r3"}`)},
	}})
	if err != nil {
		t.Fatalf("gNMI Set across lab and workload: %v", err)
	}
	// Read back through gNMI: origin = set, no target.
	got, err := gpb.NewGNMIClient(gnmiConn(t, s)).Get(bearer(context.Background(), s.Token), &gpb.GetRequest{Encoding: gpb.Encoding_JSON,
		Path: []*gpb.Path{{Origin: "lab", Elem: []*gpb.PathElem{{Name: "rack", Key: map[string]string{"rack-id": "r3"}}, {Name: "height"}}}}})
	if err != nil || len(got.Notification) != 1 || got.Notification[0].Prefix.GetTarget() != "" || len(got.Notification[0].Update) != 1 ||
		string(got.Notification[0].Update[0].Val.GetJsonVal()) != "10" {
		t.Fatalf("gNMI Get of a global object: %v %v", got, err)
	}
	var list []struct {
		Index   uint64
		Targets []string
		Sets    []string
	}
	getJSON(t, s, "/amp/transactions?limit=1", &list)
	if len(list) != 1 || !slices.Equal(list[0].Sets, []string{"lab/1.0.0", "workload/1.0.0"}) || !slices.Equal(list[0].Targets, []string{"acme"}) {
		t.Fatalf("the cross-set transaction: %+v", list)
	}
	s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r3", "")
	s.Must(t, 200, "POST", "/transactions/"+jsonNumber(list[0].Index)+"/rollback", "")
	s.Must(t, 404, "GET", "/lab/v1.0.0/rack/r3", "")
	s.Must(t, 404, "GET", "/workload/v1.0.0/acme/deployment/d2", "")
	s.Must(t, 200, "GET", "/workload/v1.0.0/acme/deployment/d1", "")

	// Enterprise admins: their own tenant objects, no global ones. An
	// enterprise named like a lab list ("rack") gains nothing on /lab.
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"rack"}`)
	for _, ent := range []string{"acme", "rack"} {
		var tok struct{ Token string }
		if err := json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"admin-`+ent+`","role":"enterprise-admin","enterprise":"`+ent+`"}`), &tok); err != nil {
			t.Fatal(err)
		}
		as := []string{"Authorization", "Bearer " + tok.Token}
		s.Must(t, 200, "GET", "/workload/v1.0.0/"+ent+"/deployment", "", as...)
		// No rack is tied to an enterprise: the list shows none.
		if b := s.Must(t, 200, "GET", "/lab/v1.0.0/rack", "", as...); strings.TrimSpace(string(b)) != "[]" {
			t.Errorf("enterprise admin of %s lists racks tied to no enterprise: %s", ent, b)
		}
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/lab/v1.0.0/rack/r1", ""},
			{"PATCH", "/lab/v1.0.0/rack/r1", `{"display-name":"mine"}`},
			{"PUT", "/lab/v1.0.0/rack/r9", `{"rack-id":"r9"}`},
			{"DELETE", "/lab/v1.0.0/server/sv1", ""},
		} {
			code, b, _, err := s.Do(context.Background(), c.method, c.path, c.body, as...)
			if err != nil || code != 403 && code != 404 {
				t.Errorf("enterprise admin of %s: %s %s: %d %v %s", ent, c.method, c.path, code, err, b)
			}
		}
		// Nor the history of the operator's objects.
		code, b, _, _ := s.Do(context.Background(), "GET", "/transactions/"+first, "", as...)
		if code != 404 {
			t.Errorf("enterprise admin of %s reads a lab transaction: %d %s", ent, code, b)
		}
	}
	getJSON(t, s, "/lab/v1.0.0/rack/r1", &r1)
	if r1["display-name"] != "Rack One" {
		t.Fatalf("r1 changed by an enterprise admin: %v", r1)
	}

	// A restart keeps everything.
	s = restart()
	getJSON(t, s, "/lab/v1.0.0/rack", &racks)
	if len(racks) != 2 {
		t.Fatalf("racks after restart: %v", racks)
	}
	s.Must(t, 200, "GET", "/lab/v1.0.0/server/sv1", "")
	s.Must(t, 200, "GET", "/workload/v1.0.0/acme/deployment/d1", "")
	getJSON(t, s, "/lab/v1.0.0/rack/r1?at="+first, &r1)
	if r1["display-name"] != "Rack 1" {
		t.Errorf("r1 at %s after restart: %v", first, r1)
	}

	// Deleting an enterprise deletes its tenant objects, never global ones.
	s.Must(t, 200, "DELETE", "/enterprises/acme", "")
	s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r2", "")
	s.Must(t, 200, "GET", "/lab/v1.0.0/server/sv1", "")
	s.Must(t, 404, "GET", "/workload/v1.0.0/acme/deployment/d1", "")
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }
