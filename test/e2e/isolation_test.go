package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestIsolationAcrossEveryRoute: through the real binary, for every path of
// the OpenAPI document it serves, acme's admin tries every method on starbucks' objects and gets
// exactly the answer a non-existent enterprise gets; without credentials
// every route answers 401.
func TestIsolationAcrossEveryRoute(t *testing.T) {
	// Hundreds of unauthenticated requests from one source: raise the
	// per-source limit (429 beyond it) so each route's own answer shows.
	s := testenv.Start(t, t.TempDir(), "--demo", "--auth-fail-limit", "100000")
	isolationSweep(t, s, 170)
	inventoryIsolationSweep(t, s)
}

// TestIsolationAcrossEveryRouteThreeSets: the same sweep with the test
// sets lab (global) and workload (tenant) loaded, so every route of theirs
// is swept too: acme's admin cannot tell starbucks' workload objects from
// missing ones; on the lab, acme's admin and member read only the rack
// tied to acme (and lists shown entry by entry) and write nothing.
func TestIsolationAcrossEveryRouteThreeSets(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--auth-fail-limit", "100000", "--models", modelsDir())
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r1", `{"tenant":"acme","aether-site":"acme-chicago"}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r2", `{"tenant":"starbucks","aether-site":"starbucks-seattle"}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/server/sv1", `{"rack":"r2"}`)
	s.Must(t, 201, "POST", "/workload/v1.0.0/starbucks/deployment/web", `{"image":"nginx","rack":"r2","site":"starbucks-seattle"}`)
	isolationSweep(t, s, 184+9) // Aether's pairs and workload's nine
	labBefore := s.Must(t, 200, "GET", "/lab/v1.0.0", "")

	doc, paths := specPaths(t, s)
	checked := 0
	for _, role := range []string{"enterprise-admin", "enterprise-member"} {
		tok, _ := apiToken(t, s, "acme-"+role, role, "acme")
		for _, tmpl := range paths {
			if !strings.HasPrefix(tmpl, "/lab/") && tmpl != "/lab/v1.0.0" {
				continue
			}
			topList := tmpl == "/lab/v1.0.0/rack" || tmpl == "/lab/v1.0.0/server"
			for method := range doc.Paths.Find(tmpl).Operations() {
				body := ""
				if method != "GET" && method != "DELETE" {
					body = `{}`
				}
				for _, rack := range []string{"r1", "r2"} {
					path := strings.NewReplacer("{rack-id}", rack, "{server-id}", "sv1").Replace(tmpl)
					code, b, _, err := s.Do(context.Background(), method, path, body, "Authorization", "Bearer "+tok)
					if err != nil {
						t.Fatal(err)
					}
					want := 403
					switch {
					case method == "GET" && topList:
						want = 200
						if strings.Contains(string(b), `"r2"`) || strings.Contains(string(b), `"sv1"`) {
							t.Errorf("%s of acme: %s %s shows what is not tied to acme: %s", role, method, path, b)
						}
					case method == "GET" && rack == "r1" && strings.Contains(tmpl, "{rack-id}"):
						want = 200 // the rack tied to acme
					}
					if code != want {
						t.Errorf("%s of acme: %s %s: %d, want %d: %.300s", role, method, path, code, want, b)
					}
					checked++
				}
			}
		}
	}
	if checked < 2*2*15 { // roles × racks × the lab's 15 operations
		t.Fatalf("only %d lab route/method pairs checked", checked)
	}
	if after := s.Must(t, 200, "GET", "/lab/v1.0.0", ""); string(after) != string(labBefore) {
		t.Fatalf("the lab changed during the sweep:\n%s\nwas\n%s", after, labBefore)
	}
}

// specPaths loads the OpenAPI document the server serves and its path
// templates in order.
func specPaths(t *testing.T, s *testenv.Server) (*openapi3.T, []string) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(s.Must(t, 200, "GET", "/spec", ""))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range doc.Paths.Map() {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return doc, paths
}

// isolationSweep: for every path of the OpenAPI document s serves, acme's
// admin tries every method on starbucks' objects and gets exactly the
// answer a non-existent enterprise gets; without credentials every route
// answers 401. At least minChecked enterprise route/method pairs must be
// checked.
func isolationSweep(t *testing.T, s *testenv.Server, minChecked int) {
	t.Helper()
	var created struct{ Token string }
	json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"alice","role":"enterprise-admin","enterprise":"acme"}`), &created)
	doc, paths := specPaths(t, s)
	do := func(token, method, path, body string) (int, string) {
		code, b, _, err := s.Do(context.Background(), method, path, body, "Authorization", token)
		if err != nil {
			t.Fatal(err)
		}
		return code, string(b)
	}
	alice := "Bearer " + created.Token
	// Existing starbucks keys, so a leak would show as a difference.
	keys := map[string]string{"enterprise-id": "starbucks", "site-id": "starbucks-seattle", "device-id": "camera-1", "sim-id": "sim-1",
		"device-group-id": "cameras", "slice-id": "video", "upf-id": "upf-1", "ip-domain-id": "pool-1", "small-cell-id": "cell-1",
		"application-id": "starbucks-video", "endpoint-id": "rtsp", "traffic-class-id": "class-1", "template-id": "template-video",
		"edge-device-id": "pi-1", "priority-traffic-rule-id": "sensor-5-mqtt", "device-group": "cameras", "application": "starbucks-video",
		"id": "starbucks", "index": "1", "deployment-id": "web", "rack-id": "r2", "server-id": "sv1"}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	checked := 0
	for _, tmpl := range paths {
		fill := func(ent string) string {
			return param.ReplaceAllStringFunc(tmpl, func(m string) string {
				name := m[1 : len(m)-1]
				if name == "enterprise-id" || name == "id" && strings.HasPrefix(tmpl, "/enterprises/") {
					return ent
				}
				if v, ok := keys[name]; ok {
					return v
				}
				return "x"
			})
		}
		concrete := fill("starbucks")
		item := doc.Paths.Find(tmpl)
		for method, op := range item.Operations() {
			body := ""
			if method != "GET" && method != "DELETE" {
				body = `{}`
			}
			// Unauthenticated: 401 on every route that needs a token.
			if op.Security == nil || len(*op.Security) > 0 {
				if code, _ := do("", method, concrete, body); code != 401 {
					t.Errorf("%s %s without a token: %d", method, concrete, code)
				}
			}
			if !strings.Contains(tmpl, "{enterprise-id}") && !strings.HasPrefix(tmpl, "/enterprises/{") {
				continue
			}
			code, got := do(alice, method, concrete, body)
			ghost := fill("nosuch")
			gcode, want := do(alice, method, ghost, body)
			norm := func(b, ent string) string {
				return strings.NewReplacer("/"+ent+"/", "/E/", "/"+ent+`"`, `/E"`, `\"`+ent+`\"`, `\"E\"`, `"`+ent+`"`, `"E"`, "/"+ent+":", "/E:").Replace(b)
			}
			if code != gcode || norm(got, "starbucks") != norm(want, "nosuch") {
				t.Errorf("%s %s: %d %.200s\n  a missing enterprise answers %d %.200s", method, concrete, code, got, gcode, want)
			}
			checked++
		}
	}
	if checked < minChecked {
		t.Fatalf("only %d enterprise route/method pairs checked, want %d", checked, minChecked)
	}
	// Nothing alice tried changed starbucks.
	var txns []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/amp/transactions?limit=1000&enterprise=starbucks", ""), &txns)
	for _, tx := range txns {
		if tx["username"] == "alice@api" {
			t.Fatalf("alice committed transaction %v", tx)
		}
	}
}
