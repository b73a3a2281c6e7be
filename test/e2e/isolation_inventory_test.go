package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
)

// inventoryIsolationSweep: an inventory site of acme's (its organization's
// tenant) with a cluster at it; for every path of the document that
// addresses an inventory site (the model's and the provision layer's) or
// a cluster, starbucks' admin tries every method on acme's site and on a
// site that does not exist, and gets exactly the same answer; acme's site
// is unchanged afterwards and no transaction is starbucks'. (Without
// credentials every such route answers 401: isolationSweep checks every
// path of the document.)
func inventoryIsolationSweep(t *testing.T, s *testenv.Server) {
	t.Helper()
	s.Must(t, 200, "POST", "/provision/sites", acmeSiteSpec(t, "acme1"))
	s.Must(t, 201, "POST", "/inventory/v1.0.0", strings.Replace(aceX, `"cluster-id":"ace-x",`, `"cluster-id":"ace-x","site":"acme1",`, 1))
	siteBefore := s.Must(t, 200, "GET", "/inventory/v1.0.0/site/acme1", "")
	var created struct{ Token string }
	json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"bob","role":"enterprise-admin","enterprise":"starbucks"}`), &created)
	bob := "Bearer " + created.Token

	// Real keys at acme's site, so that a leak shows as a difference.
	var cables []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/provision/acme1/cables", ""), &cables)
	var prefixes []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/site/acme1/prefix", ""), &prefixes)
	if len(cables) == 0 || len(prefixes) == 0 {
		t.Fatal("acme1 has no cables or prefixes")
	}
	var artifacts struct{ Artifacts []struct{ Name string } }
	json.Unmarshal(s.Must(t, 200, "GET", "/provision/acme1/artifacts", ""), &artifacts)
	dev, ifc := cables[0]["device-a"].(string), cables[0]["termination-a"].(string)
	keys := map[string]string{"rack": "r1", "rack-id": "r1", "device": dev, "device-id": dev, "prefix-id": prefixes[0]["prefix-id"].(string),
		"cable-id": cables[0]["cable-id"].(string), "deployment-id": "prod1", "interface": ifc}

	doc, paths := specPaths(t, s)
	param := regexp.MustCompile(`\{([^}]+)\}`)
	checked := 0
	for _, tmpl := range paths {
		cluster := strings.HasPrefix(tmpl, "/clusters/{name}")
		if !cluster && !strings.Contains(tmpl, "/site/{site-id}") && !strings.HasPrefix(tmpl, "/provision/{site}") {
			continue
		}
		fill := func(site, clusterID string) string {
			return param.ReplaceAllStringFunc(tmpl, func(m string) string {
				switch name := m[1 : len(m)-1]; {
				case name == "site" || name == "site-id":
					return site
				case cluster && name == "name":
					return clusterID
				case name == "name" && strings.HasSuffix(tmpl, "/artifacts/{name}"):
					return artifacts.Artifacts[0].Name
				case name == "name":
					return ifc // an interface, of a device or a template
				default:
					if v, ok := keys[name]; ok {
						return v
					}
					return "x"
				}
			})
		}
		for method := range doc.Paths.Find(tmpl).Operations() {
			body := ""
			if method != "GET" && method != "DELETE" {
				body = `{}`
			}
			code, got, _, err := s.Do(context.Background(), method, fill("acme1", "ace-x"), body, "Authorization", bob)
			if err != nil {
				t.Fatal(err)
			}
			gcode, want, _, err := s.Do(context.Background(), method, fill("ghost1", "ghost-x"), body, "Authorization", bob)
			if err != nil {
				t.Fatal(err)
			}
			norm := strings.NewReplacer("acme1", "S", "ghost1", "S", "ace-x", "C", "ghost-x", "C").Replace
			if code != gcode || norm(string(got)) != norm(string(want)) {
				t.Errorf("starbucks' admin: %s %s: %d %.300s\n  a missing site answers %d %.300s", method, fill("acme1", "ace-x"), code, got, gcode, want)
			}
			if code < 400 {
				t.Errorf("starbucks' admin: %s %s: %d %.300s", method, fill("acme1", "ace-x"), code, got)
			}
			checked++
		}
	}
	// The provision layer's 16 site and cluster pairs and the model's
	// (232 in all when written).
	if checked < 200 {
		t.Fatalf("only %d inventory route/method pairs checked", checked)
	}
	if after := s.Must(t, 200, "GET", "/inventory/v1.0.0/site/acme1", ""); string(after) != string(siteBefore) {
		t.Fatalf("acme1 changed during the sweep")
	}
	var txns []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/amp/transactions?limit=1000", ""), &txns)
	for _, tx := range txns {
		if tx["username"] == "bob@api" {
			t.Fatalf("bob committed transaction %v", tx)
		}
	}
}
