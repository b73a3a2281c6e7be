package rest

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestWhoami: GET /whoami names the caller and its rights, and answers for
// each path asked about what the policy would decide for a read and a
// write: acme's admin may write acme's sites and not starbucks', a
// starbucks member may read its own and write nothing.
func TestWhoami(t *testing.T) {
	s := newSecured(t)
	acme, sb := "/aether/v2.1.x/acme/site", "/aether/v2.1.x/starbucks/site"
	ask := func(who string) whoamiAnswer {
		t.Helper()
		var a whoamiAnswer
		if err := json.Unmarshal([]byte(s.as(who).want(200, "GET", "/whoami?path="+acme+"&path="+sb, "")), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := ask("alice")
	if a.Name != "alice" || len(a.Rights) != 1 || a.Rights[0].Role != "enterprise-admin" || a.Rights[0].Enterprise != "acme" {
		t.Fatalf("alice: %+v", a)
	}
	if len(a.Access) != 2 || a.Access[0] != (access{acme, true, true}) || a.Access[1] != (access{sb, false, false}) {
		t.Fatalf("alice's access: %+v", a.Access)
	}
	m := ask("mallory")
	if len(m.Access) != 2 || m.Access[0] != (access{acme, false, false}) || m.Access[1] != (access{sb, true, false}) {
		t.Fatalf("mallory's access: %+v", m.Access)
	}
	if op := ask("operator"); op.Access[0] != (access{acme, true, true}) || op.Access[1] != (access{sb, true, true}) {
		t.Fatalf("the operator's access: %+v", op.Access)
	}
	many := strings.Repeat("&path=/models", maxWhoamiPaths+1)
	s.as("alice").want(400, "GET", "/whoami?"+many[1:], "")
	s.as("alice").want(400, "GET", "/whoami?path=models", "")
	anon := s.as("alice")
	anon.token = ""
	anon.want(401, "GET", "/whoami", "")
}
