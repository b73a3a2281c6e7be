package config

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// BenchmarkCrossSetValidationCost: the cost of one single-object
// transaction (a dry run, as in BenchmarkValidationCost) in a store of
// 1,000,000 leaves against the same in a store of 10,000 (the baseline),
// both spread over three sets: Aether (tenant) SIMs and devices, lab
// (global) racks that name an Aether site, workload (tenant) deployments
// that name an Aether site and a lab rack. Two objects: "referrer", a
// deployment whose two cross-set references are checked and indexed;
// "referred", a device in the site that every rack and deployment names,
// whose change re-checks what depends on the site. The two stores are
// measured in alternating rounds, so both see the same machine load;
// x-10k is the ratio. Target (issue 10): <= 2.
func BenchmarkCrossSetValidationCost(b *testing.B) {
	small, large := crossSetEngine(b, 10_000), crossSetEngine(b, 1_000_000)
	for _, object := range []string{"referrer", "referred"} {
		b.Run("object="+object, func(b *testing.B) {
			var took [2]time.Duration
			const round = 50
			n := 0
			for ; n < b.N; n += round {
				for i, c := range []*crossSet{small, large} {
					t0 := time.Now()
					for j := 0; j < round; j++ {
						c.submit(b, object)
					}
					took[i] += time.Since(t0)
				}
			}
			b.ReportMetric(float64(took[1].Nanoseconds())/float64(n), "ns/op-1M")
			b.ReportMetric(float64(took[0].Nanoseconds())/float64(n), "ns/op-10k")
			b.ReportMetric(float64(took[1])/float64(took[0]), "x-10k")
		})
	}
}

// crossSet is an engine holding the three sets' objects.
type crossSet struct {
	e        *Engine
	dep, dev *schema.Location
}

// crossSetEngine fills a fresh store with about leaves leaves: a third in
// Aether, the rest in fillRefs's racks and deployments.
func crossSetEngine(b *testing.B, leaves int) *crossSet {
	b.Helper()
	sch, err := schema.Load(models.FS, os.DirFS("../../test/testdata/models"))
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenBolt(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	e, err := Open(sch, st, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	aether, lab, wl := sch.Set("aether", "2.1.x"), sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0")
	setupSite(b, e, aether)
	fill(b, e, aether, leaves/3)
	fillRefs(b, e, lab, wl, leaves-leaves/3)
	// Measure the steady state, as BenchmarkValidationCost does.
	e.checkpoint()
	runtime.GC()
	c := &crossSet{e: e}
	if c.dep, err = schema.Resolve(wl, "acme", []string{"deployment", "newdep"}); err != nil {
		b.Fatal(err)
	}
	if c.dev, err = schema.Resolve(aether, "acme", []string{"site", "s1", "device", "newdev"}); err != nil {
		b.Fatal(err)
	}
	return c
}

func (c *crossSet) submit(b *testing.B, object string) {
	ed := Edit{Op: OpMerge, Loc: c.dep, Value: map[string]any{"deployment-id": "newdep", "image": "nginx", "site": "s1", "rack": "r1"}}
	if object == "referred" {
		ed = Edit{Op: OpMerge, Loc: c.dev, Value: map[string]any{"device-id": "newdev", "imei": "999999999999999", "sim-card": "f1"}}
	}
	if _, err := c.e.Submit(context.Background(), &Request{Edits: []Edit{ed}, DryRun: true}); err != nil {
		b.Fatal(err)
	}
}

// fillRefs adds about leaves leaves, half in lab racks (4 leaves each,
// naming acme's site s1) and half in acme's workload deployments (5 leaves
// each, naming site s1 and a rack).
func fillRefs(b *testing.B, e *Engine, lab, wl *schema.ModelSet, leaves int) {
	b.Helper()
	ctx := context.Background()
	racks, deps := leaves/2/4, leaves/2/5
	const chunk = 20000
	labRoot, err := schema.Resolve(lab, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	wlRoot, err := schema.Resolve(wl, "acme", nil)
	if err != nil {
		b.Fatal(err)
	}
	for start := 0; start < racks; start += chunk {
		var items []any
		for i := start; i < start+chunk && i < racks; i++ {
			items = append(items, map[string]any{"rack-id": fmt.Sprintf("r%d", i), "display-name": "rack", "tenant": "acme", "aether-site": "s1"})
		}
		if _, err := e.Submit(ctx, &Request{Edits: []Edit{{Op: OpMerge, Loc: labRoot, Value: map[string]any{"rack": items}}}}); err != nil {
			b.Fatal(err)
		}
	}
	for start := 0; start < deps; start += chunk {
		var items []any
		for i := start; i < start+chunk && i < deps; i++ {
			items = append(items, map[string]any{"deployment-id": fmt.Sprintf("d%d", i), "image": "nginx", "replicas": uint64(2), "site": "s1", "rack": fmt.Sprintf("r%d", i%racks)})
		}
		if _, err := e.Submit(ctx, &Request{Edits: []Edit{{Op: OpMerge, Loc: wlRoot, Value: map[string]any{"deployment": items}}}}); err != nil {
			b.Fatal(err)
		}
	}
}
