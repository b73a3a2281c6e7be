package policy

import (
	"context"
	"errors"
	"testing"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

// agent is the principal internal/edge/ca makes of a cluster's
// certificate.
func agent(cluster string) *auth.Principal {
	rights := []auth.Right{{Role: auth.RoleAgent, Cluster: cluster}}
	return &auth.Principal{Name: "cluster:" + cluster, Groups: auth.GroupNames(rights), Rights: rights, Via: "mtls"}
}

// TestAgentOwnClusterOnly: the default policy lets an agent read and
// write its own cluster's edge routes and nothing else, and the decision
// cache never answers one cluster's agent with another's decision (the
// policy does not read the path: the cluster is what tells them apart).
func TestAgentOwnClusterOnly(t *testing.T) {
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	res := func(path string) auth.Resource {
		t.Helper()
		r, err := auth.ResourceOf(sch, path)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	own := res("/edge/v1/clusters/ace-x/desired")
	if own.Kind != auth.EdgeKind || own.Cluster != "ace-x" {
		t.Fatalf("%s: kind %q cluster %q", own.Path, own.Kind, own.Cluster)
	}
	if r := res("/edge/v1/clusters/a%2Fb/status"); r.Cluster != "a/b" {
		t.Fatalf("an escaped cluster id reads %q", r.Cluster)
	}
	ctx := context.Background()
	for round := range 2 { // the second round answers from the cache
		if err := pol.Authorize(ctx, agent("ace-x"), auth.Read, own); err != nil {
			t.Fatalf("round %d: ace-x's agent on its own route: %v", round, err)
		}
		if err := pol.Authorize(ctx, agent("ace-x"), auth.Write, res("/edge/v1/clusters/ace-x/status")); err != nil {
			t.Fatalf("round %d: ace-x's agent writing its status: %v", round, err)
		}
		for _, tc := range []struct {
			p      *auth.Principal
			action auth.Action
			path   string
		}{
			{agent("ace-y"), auth.Read, "/edge/v1/clusters/ace-x/desired"},
			{agent("ace-x"), auth.Read, "/edge/v1/clusters/ace-y/desired"},
			{agent("ace-x"), auth.Admin, "/edge/v1/clusters/ace-x/status"},
			{agent("ace-x"), auth.Read, "/inventory/v1.0.0/cluster/ace-x"},
			{agent("ace-x"), auth.Write, "/state/inventory/v1.0.0/cluster/ace-x/agent"},
			{agent("ace-x"), auth.Read, "/enterprises"},
			{agent("ace-x"), auth.Read, "/transactions"},
			{agent("ace-x"), auth.Read, "/aether/v2.1.x/acme/site"},
		} {
			if err := pol.Authorize(ctx, tc.p, tc.action, res(tc.path)); !errors.Is(err, auth.ErrDenied) {
				t.Errorf("round %d: %s %s %s: %v, want denied", round, tc.p.Name, tc.action, tc.path, err)
			}
		}
	}
}

// TestAgentRoleNotGrantable: no group name grants the agent role (only
// AMP's CA does, through a certificate).
func TestAgentRoleNotGrantable(t *testing.T) {
	for _, g := range []string{"amp:agent", "amp:agent:ace-x"} {
		if rs := auth.RightsFromGroups([]string{g}, true); len(rs) != 0 {
			t.Errorf("group %q grants %v", g, rs)
		}
	}
}
