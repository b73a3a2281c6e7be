package gnmi

import (
	"errors"
	"fmt"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/testenv"
)

// TestAuthorizerRefusals: each kind of authorizer error has its own code on
// Get and Set: no credentials Unauthenticated, a refusal PermissionDenied
// (NotFound when the caller may not even see the enterprise), a policy
// that could not decide Internal — never PermissionDenied, which would
// blame the caller. A refused Set changes nothing.
func TestAuthorizerRefusals(t *testing.T) {
	denied := fmt.Errorf("%w: no rule allows it", auth.ErrDenied)
	broken := &auth.EvaluationError{Err: errors.New("eval_conflict_error")}
	for _, tc := range []struct {
		name               string
		err, enterpriseErr error
		code               codes.Code
		says               string
	}{
		{"unauthenticated", auth.ErrNoCredentials, nil, codes.Unauthenticated, "no bearer token"},
		{"denied", denied, nil, codes.PermissionDenied, "no rule allows it"},
		{"denied, enterprise hidden", denied, denied, codes.NotFound, `enterprise "starbucks" does not exist`},
		{"evaluation failure", broken, denied, codes.Internal, "could not be evaluated"},
		{"unknown error", errors.New("policy service lost"), nil, codes.Internal, "could not be evaluated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			az := testenv.TenantAuthorizer{Tenant: "starbucks", Err: tc.err, EnterpriseErr: tc.enterpriseErr}
			e := newEnv(t, func(o *Options) { o.Authorizer = az })
			e.getOne("acme", "site[site-id=acme-chicago]/display-name", gpb.Encoding_JSON_IETF)
			_, err := e.get(target("starbucks"), gpb.Encoding_JSON_IETF, gpb.GetRequest_ALL, p("site"))
			wantCode(t, err, tc.code, tc.says)
			before := e.eng.Snapshot().Index
			_, err = e.c.Set(ctx(t), &gpb.SetRequest{Prefix: target("starbucks"), Update: []*gpb.Update{{
				Path: p("site[site-id=starbucks-seattle]/display-name"), Val: &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: "x"}}}}})
			wantCode(t, err, tc.code, tc.says)
			if e.eng.Snapshot().Index != before {
				t.Fatal("a refused Set changed the configuration")
			}
		})
	}
}
