package config

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/schema/migrate"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// BenchmarkMigrate100k: migrating lab 1.0.0 to 1.1.0 with 100,000 objects
// (50,000 racks, 50,000 servers whose leafref names a rack) as one
// transaction, against the baseline of writing the same 100,000 objects
// as one plain transaction, measured in the same rounds on the same
// store. Target (issue 10): the migration <= 10 s.
func BenchmarkMigrate100k(b *testing.B) {
	const racks = 50_000
	sch, err := schema.Load(models.FS, testModels, nextModels)
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
	from, to := sch.Set("lab", "1.0.0"), sch.Set("lab", "1.1.0")
	plan, err := migrate.For(sch, "lab", "1.0.0", "1.1.0")
	if err != nil {
		b.Fatal(err)
	}
	resolve := func(set *schema.ModelSet, path ...string) *schema.Location {
		loc, err := schema.Resolve(set, "", path)
		if err != nil {
			b.Fatal(err)
		}
		return loc
	}
	write := make([]Edit, 0, 2*racks)
	for i := range racks {
		r, s := fmt.Sprintf("r%d", i), fmt.Sprintf("s%d", i)
		write = append(write,
			Edit{Op: OpMerge, Loc: resolve(from, "rack", r), Value: map[string]any{"rack-id": r, "display-name": "Rack " + r, "height": uint64(42)}},
			Edit{Op: OpMerge, Loc: resolve(from, "server", s), Value: map[string]any{"server-id": s, "rack": r, "position": uint64(1 + i%40), "tag": []any{"gpu"}}})
	}
	ctx := context.Background()
	var wrote, migrated time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := e.Submit(ctx, &Request{Edits: write}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := e.Submit(ctx, &Request{Migrate: plan}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		wrote, migrated = wrote+t1.Sub(t0), migrated+t2.Sub(t1)
		b.StopTimer()
		if _, err := e.Submit(ctx, &Request{Edits: []Edit{{Op: OpRemove, Loc: resolve(to)}}}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(migrated.Seconds()/float64(b.N), "s/migrate")
	b.ReportMetric(wrote.Seconds()/float64(b.N), "s/write-baseline")
	b.ReportMetric(float64(migrated)/float64(wrote), "x-write")
}
