package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/testenv"
)

// TestAuthorizerRefusals: each kind of authorizer error has its own answer,
// in the problem format naming the path: no credentials 401, a refusal 403
// (404 when the caller may not even see the enterprise), and a policy that
// could not decide 500 — never 403, which would blame the caller.
func TestAuthorizerRefusals(t *testing.T) {
	denied := fmt.Errorf("%w: no rule allows it", auth.ErrDenied)
	broken := &auth.EvaluationError{Err: errors.New("eval_conflict_error: complete rules must not produce multiple outputs")}
	path := "/aether/v2.1.x/starbucks/site/starbucks-seattle"
	for _, tc := range []struct {
		name               string
		err, enterpriseErr error
		code               int
		reason             string
	}{
		{"unauthenticated", auth.ErrNoCredentials, nil, 401, "no bearer token"},
		{"denied", denied, nil, 403, "no rule allows it"},
		{"denied, enterprise hidden", denied, denied, 404, `enterprise \"starbucks\" does not exist`},
		{"evaluation failure", broken, nil, 500, "could not be evaluated"},
		{"evaluation failure, enterprise hidden", broken, denied, 500, "could not be evaluated"},
		{"unknown error", errors.New("connection to the policy service lost"), nil, 500, "could not be evaluated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng, st := testenv.Engine(t, true)
			tokens := auth.NewTokens(st)
			tok, _, err := tokens.Create("t", "tester", nil)
			if err != nil {
				t.Fatal(err)
			}
			az := testenv.TenantAuthorizer{Tenant: "starbucks", Err: tc.err, EnterpriseErr: tc.enterpriseErr}
			srv := httptest.NewServer(mustNew(t, Options{Engine: eng, Auth: tokens, Authorizer: az}))
			defer srv.Close()
			e := &env{t: t, srv: srv, token: tok, eng: eng}
			e.want(200, "GET", "/aether/v2.1.x/acme/site/acme-chicago", "")
			before := eng.Snapshot().Index
			for _, method := range []string{"GET", "PATCH"} {
				code, body, hdr := e.do(method, path, `{"display-name":"changed"}`)
				if code != tc.code || hdr.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("%s: %d %s %s, want %d", method, code, hdr.Get("Content-Type"), body, tc.code)
				}
				var p problem
				if err := json.Unmarshal([]byte(body), &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Path != path ||
					!strings.Contains(body, tc.reason) {
					t.Fatalf("%s: problem %s, want path %s and %q", method, body, path, tc.reason)
				}
				if strings.Contains(body, "eval_conflict_error") {
					t.Fatalf("%s: the policy's internals reached the client: %s", method, body)
				}
			}
			if eng.Snapshot().Index != before {
				t.Fatal("a refused write changed the configuration")
			}
		})
	}
}
