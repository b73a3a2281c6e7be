package component_test

import (
	"context"
	"testing"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

// TestServiceWritesAreAudited: a write a service commits through Submit
// is in the audit trail, under the service's principal, with its
// transaction and paths; a dry run and a write that changes nothing are
// not writes and leave no record.
func TestServiceWritesAreAudited(t *testing.T) {
	eng, _ := testenv.Engine(t, true)
	trail, err := audit.Open(t.TempDir(), audit.Options{Schema: eng.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	component.BindTrail(eng, trail)
	route, err := eng.Schema().ParseRoute("/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	write := func(desc string, dry bool) *config.Result {
		val, err := schema.DecodeJSON(loc.Node, map[string]any{"device-group-id": "cameras", "description": desc}, loc.REST(), true, schema.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := component.Submit(context.Background(), eng, &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}},
			Principal: "workflow:r1", Source: "workflow", Message: "a step", DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	write("dry", true)
	res := write("by a workflow", false)
	write("by a workflow", false) // unchanged
	if err := trail.Sync(); err != nil {
		t.Fatal(err)
	}
	recs, err := trail.Query(audit.Filter{Principal: "workflow:r1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("want the one write recorded, got %d: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.Transaction != res.Index || r.Interface != audit.Service || r.Action != "write" || r.Outcome != audit.Allowed ||
		len(r.Paths) != 1 || r.Paths[0] != "/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras/description" {
		t.Fatalf("record %+v for transaction %d", r, res.Index)
	}
	if ok, err := trail.Audited(res.Index); err != nil || !ok {
		t.Fatalf("transaction %d not audited (%v): the next start would record it again", res.Index, err)
	}
}
