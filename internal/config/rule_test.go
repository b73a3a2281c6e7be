package config

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/schema"
)

// withRule registers r for set for the length of the test (rules are
// otherwise registered from init and never removed).
func withRule(t *testing.T, set string, r Rule) {
	t.Helper()
	rules.mu.RLock()
	saved := rules.bySet
	rules.mu.RUnlock()
	RegisterRule(set, r)
	t.Cleanup(func() {
		rules.mu.Lock()
		rules.bySet = saved
		rules.mu.Unlock()
	})
}

// TestRuleCheck: a set's rule runs once per transaction with every change
// of its set, sees the state after all edits (objects the transaction did
// not touch too), refuses the whole transaction naming the path and the
// reason (409 for a clash), and a refused transaction changes nothing;
// the refusal is counted by rule.
func TestRuleCheck(t *testing.T) {
	m := NewMetrics(nil)
	e, set := newTestEngineWith(t, Options{Metrics: m})
	ctx := context.Background()
	if _, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}}); err != nil {
		t.Fatal(err)
	}
	var calls, seen int
	withRule(t, "aether", Rule{
		Name: "one-qci-9",
		Check: func(tx *Snapshot, changes []ObjectChange, report Report) {
			calls++
			seen = len(changes)
			// A transaction-wide invariant: at most one traffic class with
			// qci 9 per enterprise, whichever transaction added which.
			var with9 []string
			it := tx.Objects.Root().Iterator()
			it.SeekPrefix([]byte("aether/2.1.x/acme/traffic-class/"))
			for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
				if o.Data["qci"] == uint64(9) {
					with9 = append(with9, string(k))
				}
			}
			if len(with9) > 1 {
				o, _ := tx.Get(with9[1])
				report(true, schema.RESTPathOfKey(o.Node.Set, o.Key, []string{"qci"}, false, nil), "qci 9 is taken by "+with9[0])
			}
		},
	})
	if _, err := e.Submit(ctx, &Request{Edits: []Edit{
		edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":9}`),
		edit(t, set, OpMerge, "acme/traffic-class/tc2", `{"qci":8}`),
	}}); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || seen != 2 {
		t.Fatalf("a transaction of two objects called the rule %d times with %d changes; want once with 2", calls, seen)
	}
	before := e.Snapshot().Index
	_, err := e.Submit(ctx, &Request{Edits: []Edit{
		edit(t, set, OpMerge, "acme/traffic-class/tc2", `{"qci":9}`),
		edit(t, set, OpMerge, "acme/traffic-class/tc3", `{"qci":7}`),
	}})
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindConflict || len(se.Problems) != 1 ||
		se.Problems[0].Path != "/aether/v2.1.x/acme/traffic-class/tc2/qci" ||
		se.Problems[0].Reason != "qci 9 is taken by aether/2.1.x/acme/traffic-class/tc1" {
		t.Fatalf("refused: %v", err)
	}
	if n := testutil.ToFloat64(m.ruleRefusals.WithLabelValues("one-qci-9")); n != 1 {
		t.Errorf("amp_config_rule_refusals_total{rule=one-qci-9} = %v, want 1", n)
	}
	snap := e.Snapshot()
	if snap.Index != before {
		t.Fatal("a refused transaction was committed")
	}
	if _, ok := snap.Get("aether/2.1.x/acme/traffic-class/tc3"); ok {
		t.Fatal("a refused transaction left an object behind")
	}
	if o, _ := snap.Get("aether/2.1.x/acme/traffic-class/tc2"); o.Data["qci"] != uint64(8) {
		t.Fatalf("a refused transaction changed tc2: %v", o.Data)
	}
	// A transaction that changes nothing of the set does not run it.
	calls = 0
	if _, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "other"}}}); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Fatalf("a transaction without changes to the set ran its rule %d times", calls)
	}
}

// TestRuleExpand: the edits a rule's Expand adds are part of the same
// transaction (one index, one history record, rolled back together) and
// appear in a dry run.
func TestRuleExpand(t *testing.T) {
	e, set := newTestEngine(t)
	ctx := context.Background()
	if _, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}}); err != nil {
		t.Fatal(err)
	}
	withRule(t, "aether", Rule{
		Name: "twin",
		Expand: func(tx *Snapshot, changes []ObjectChange) []Edit {
			var eds []Edit
			for _, c := range changes {
				if c.Before != nil || c.After == nil || c.After.Node.Name != "traffic-class" || strings.HasSuffix(c.Key, "-twin") {
					continue
				}
				loc, err := tx.schema.ParseObjectKey(c.Key + "-twin")
				if err != nil {
					t.Error(err)
					continue
				}
				eds = append(eds, Edit{Op: OpMerge, Loc: loc, Value: map[string]any{"qci": c.After.Data["qci"]}})
			}
			return eds
		},
	})
	dry, err := e.Submit(ctx, &Request{DryRun: true, Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":9}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Changes) != 2 {
		t.Fatalf("the dry run shows %d changes, want the object and its twin: %+v", len(dry.Changes), dry.Changes)
	}
	res, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":9}`)}})
	if err != nil {
		t.Fatal(err)
	}
	twin, ok := e.Snapshot().Get("aether/2.1.x/acme/traffic-class/tc1-twin")
	if !ok || twin.Created != res.Index || twin.Data["qci"] != uint64(9) {
		t.Fatalf("the twin was not created in transaction %d: %+v", res.Index, twin)
	}
	// Rolling the transaction back removes both.
	if _, err := e.Submit(ctx, &Request{Rollback: res.Index}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"aether/2.1.x/acme/traffic-class/tc1", "aether/2.1.x/acme/traffic-class/tc1-twin"} {
		if _, ok := e.Snapshot().Get(k); ok {
			t.Errorf("%s survived the rollback of the transaction that created it", k)
		}
	}
}
