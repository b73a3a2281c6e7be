package e2e

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestReferencesAcrossSets drives ampx:refers-to through the real binary:
// a workload deployment (tenant set) names an Aether site of its own
// enterprise. A dangling reference is refused (409) with the path and
// where it looked, and changes nothing; acme cannot name starbucks' site
// and cannot tell from the answer whether starbucks has one; deleting a
// referenced site is refused naming every referrer; moving the reference
// releases the old site; /values lists only the caller's own sites.
func TestReferencesAcrossSets(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--models", filepath.Join(testenv.RepoRoot(), "test", "testdata", "models"))
	const siteBody = `{"imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"}}`
	for _, ent := range []string{"acme", "starbucks"} {
		s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"`+ent+`"}`)
	}
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", siteBody)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s2", siteBody)
	s.Must(t, 201, "POST", "/aether/v2.1.x/starbucks/site/s9", siteBody)
	alice, _ := apiToken(t, s, "alice", "enterprise-admin", "acme")
	asAlice := []string{"Authorization", "Bearer " + alice}

	s.Must(t, 201, "POST", "/workload/v1.0.0/acme/deployment/d1", `{"image":"nginx","site":"s1"}`)
	s.Must(t, 201, "POST", "/workload/v1.0.0/acme/deployment/d2", `{"image":"nginx","site":"s1"}`, asAlice...)

	// Dangling, and across tenants: the same refusal, naming acme's sites
	// only, for the operator and for acme's admin.
	d3 := "/workload/v1.0.0/acme/deployment/d3"
	refusal := func(site string, hdr ...string) string {
		t.Helper()
		b := s.Must(t, 409, "PUT", d3, `{"deployment-id":"d3","image":"nginx","site":"`+site+`"}`, hdr...)
		ps := problems(t, b)
		if len(ps) != 1 || ps[0]["path"] != d3+"/site" {
			t.Fatalf("dangling reference to %s: %s", site, b)
		}
		return ps[0]["reason"]
	}
	nowhere := refusal("s8")
	if want := `"site" refers to site "s8", which does not exist in /aether/v2.1.x/acme/site (model set aether 2.1.x)`; nowhere != want {
		t.Errorf("reason %q, want %q", nowhere, want)
	}
	for _, hdr := range [][]string{nil, asAlice} {
		if theirs := refusal("s9", hdr...); strings.ReplaceAll(theirs, `"s9"`, `"s8"`) != nowhere || strings.Contains(theirs, "starbucks") {
			t.Errorf("naming starbucks' site answers %q, a site nowhere %q", theirs, nowhere)
		}
	}
	s.Must(t, 404, "GET", d3, "")

	// Deleting a referenced site names both referrers; the site stays.
	b := s.Must(t, 409, "DELETE", "/aether/v2.1.x/acme/site/s1", "")
	var paths []string
	for _, p := range problems(t, b) {
		paths = append(paths, p["path"])
	}
	if want := []string{"/workload/v1.0.0/acme/deployment/d1/site", "/workload/v1.0.0/acme/deployment/d2/site"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("delete of a referenced site names %v, want %v: %s", paths, want, b)
	}
	s.Must(t, 200, "GET", "/aether/v2.1.x/acme/site/s1", "")

	// The choices: acme's sites, never starbucks'; starbucks sees its own.
	values := func(path string, hdr ...string) []string {
		t.Helper()
		var v struct{ Values []string }
		if err := json.Unmarshal(s.Must(t, 200, "GET", path, "", hdr...), &v); err != nil {
			t.Fatal(err)
		}
		return v.Values
	}
	for _, hdr := range [][]string{nil, asAlice} {
		if got := values("/workload/v1.0.0/acme/deployment/d1/site/values", hdr...); !reflect.DeepEqual(got, []string{"s1", "s2"}) {
			t.Errorf("acme's choices %v", got)
		}
	}
	s.Must(t, 201, "POST", "/workload/v1.0.0/starbucks/deployment/d1", `{"image":"nginx","site":"s9"}`)
	if got := values("/workload/v1.0.0/starbucks/deployment/d1/site/values"); !reflect.DeepEqual(got, []string{"s9"}) {
		t.Errorf("starbucks' choices %v", got)
	}
	s.Must(t, 404, "GET", "/workload/v1.0.0/starbucks/deployment/d1/site/values", "", asAlice...)

	// Moving both deployments to s2 releases s1.
	s.Must(t, 200, "PATCH", "/workload/v1.0.0/acme/deployment/d1", `{"site":"s2"}`)
	s.Must(t, 200, "PATCH", "/workload/v1.0.0/acme/deployment/d2", `{"site":"s2"}`, asAlice...)
	s.Must(t, 200, "DELETE", "/aether/v2.1.x/acme/site/s1", "")
	s.Must(t, 409, "DELETE", "/aether/v2.1.x/acme/site/s2", "")
}

// TestReferencesIntoGlobalSet: a tenant object refers to a global rack; a
// global rack refers to an Aether site in the enterprise it names. The
// rack's choices are listed only to a caller the policy lets read racks.
func TestReferencesIntoGlobalSet(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--models", filepath.Join(testenv.RepoRoot(), "test", "testdata", "models"))
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", `{"imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"}}`)
	alice, _ := apiToken(t, s, "alice", "enterprise-admin", "acme")
	asAlice := []string{"Authorization", "Bearer " + alice}

	d1 := "/workload/v1.0.0/acme/deployment/d1"
	ps := problems(t, s.Must(t, 409, "PUT", d1, `{"deployment-id":"d1","image":"nginx","rack":"r1"}`))
	if len(ps) != 1 || ps[0]["path"] != d1+"/rack" || ps[0]["reason"] != `"rack" refers to rack "r1", which does not exist in /lab/v1.0.0/rack (model set lab 1.0.0)` {
		t.Errorf("dangling reference to a rack: %v", ps)
	}
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r1", `{"tenant":"acme","aether-site":"s1"}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r2", `{}`)
	s.Must(t, 201, "POST", d1, `{"image":"nginx","rack":"r1","site":"s1"}`, asAlice...)

	ps = problems(t, s.Must(t, 409, "DELETE", "/lab/v1.0.0/rack/r1", ""))
	if len(ps) != 1 || ps[0]["path"] != d1+"/rack" {
		t.Errorf("delete of a referenced rack: %v", ps)
	}
	ps = problems(t, s.Must(t, 409, "DELETE", "/aether/v2.1.x/acme/site/s1", ""))
	if len(ps) != 2 || ps[0]["path"] != "/lab/v1.0.0/rack/r1/aether-site" || ps[1]["path"] != d1+"/site" {
		t.Errorf("delete of a site a rack and a deployment name: %v", ps)
	}
	ps = problems(t, s.Must(t, 400, "PATCH", "/lab/v1.0.0/rack/r2", `{"aether-site":"s1"}`))
	if len(ps) != 1 || ps[0]["path"] != "/lab/v1.0.0/rack/r2/aether-site" || !strings.Contains(ps[0]["reason"], `set "tenant"`) {
		t.Errorf("a rack's site without its tenant: %v", ps)
	}

	values := func(path string, hdr ...string) []string {
		t.Helper()
		var v struct{ Values []string }
		if err := json.Unmarshal(s.Must(t, 200, "GET", path, "", hdr...), &v); err != nil {
			t.Fatal(err)
		}
		return v.Values
	}
	if got := values(d1 + "/rack/values"); !reflect.DeepEqual(got, []string{"r1", "r2"}) {
		t.Errorf("the operator's rack choices: %v", got)
	}
	// acme's admin reads only the racks tied to acme (r1): its choices.
	s.Must(t, 403, "GET", "/lab/v1.0.0/rack/r2", "", asAlice...)
	if got := values(d1+"/rack/values", asAlice...); !reflect.DeepEqual(got, []string{"r1"}) {
		t.Errorf("acme's admin's rack choices: %v, want the rack tied to acme", got)
	}
	if got := values("/lab/v1.0.0/rack/r1/aether-site/values"); !reflect.DeepEqual(got, []string{"s1"}) {
		t.Errorf("rack r1's site choices: %v", got)
	}
	if got := values("/lab/v1.0.0/rack/r2/aether-site/values"); len(got) != 0 {
		t.Errorf("rack r2 names no tenant, yet has site choices: %v", got)
	}
}
