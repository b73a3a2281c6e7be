package yanglint_test

import (
	"strings"
	"testing"
)

const (
	probesModule = "models/monitor/1.0.0/amp-monitor-probes.yang"
	probesSample = "test/testdata/monitor-probes-sample.json"
)

// TestMonitorProbesModelAndSample: the probes module of the monitor set is
// clean standard YANG 1.1 for yanglint, a sample of probes is valid
// configuration, and yanglint refuses what AMP refuses by the same
// statements: an unknown kind, an interval of 0, a timeout over a minute,
// a cluster label that is not name=value, an address that is no address.
func TestMonitorProbesModelAndSample(t *testing.T) {
	root := repoRoot(t)
	base := []string{"-p", "models/ietf", "-p", "models/amp"}
	if out, ok := run(t, root, append(base, probesModule)...); !ok || strings.TrimSpace(out) != "" {
		t.Fatalf("yanglint %s: ok=%v\n%s", probesModule, ok, out)
	}
	check := append(append([]string{"-t", "config"}, base...), probesModule)
	refusals(t, root, check, probesSample, []mutation{
		{"an unknown kind", `"kind": "tcp"`, `"kind": "udp"`, "Invalid enumeration value"},
		{"interval 0", `"interval": 5}`, `"interval": 0}`, "out of the allowed range"},
		{"a timeout over a minute", `"timeout": 5,`, `"timeout": 61,`, "out of the allowed range"},
		{"a label without a value", `"env=production"`, `"env"`, "does not conform"},
		{"a source that is no address", `"10.250.0.2"`, `"eth0"`, "no matching subtype"},
	})
}
