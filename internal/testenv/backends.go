package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/aether/emulator/sdcore"
)

// Emulator starts an SD-Core emulator on a loopback port, stopped when
// the test ends (after what the test started later, such as an AMP).
func Emulator(t testing.TB) *sdcore.Emulator {
	t.Helper()
	e, err := sdcore.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

// Backends writes an operator's --backends file granting each emulator's
// core and UPF endpoints to enterprise, and returns the amp serve flags
// that use it, with loopback allowed (the emulators listen there).
func Backends(t testing.TB, enterprise string, emus ...*sdcore.Emulator) []string {
	t.Helper()
	var b strings.Builder
	b.WriteString("backends:\n")
	for i, e := range emus {
		fmt.Fprintf(&b, "- {name: core-%d, kind: core, url: %q, enterprises: [%s]}\n", i, e.CoreEndpoint(), enterprise)
		fmt.Fprintf(&b, "- {name: upf-%d, kind: upf, url: %q, enterprises: [%s]}\n", i, e.UPFEndpoint(), enterprise)
	}
	path := filepath.Join(t.TempDir(), "backends.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--backends", path, "--backend-allow-net", "127.0.0.1"}
}
