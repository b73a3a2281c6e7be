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
// transaction (a dry run, as in BenchmarkValidationCost) with 10,000 and
// with 1,000,000 leaves spread over three sets: Aether (tenant) SIMs and
// devices, lab (global) racks that name an Aether site, workload (tenant)
// deployments that name an Aether site and a lab rack. Two objects:
// "referrer", a deployment whose two cross-set references are checked and
// indexed; "referred", a device in the site that every rack and deployment
// names, whose change re-checks what depends on the site. The 1M cases
// report their cost as a multiple of the same object's 10k case, measured
// just before (x-10k). Target (issue 10): <= 2.
func BenchmarkCrossSetValidationCost(b *testing.B) {
	base := map[string]time.Duration{}
	for _, leaves := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("leaves=%d", leaves), func(b *testing.B) {
			sch, err := schema.Load(models.FS, os.DirFS("../../test/testdata/models"))
			if err != nil {
				b.Fatal(err)
			}
			st, err := store.OpenBolt(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			e, err := Open(sch, st, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			aether, lab, wl := sch.Set("aether", "2.1.x"), sch.Set("lab", "1.0.0"), sch.Set("workload", "1.0.0")
			setupSite(b, e, aether)
			fill(b, e, aether, leaves/3)
			fillRefs(b, e, lab, wl, leaves-leaves/3)
			e.checkpoint()
			runtime.GC()
			dep, err := schema.Resolve(wl, "acme", []string{"deployment", "newdep"})
			if err != nil {
				b.Fatal(err)
			}
			dev, err := schema.Resolve(aether, "acme", []string{"site", "s1", "device", "newdev"})
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range []struct {
				name string
				edit func() Edit
			}{
				{"referrer", func() Edit {
					return Edit{Op: OpMerge, Loc: dep, Value: map[string]any{"deployment-id": "newdep", "image": "nginx", "site": "s1", "rack": "r1"}}
				}},
				{"referred", func() Edit {
					return Edit{Op: OpMerge, Loc: dev, Value: map[string]any{"device-id": "newdev", "imei": "999999999999999", "sim-card": "f1"}}
				}},
			} {
				b.Run(c.name, func(b *testing.B) {
					ctx := context.Background()
					for i := 0; i < b.N; i++ {
						if _, err := e.Submit(ctx, &Request{Edits: []Edit{c.edit()}, DryRun: true}); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					per := b.Elapsed() / time.Duration(b.N)
					if leaves == 10_000 {
						base[c.name] = per
					} else {
						b.ReportMetric(float64(per)/float64(base[c.name]), "x-10k")
					}
				})
			}
		})
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
