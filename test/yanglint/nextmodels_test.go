package yanglint_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestNextModelSetsCompileCleanly: the next versions of the test sets
// (test/testdata/models-next: lab 1.1.0, loaded beside lab 1.0.0 by the
// migration tests) are clean YANG 1.1 for yanglint too. They are checked
// apart from test/testdata/models: both versions of lab define module
// amp-lab.
func TestNextModelSetsCompileCleanly(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "test", "testdata", "models-next", "*", "*", "*.yang"))
	if err != nil || len(files) == 0 {
		t.Fatalf("next test model modules: %v %v", files, err)
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
