package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestEnterpriseAdminRollsBackOwnTransaction: an enterprise's admin rolls
// back a transaction of its own enterprise (the portal's history page
// offers it), as it could write the change back by hand; a member of the
// enterprise cannot; another enterprise's transaction, and one touching
// both, stay as invisible as before.
func TestEnterpriseAdminRollsBackOwnTransaction(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	admin, _ := apiToken(t, s, "alice", "enterprise-admin", "acme")
	member, _ := apiToken(t, s, "bob", "enterprise-member", "acme")
	as := func(token, method, path, body string) (int, string, string) {
		t.Helper()
		code, b, h, err := s.Do(context.Background(), method, path, body, "Authorization", "Bearer "+token)
		if err != nil {
			t.Fatal(err)
		}
		return code, string(b), h.Get("X-AMP-Transaction-Index")
	}
	acme := "/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras"
	before := string(s.Must(t, 200, "GET", acme+"/display-name", ""))
	code, body, own := as(admin, "PATCH", acme, `{"display-name":"Cameras renamed"}`)
	if code != 200 || own == "" {
		t.Fatalf("acme's admin edits its device group: %d %s", code, body)
	}

	if code, body, _ := as(member, "POST", "/transactions/"+own+"/rollback", ""); code != 403 {
		t.Fatalf("acme's member rolls back: %d %s, want 403", code, body)
	}
	if code, body, _ := as(admin, "POST", "/transactions/"+own+"/rollback?dry-run=true", ""); code != 200 || !strings.Contains(body, "cameras") {
		t.Fatalf("acme's admin previews the rollback: %d %s", code, body)
	}
	if code, body, _ := as(admin, "POST", "/transactions/"+own+"/rollback", ""); code != 200 {
		t.Fatalf("acme's admin rolls back its transaction: %d %s", code, body)
	}
	if got := string(s.Must(t, 200, "GET", acme+"/display-name", "")); got != before {
		t.Fatalf("after the rollback display-name = %s, want %s", got, before)
	}

	// starbucks' transaction, and the operator's touching both: 404 for
	// alice, as for a transaction that does not exist.
	_, _, h, _ := s.Do(context.Background(), "PATCH", "/aether/v2.1.x/starbucks/site/starbucks-seattle/device-group/cameras", `{"display-name":"Theirs"}`)
	theirs := h.Get("X-AMP-Transaction-Index")
	_, _, h, _ = s.Do(context.Background(), "POST", "/transactions", `{"edits":[`+
		`{"op":"patch","path":"`+acme+`","value":{"display-name":"Ours"}},`+
		`{"op":"patch","path":"/aether/v2.1.x/starbucks/site/starbucks-seattle/device-group/cameras","value":{"display-name":"Both"}}]}`)
	both := h.Get("X-AMP-Transaction-Index")
	for _, n := range []string{theirs, both, "999999"} {
		if n == "" {
			t.Fatal("a setup write gave no transaction index")
		}
		if code, body, _ := as(admin, "POST", "/transactions/"+n+"/rollback", ""); code != 404 {
			t.Fatalf("acme's admin rolls back transaction %s: %d %s, want 404", n, code, body)
		}
	}
}
