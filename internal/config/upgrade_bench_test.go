package config

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/store"
)

// BenchmarkUpgrade1M: the first start of this release on a bbolt store of
// 1,000,000 leaves written by the release before model-set versions (every
// object under a key without its set version, so the upgrade moves all of
// them before the engine loads), against the next start on the same store,
// upgraded (the load alone), in the same run. Target (issue 10): the start
// with the upgrade <= 10 s.
func BenchmarkUpgrade1M(b *testing.B) {
	e, set, src := benchEngine(b, b.TempDir())
	setupSite(b, e, set)
	fill(b, e, set, 1_000_000)
	sch := e.Schema()
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	legacyDir := b.TempDir()
	dst, err := store.OpenBolt(legacyDir)
	if err != nil {
		b.Fatal(err)
	}
	legacyCopy(b, sch, src, dst, src.CheckpointIndex())
	dst.Close()
	src.Close()
	start := func(dir string) (time.Duration, int) {
		t0 := time.Now()
		st, err := store.OpenBolt(dir)
		if err != nil {
			b.Fatal(err)
		}
		e, err := Open(sch, st, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		d, n := time.Since(t0), e.Snapshot().Objects.Len()
		e.Close()
		st.Close()
		return d, n
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		if err := os.CopyFS(dir, os.DirFS(legacyDir)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		upgrade, objects := start(dir)
		plain, _ := start(dir)
		b.ReportMetric(upgrade.Seconds(), "upgrade-start-s")
		b.ReportMetric(plain.Seconds(), "plain-start-s")
		b.ReportMetric(upgrade.Seconds()/plain.Seconds(), "ratio")
		b.ReportMetric(float64(objects), "objects")
	}
}
