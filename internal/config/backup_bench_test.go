package config

import (
	"io"
	"testing"

	"github.com/amp-edge/amp/internal/backup"
)

// BenchmarkEngineBackup: the server's share of `amp backup` (GET
// /admin/backup) for a store of 1,000,000 leaves, written to io.Discard:
// the snapshot's objects encoded, the log and metadata read and framed.
// The end-to-end figure, with HTTPS and the client's checks, is
// test/e2e BenchmarkBackupRestoreCLI.
func BenchmarkEngineBackup(b *testing.B) {
	e, set, st := benchEngine(b, b.TempDir())
	defer st.Close()
	defer e.Close()
	setupSite(b, e, set)
	fill(b, e, set, 1_000_000)
	b.ResetTimer()
	for range b.N {
		if _, _, err := e.Backup(io.Discard, backup.Header{}); err != nil {
			b.Fatal(err)
		}
	}
}
