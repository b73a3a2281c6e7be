package policy

import (
	"context"
	"testing"

	"github.com/amp-edge/amp/internal/auth"
)

// TestGlobalSetsHaveNoEnterprise: the first data segment of a global set's
// path is a list, not an enterprise, so the rights of an enterprise that
// happens to share its name ("rack") reach nothing there; operators keep
// everything.
func TestGlobalSetsHaveNoEnterprise(t *testing.T) {
	e, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	rackAdmin := &auth.Principal{Name: "ra", Rights: []auth.Right{{Role: auth.RoleEnterpriseAdmin, Enterprise: "rack"}}, Via: "token"}
	operator := &auth.Principal{Name: "op", Rights: []auth.Right{{Role: auth.RoleOperator}}, Via: "token"}
	ctx := context.Background()
	const p = "/lab/v1.0.0/rack/r1"
	if err := e.Authorize(ctx, rackAdmin, auth.Write, p); err != nil {
		t.Fatalf("without the global sets named, %s reads as enterprise rack's: %v", p, err)
	}
	e.SetGlobalSets([]string{"lab/v1.0.0"})
	for _, a := range []auth.Action{auth.Read, auth.Write} {
		if err := e.Authorize(ctx, rackAdmin, a, p); err == nil {
			t.Errorf("the admin of enterprise rack may %s %s", a, p)
		}
		if err := e.Authorize(ctx, operator, a, p); err != nil {
			t.Errorf("an operator may not %s %s: %v", a, p, err)
		}
	}
	// A tenant set's paths are unchanged.
	if err := e.Authorize(ctx, rackAdmin, auth.Write, "/workload/v1.0.0/rack/deployment/d1"); err != nil {
		t.Errorf("enterprise rack's own workload: %v", err)
	}
}
