package config

import (
	"context"
	"errors"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
)

// TestAddCheck: a registered check refuses a transaction with the path of
// the leaf and its reason, nothing is committed, and objects a
// transaction leaves unchanged are not checked again.
func TestAddCheck(t *testing.T) {
	e, set := newTestEngine(t)
	ctx := context.Background()
	if _, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	e.AddCheck(func(o *Object, report func([]string, string)) {
		seen[o.Key]++
		if o.Node.Name == "traffic-class" && o.Data["qci"] == uint64(8) {
			report([]string{"qci"}, "the backend refuses qci 8")
		}
	})
	before := e.Snapshot().Index
	_, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":8}`)}})
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindInvalid || len(se.Problems) != 1 ||
		se.Problems[0].Path != "/aether/v2.1.x/acme/traffic-class/tc1/qci" || se.Problems[0].Reason != "the backend refuses qci 8" {
		t.Fatalf("refused: %v", err)
	}
	if e.Snapshot().Index != before {
		t.Fatal("a refused transaction was committed")
	}
	if _, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":7}`)}}); err != nil {
		t.Fatal(err)
	}
	n := seen["aether/2.1.x/acme/traffic-class/tc1"]
	if _, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":7}`)}}); err != nil {
		t.Fatal(err)
	}
	if seen["aether/2.1.x/acme/traffic-class/tc1"] != n {
		t.Error("an unchanged object was checked again")
	}
}
