package testenv

import (
	"context"

	"github.com/amp-edge/amp/internal/auth"
)

// TenantAuthorizer answers every request on one tenant with Err, and on
// /enterprises/{that tenant} with EnterpriseErr; everything else is
// allowed, and a request without a principal is unauthenticated. The
// interfaces' tests use it to see how each kind of authorizer error is
// answered.
type TenantAuthorizer struct {
	Tenant             string
	Err, EnterpriseErr error
}

// Authorize implements auth.Authorizer.
func (a TenantAuthorizer) Authorize(_ context.Context, p *auth.Principal, _ auth.Action, res auth.Resource) error {
	switch {
	case p == nil:
		return auth.ErrNoCredentials
	case res.Tenant != a.Tenant:
		return nil
	case res.Kind == "enterprise":
		return a.EnterpriseErr
	}
	return a.Err
}
