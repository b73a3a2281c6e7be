package yanglint_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTestModelSetsCompileCleanly: the test model sets are clean standard
// YANG 1.1 for yanglint too: test/testdata/models (lab 1.0.0, workload,
// with their ampx:refers-to and ampx:tenant extensions) and
// test/testdata/models-next (lab 1.1.0, loaded beside lab 1.0.0 by the
// migration tests). Each directory is checked on its own: both versions
// of lab define module amp-lab.
func TestTestModelSetsCompileCleanly(t *testing.T) {
	root := repoRoot(t)
	for _, dir := range []string{"models", "models-next"} {
		files, err := filepath.Glob(filepath.Join(root, "test", "testdata", dir, "*", "*", "*.yang"))
		if err != nil || len(files) == 0 {
			t.Fatalf("modules of test/testdata/%s: %v %v", dir, files, err)
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
}
