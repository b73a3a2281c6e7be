package e2e

// The authorizer seam through the real binary (issue 10, part 5): a policy
// that cannot decide is the server's failure, answered 500 on REST and
// Internal on gNMI, never passed off as the caller's lack of rights.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/testenv"
)

// brokenForStarbucks is an operator's policy with a mistake: for tenant
// starbucks it gives two answers, which OPA refuses to choose between at
// evaluation (eval_conflict_error). It compiles, and it decides everything
// else, so the server starts and serves acme.
const brokenForStarbucks = `package amp.authz

import rego.v1

decision := {"allow": true, "deny": set()} if not input.tenant == "starbucks"

decision := {"allow": true, "deny": set()} if input.tenant == "starbucks"

decision := {"allow": false, "deny": set()} if input.tenant == "starbucks"
`

func TestAuthzPolicyFailureIsServerError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(brokenForStarbucks), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--gnmi-listen", "127.0.0.1:0", "--policy-dir", dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	acme, sb := "/aether/v2.1.x/acme/site/acme-chicago", "/aether/v2.1.x/starbucks/site/starbucks-seattle"
	s.Must(t, 200, "GET", acme, "")
	indexOf := func() string {
		_, _, hdr, err := s.Do(ctx, "GET", acme, "")
		if err != nil {
			t.Fatal(err)
		}
		return hdr.Get("X-AMP-Index")
	}
	before := indexOf()
	for _, method := range []string{"GET", "PATCH", "DELETE"} {
		code, body, hdr, err := s.Do(ctx, method, sb, `{"display-name":"changed"}`)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Status int `json:"status"`
			Errors []struct{ Path, Reason string }
		}
		if code != 500 || hdr.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil ||
			p.Status != 500 || len(p.Errors) != 1 || p.Errors[0].Path != sb || !strings.Contains(p.Errors[0].Reason, "could not be evaluated") {
			t.Fatalf("%s %s with a policy that fails: %d %s", method, sb, code, body)
		}
		if strings.Contains(string(body), "eval_conflict") {
			t.Fatalf("the policy's internals reached the client: %s", body)
		}
	}
	if after := indexOf(); after != before || before == "" {
		t.Fatalf("refused writes moved the index from %q to %q", before, after)
	}
	if !strings.Contains(s.Log(), `"authorization failed"`) || !strings.Contains(s.Log(), "eval_conflict_error") {
		t.Fatalf("the cause is not in the server log:\n%s", s.Log())
	}

	c := gpb.NewGNMIClient(gnmiConn(t, s))
	admin := bearer(ctx, s.Token)
	get := func(ent string) error {
		prefix, p := sitesOf(ent)
		_, err := c.Get(admin, &gpb.GetRequest{Prefix: prefix, Path: []*gpb.Path{p}, Encoding: gpb.Encoding_JSON_IETF})
		return err
	}
	if err := get("acme"); err != nil {
		t.Fatalf("gNMI Get acme: %v", err)
	}
	if err := get("starbucks"); status.Code(err) != codes.Internal || !strings.Contains(status.Convert(err).Message(), "could not be evaluated") {
		t.Fatalf("gNMI Get starbucks with a policy that fails: %v, want Internal", err)
	}
}

// TestAuditRecordNamesSetScopeTenant: a write's audit record names the
// model set with its scope and the tenant (issue 10, part 2), whichever
// way the write arrives; a write that changed nothing says so; filtering
// by tenant still finds the records.
func TestAuditRecordNamesSetScopeTenant(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none")
	upf := "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1"
	s.Must(t, 200, "PATCH", upf, `{"port":8806}`)
	s.Must(t, 200, "PATCH", upf, `{"port":8806}`)            // the same again: unchanged
	recs := auditRecords(t, s, "&enterprise=acme&path="+upf) // the demo's load touched it too
	if len(recs) < 2 || recs[0].Principal != "admin" || recs[1].Principal != "admin" {
		t.Fatalf("records of %s: %+v", upf, recs)
	}
	recs = recs[:2]
	want := []audit.SetRef{{Name: "aether", Version: "2.1.x", Scope: "tenant"}}
	for _, r := range recs {
		if !reflect.DeepEqual(r.Sets, want) || !reflect.DeepEqual(r.Enterprises, []string{"acme"}) || r.Transaction == 0 {
			t.Fatalf("record %+v: want sets %v, enterprises [acme] and its transaction", r, want)
		}
	}
	if recs[0].Details["unchanged"] != true || recs[1].Details["unchanged"] != nil || recs[0].Transaction != recs[1].Transaction {
		t.Fatalf("newest (unchanged) %+v, oldest %+v", recs[0], recs[1])
	}
}
