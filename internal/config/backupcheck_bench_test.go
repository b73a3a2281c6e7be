package config

import (
	"bytes"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/backup"
)

// BenchmarkCheckBackup: amp restore's pre-check of a backup of 1,000,000
// leaves (every object and record decoded as the server would load it),
// against the same pass with no check (frames, checksums and digest only),
// in the same run.
func BenchmarkCheckBackup(b *testing.B) {
	dir := b.TempDir()
	e, set, st := benchEngine(b, dir)
	setupSite(b, e, set)
	fill(b, e, set, 1_000_000)
	var buf bytes.Buffer
	if _, err := backup.Dump(&buf, st, backup.Header{}); err != nil {
		b.Fatal(err)
	}
	sch := e.Schema()
	e.Close()
	st.Close()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := backup.VerifyItems(bytes.NewReader(buf.Bytes()), nil); err != nil {
			b.Fatal(err)
		}
		plain := time.Since(t0)
		t0 = time.Now()
		if _, err := backup.VerifyItems(bytes.NewReader(buf.Bytes()), NewBackupCheck(sch).Item); err != nil {
			b.Fatal(err)
		}
		checked := time.Since(t0)
		b.ReportMetric(plain.Seconds(), "frames-only-s")
		b.ReportMetric(checked.Seconds(), "checked-s")
		b.ReportMetric(checked.Seconds()/plain.Seconds(), "ratio")
	}
}
