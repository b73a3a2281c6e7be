package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestMemoryLimit: `amp serve --memory-limit SIZE` sets the Go runtime's
// soft memory limit, which the server's own metrics show
// (go_gc_gomemlimit_bytes); off leaves the runtime without one; a value
// that is not a size is refused at start, naming the flag.
func TestMemoryLimit(t *testing.T) {
	for flag, want := range map[string]string{
		"300MiB": "3.145728e+08",
		"off":    "9.223372036854776e+18", // math.MaxInt64: the runtime's "no limit"
	} {
		s := testenv.Start(t, t.TempDir(), "--memory-limit", flag)
		code, body, _, err := s.Do(context.Background(), "GET", "/metrics", "")
		if err != nil || code != 200 {
			t.Fatalf("--memory-limit %s: /metrics: %d %v", flag, code, err)
		}
		got := ""
		for sc := bufio.NewScanner(strings.NewReader(string(body))); sc.Scan(); {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "go_gc_gomemlimit_bytes" {
				got = f[1]
			}
		}
		if got != want {
			t.Errorf("--memory-limit %s: go_gc_gomemlimit_bytes %q, want %s", flag, got, want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.Binary(t), "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--memory-limit", "lots").CombinedOutput()
	if _, exited := err.(*exec.ExitError); !exited || !strings.Contains(string(out), `--memory-limit "lots": want auto, off, or a size`) {
		t.Fatalf("amp serve --memory-limit lots: %v\n%s", err, out)
	}
}
