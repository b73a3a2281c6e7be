package e2e

import (
	"os"
	"testing"
)

// TestMain runs the tests, or, re-executed by the log-shipping benchmark
// with logAgentEnv set, the agent side of one of its runs only (a process
// of its own, so that its CPU is measured apart).
func TestMain(m *testing.M) {
	if cfg := os.Getenv(logAgentEnv); cfg != "" {
		os.Exit(logAgentMain(cfg))
	}
	os.Exit(m.Run())
}
