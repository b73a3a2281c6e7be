package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
)

// simCSV writes n SIM cards, each with its device, for acme-chicago as
// the CSV `amp import` reads: sim-id bN, IMSI 315010 followed by N in
// nine digits.
func simCSV(b *testing.B, n int) string {
	csv := filepath.Join(b.TempDir(), "sims.csv")
	f, err := os.Create(csv)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "enterprise,site,sim-id,iccid,imsi,device-id,imei")
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "acme,acme-chicago,b%d,88%016dF,315010%09d,bd%d,%015d\n", i, i, i, i, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return csv
}

// BenchmarkImportCLI: `amp import` of 100,000 SIM cards plus 100,000
// devices (one CSV row each) into a running `amp serve`, end to end through
// the real binaries, then the same file again (idempotent: no changes).
// Target: <= 10 s for the first import.
func BenchmarkImportCLI(b *testing.B) {
	bin := testenv.Binary(b)
	csv := simCSV(b, 100_000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := testenv.Start(b, b.TempDir(), "--demo")
		run := func() time.Duration {
			cmd := exec.Command(bin, "import", csv)
			cmd.Env = s.Env()
			t0 := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("amp import: %v\n%s", err, out)
			}
			return time.Since(t0)
		}
		b.StartTimer()
		first := run()
		b.StopTimer()
		again := run()
		b.ReportMetric(first.Seconds(), "import-s")
		b.ReportMetric(again.Seconds(), "reimport-s")
		s.Stop()
	}
}
