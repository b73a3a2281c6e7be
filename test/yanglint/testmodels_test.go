package yanglint_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTestModelSetsCompileCleanly: the test model sets in
// test/testdata/models (lab, workload), with their ampx:refers-to and
// ampx:tenant extensions, are clean standard YANG 1.1 for yanglint too.
func TestTestModelSetsCompileCleanly(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "test", "testdata", "models", "*", "*", "*.yang"))
	if err != nil || len(files) < 2 {
		t.Fatalf("test model modules: %v %v", files, err)
	}
	args := []string{"-p", "models/ietf", "-p", "models/amp"}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		args = append(args, filepath.ToSlash(rel))
	}
	out, ok := run(t, root, args...)
	if !ok || strings.TrimSpace(out) != "" {
		t.Fatalf("yanglint %s\nexit ok=%v, output:\n%s", strings.Join(args, " "), ok, out)
	}
}
