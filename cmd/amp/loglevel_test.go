package main

import (
	"strings"
	"testing"
)

// TestLogLevelCLI: amp log-level lists the server's components, sets one
// (only it changes), reads it back, resets it, and names an unknown one.
func TestLogLevelCLI(t *testing.T) {
	out := mustAmp(t, "log-level")
	if !strings.Contains(out, "COMPONENT") || !strings.Contains(out, "rest ") {
		t.Fatalf("list:\n%s", out)
	}
	mustAmp(t, "log-level", "rest", "debug")
	if out := mustAmp(t, "log-level", "rest"); !strings.Contains(out, "debug") || !strings.Contains(out, "true") {
		t.Fatalf("rest after the change:\n%s", out)
	}
	for _, line := range strings.Split(mustAmp(t, "log-level"), "\n") {
		if strings.HasPrefix(line, "all ") && !strings.Contains(line, "info") {
			t.Fatalf("the process-wide level moved: %s", line)
		}
	}
	mustAmp(t, "log-level", "rest", "--reset")
	if out := mustAmp(t, "log-level", "rest"); !strings.Contains(out, "info") || !strings.Contains(out, "false") {
		t.Fatalf("rest after the reset:\n%s", out)
	}
	if r := amp(t, "", "log-level", "no-such-part", "debug"); r.code == 0 || !strings.Contains(r.stderr, `no component "no-such-part"`) {
		t.Fatalf("unknown component: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := amp(t, "", "log-level", "rest", "loud"); r.code == 0 || !strings.Contains(r.stderr, "/level") {
		t.Fatalf("bad level: exit %d, stderr %q", r.code, r.stderr)
	}
}
