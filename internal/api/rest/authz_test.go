package rest

import (
	"encoding/json"
	"fmt"
	"github.com/amp-edge/amp/internal/testenv"
	"log/slog"
	"math/rand"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/policy"
	"github.com/amp-edge/amp/internal/schema"
)

type secured struct {
	*env
	tokens map[string]string // role -> token
	trail  *audit.Log
	sch    *schema.Schema
}

// newSecuredEnv is a demo server with the real policy and audit, and an
// acme admin's token.
func newSecuredEnv(t testing.TB) *env {
	s := newSecured(t)
	return s.as("alice")
}

func newSecured(t testing.TB) *secured {
	t.Helper()
	eng, st := testenv.Engine(t, true)
	sch := eng.Schema()
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.Open(t.TempDir(), audit.Options{Logger: slog.New(slog.DiscardHandler), Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewTokens(st)
	s := &secured{tokens: map[string]string{}, trail: trail, sch: sch}
	for role, groups := range map[string][]string{"operator": {"AetherROCAdmin"}, "alice": {"acme-admin"}, "mallory": {"starbucks"}} {
		tok, _, err := tokens.Create(role, role, auth.RightsFromGroups(groups, true))
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[role] = tok
	}
	srv := httptest.NewServer(mustNew(t, Options{Engine: eng, Auth: tokens, Authorizer: pol, Audit: trail, Tokens: tokens}))
	t.Cleanup(func() { srv.Close(); trail.Close() })
	s.env = &env{t: t, srv: srv, eng: eng}
	return s
}

func (s *secured) as(role string) *env {
	e := *s.env
	e.token = s.tokens[role]
	return &e
}

func TestRoleMatrix(t *testing.T) {
	s := newSecured(t)
	op, alice, mallory := s.as("operator"), s.as("alice"), s.as("mallory")
	acme, sb := "/aether/v2.1.x/acme/site/acme-chicago", "/aether/v2.1.x/starbucks/site/starbucks-seattle"
	// Operators: everything.
	op.want(200, "GET", sb, "")
	op.want(200, "PATCH", sb+"/upf/upf-1", `{"port":8806}`)
	op.want(201, "POST", "/enterprises", `{"enterprise-id":"globex"}`)
	// An enterprise admin: read-write on acme, nothing of starbucks exists.
	alice.want(200, "GET", acme, "")
	alice.want(200, "PATCH", acme+"/upf/upf-1", `{"port":8807}`)
	b := alice.want(404, "GET", sb, "")
	if !strings.Contains(b, `enterprise \"starbucks\" does not exist`) {
		t.Fatalf("alice reading starbucks: %s", b)
	}
	alice.want(404, "PATCH", sb+"/upf/upf-1", `{"port":1}`)
	alice.want(403, "POST", "/enterprises", `{"enterprise-id":"evil"}`)
	alice.want(403, "POST", "/tokens", `{"name":"x","role":"operator"}`)
	var ents []map[string]any
	json.Unmarshal([]byte(alice.want(200, "GET", "/enterprises", "")), &ents)
	if len(ents) != 1 || ents[0]["enterprise-id"] != "acme" {
		t.Fatalf("alice's enterprises: %v", ents)
	}
	var txns []config.TxnInfo
	json.Unmarshal([]byte(alice.want(200, "GET", "/amp/transactions?limit=100", "")), &txns)
	for _, tx := range txns {
		if len(tx.Targets) != 1 || tx.Targets[0] != "acme" {
			t.Fatalf("alice sees transaction %+v", tx)
		}
	}
	// The same in aether-roc-api's shape.
	var onos []onosTransaction
	json.Unmarshal([]byte(alice.want(200, "GET", "/transactions", "")), &onos)
	if len(onos) == 0 {
		t.Fatal("alice sees no transaction at all")
	}
	for _, tx := range onos {
		for _, c := range tx.Details.Change {
			if c.TargetName != "acme" {
				t.Fatalf("alice sees transaction %d of %s", tx.Index, c.TargetName)
			}
		}
	}
	// A member: read-only.
	mallory.want(200, "GET", sb, "")
	mallory.want(403, "PATCH", sb+"/upf/upf-1", `{"port":1}`)
	mallory.want(404, "GET", acme, "")
	// Tokens: an operator makes a narrow one; it works at once, revoked it stops.
	var created struct{ ID, Token string }
	json.Unmarshal([]byte(op.want(201, "POST", "/tokens", `{"name":"ci","role":"enterprise-member","enterprise":"acme"}`)), &created)
	ci := *s.env
	ci.token = created.Token
	ci.want(200, "GET", acme, "")
	ci.want(403, "PATCH", acme+"/upf/upf-1", `{"port":1}`)
	if list := op.want(200, "GET", "/tokens", ""); strings.Contains(list, created.Token) || !strings.Contains(list, created.ID) {
		t.Fatal("token list shows a secret or misses the token")
	}
	op.want(200, "DELETE", "/tokens/"+created.ID, "")
	ci.want(401, "GET", acme, "")
	// Audit: alice's denied write and her allowed write are there, no secret.
	var recs []audit.Record
	json.Unmarshal([]byte(op.want(200, "GET", "/audit?principal=alice", "")), &recs)
	outcomes := map[string]int{}
	for _, r := range recs {
		outcomes[r.Outcome]++
	}
	if outcomes["allowed"] < 1 || outcomes["denied"] < 3 {
		t.Fatalf("alice's audit: %v", outcomes)
	}
	all := op.want(200, "GET", "/audit?limit=1000", "")
	for _, tok := range s.tokens {
		if strings.Contains(all, tok[len(tok)-10:]) {
			t.Fatal("a token secret is in the audit log")
		}
	}
	// Members see only their enterprise's records.
	json.Unmarshal([]byte(mallory.want(200, "GET", "/audit?limit=1000", "")), &recs)
	for _, r := range recs {
		for _, e := range r.Enterprises {
			if e != "starbucks" {
				t.Fatalf("mallory sees an audit record of %s", e)
			}
		}
	}
}

// TestAuditCompleteness: after a randomized mix of allowed and denied
// operations by three roles, the audit trail holds exactly one record for
// each write and each denial (allowed reads are not audited), with the
// right principal, outcome and path, and no secret.
func TestAuditCompleteness(t *testing.T) {
	s := newSecured(t)
	type op struct {
		role, method, path, body string
		outcome                  string // allowed, denied; "" = an allowed read (not audited)
	}
	acme, sb := "/aether/v2.1.x/acme/site/acme-chicago", "/aether/v2.1.x/starbucks/site/starbucks-seattle"
	menu := []op{
		{"operator", "PATCH", sb + "/upf/upf-1", `{"port":%d}`, "allowed"},
		{"alice", "PATCH", acme + "/upf/upf-1", `{"port":%d}`, "allowed"},
		{"alice", "PATCH", sb + "/upf/upf-1", `{"port":%d}`, "denied"},
		{"alice", "GET", sb, "", "denied"},
		{"alice", "GET", acme, "", ""},
		{"mallory", "GET", sb, "", ""},
		{"mallory", "PATCH", sb + "/upf/upf-1", `{"port":%d}`, "denied"},
		{"mallory", "POST", "/enterprises", `{"enterprise-id":"e%d"}`, "denied"},
		{"alice", "DELETE", acme + "/small-cell/nope%d", "", "allowed-404"},
	}
	rng := rand.New(rand.NewSource(1))
	want := map[string]int{}
	for i := 0; i < 300; i++ {
		o := menu[rng.Intn(len(menu))]
		body := o.body
		if strings.Contains(body, "%d") {
			body = fmt.Sprintf(body, 1000+i)
		}
		path := o.path
		if strings.Contains(path, "%d") {
			path = fmt.Sprintf(path, i)
		}
		code, _, _ := s.as(o.role).do(o.method, path, body)
		outcome := o.outcome
		switch outcome {
		case "":
			if code != 200 {
				t.Fatalf("%s %s %s: %d", o.role, o.method, path, code)
			}
			continue
		case "allowed-404": // a write that was allowed but found nothing: audited as an error
			outcome = "error"
		}
		want[o.role+"/"+outcome]++
	}
	var recs []audit.Record
	json.Unmarshal([]byte(s.as("operator").want(200, "GET", "/audit?limit=1000", "")), &recs)
	got := map[string]int{}
	for _, r := range recs {
		if r.Interface != "rest" || r.Action == "login" {
			continue
		}
		got[r.Principal+"/"+r.Outcome]++
		if len(r.Paths) == 0 {
			t.Errorf("record without paths: %+v", r)
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d records, want %d (all: %v)", k, got[k], n, got)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			t.Errorf("unexpected records %s: %d", k, n)
		}
	}
	all := s.as("operator").want(200, "GET", "/audit?limit=1000", "")
	for role, tok := range s.tokens {
		if strings.Contains(all, tok[5:20]) {
			t.Fatalf("%s's token is in the audit trail", role)
		}
	}
}
