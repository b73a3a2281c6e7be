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
	var created struct{ Token string }
	json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"alice","role":"enterprise-admin","enterprise":"acme"}`), &created)
	doc, err := openapi3.NewLoader().LoadFromData(s.Must(t, 200, "GET", "/spec", ""))
	if err != nil {
		t.Fatal(err)
	}
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
		"id": "starbucks", "index": "1"}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	var paths []string
	for p := range doc.Paths.Map() {
		paths = append(paths, p)
	}
	sort.Strings(paths)
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
	if checked < 170 {
		t.Fatalf("only %d enterprise route/method pairs checked", checked)
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
