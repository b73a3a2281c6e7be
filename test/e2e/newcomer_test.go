package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestUnchangedWriteRecordsNothing: a write that changes nothing — `amp set`
// of the current value, a PUT of identical content, a repeated PATCH
// /aether-roc-api — is answered with the current index and leaves no
// transaction in the history.
func TestUnchangedWriteRecordsNothing(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	base := "/aether/v2.1.x/acme/site/acme-chicago"
	out, err := ampCLI(t, s.Env(), "set", "-e", "acme", "site/acme-chicago/upf/upf-1/port=8806")
	if err != nil || !strings.Contains(out, "committed transaction") {
		t.Fatalf("first amp set: %v\n%s", err, out)
	}
	current := lastIndex(t, s)
	history := string(s.Must(t, 200, "GET", "/amp/transactions", ""))

	out, err = ampCLI(t, s.Env(), "set", "-e", "acme", "site/acme-chicago/upf/upf-1/port=8806")
	if err != nil || !strings.Contains(out, "no changes: nothing recorded") {
		t.Fatalf("amp set of the current value: %v\n%s", err, out)
	}
	upf := string(s.Must(t, 200, "GET", base+"/upf/upf-1", ""))
	code, _, h, err := s.Do(context.Background(), "PUT", base+"/upf/upf-1", upf)
	if err != nil || code != 200 || h.Get("X-AMP-Transaction-Unchanged") != "true" || h.Get("X-AMP-Transaction-Index") != u(current) {
		t.Fatalf("PUT of identical content: %d %v, headers %v", code, err, h)
	}
	patch := `{"default-target":"acme","Updates":{"site-2.1.0":[{"site-id":"acme-chicago","upf":[{"upf-id":"upf-1","port":8806,"additionalProperties":{"unchanged":"address"}}]}]}}`
	code, b, h, err := s.Do(context.Background(), "PATCH", "/aether-roc-api", patch)
	if err != nil || code != 200 || h.Get("X-AMP-Transaction-Unchanged") != "true" {
		t.Fatalf("repeated PATCH /aether-roc-api: %d %v, headers %v: %s", code, err, h, b)
	}
	if got := lastIndex(t, s); got != current {
		t.Fatalf("index moved from %d to %d", current, got)
	}
	if got := string(s.Must(t, 200, "GET", "/amp/transactions", "")); got != history {
		t.Fatalf("history changed:\nbefore %s\nafter  %s", history, got)
	}
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }

// TestServeHelpDescribesReplicas: `amp serve --help` says what replicas on
// one etcd prefix do, not the old refusal of a second one.
func TestServeHelpDescribesReplicas(t *testing.T) {
	out, err := ampCLI(t, nil, "serve", "--help")
	if err != nil {
		t.Fatalf("amp serve --help: %v\n%s", err, out)
	}
	if strings.Contains(out, "refused at start") || !strings.Contains(out, "Any number of replicas may share one prefix") {
		t.Fatalf("amp serve --help on replicas:\n%s", out)
	}
}

// TestRepositoryIsSelfContained: on a fresh clone with nothing beside it,
// nothing in the repository (code, tests, scripts, docs) refers to files
// outside it; fixtures live in testdata/ with their source noted.
func TestRepositoryIsSelfContained(t *testing.T) {
	out, err := exec.Command("git", "-C", testenv.RepoRoot(), "ls-files").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	outside := ".." + "/shared" // split so this file does not name it
	files := strings.Fields(string(out))
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), f))
		if err != nil {
			continue // deleted in the work tree
		}
		if bytes.Contains(b, []byte(outside)) {
			t.Errorf("%s refers to %s, outside the repository", f, outside)
		}
	}
	if len(files) < 100 {
		t.Fatalf("only %d files listed: not the repository", len(files))
	}
}
