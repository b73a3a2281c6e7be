// Package generic holds the test that keeps the generic layers generic
// (issue 10, docs/architecture.md "Aether's wing"): the engine, the
// interfaces, the policy seam, the audit trail, the assembly of amp serve
// and the CLI read every model set from its descriptor and name none, so a
// set of another shape gets the same treatment as Aether's, and what is
// Aether's own lives under internal/aether, which registers with them.
//
// What is checked: the product code of the generic packages, its comments
// and help texts included, since a comment that says "aether" where it
// means "a tenant set" is how a rule for one set hides in generic code.
// What is not: _test.go files and testdata, since tests drive the layers
// with Aether's real models and requests (the compatibility they promise
// is Aether's), and data is not code.
//
// One exception, named in exempt: the CLI's Aether wiring in cmd/amp
// (cmd/amp/aether*.go): the blank imports that register the wing, the demo
// amp serve loads, the cobra commands of the SIM/device CSV import and
// export (their logic is internal/aether/simcsv), the aether-roc-api bulk
// body of apply and set, and the examples the generic commands' help texts
// show. cmd/amp is the assembly, the one place that may import
// internal/aether, and these texts and commands are Aether's own.
package generic

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// generic are the packages that name no model set (directories from the
// repository's root, with their sub-packages).
var generic = []string{
	"internal/schema", "internal/config", "internal/api/rest", "internal/api/gnmi",
	"internal/api/openapi", "internal/api/compat", "internal/policy", "internal/audit",
	"internal/server", "cmd/amp", "internal/component", "internal/controller", "internal/store",
}

// exempt are files of the generic packages that are explicitly Aether's
// (see the package comment), as globs from the repository's root.
var exempt = []string{"cmd/amp/aether*.go"}

// words are what only Aether's wing may say: its set's name, its version,
// its tenant member and its operator group.
var words = regexp.MustCompile(`(?i)aether|2\.1\.x|enterprise-id|AetherROCAdmin`)

func TestGenericPackagesNameNoSet(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	for _, dir := range generic {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || isExempt(t, rel) {
				return nil
			}
			checked++
			return grep(t, path, rel)
		})
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
	}
	if checked < 100 {
		t.Fatalf("checked only %d files: the package list no longer matches the tree", checked)
	}
}

func isExempt(t *testing.T, rel string) bool {
	for _, g := range exempt {
		ok, err := filepath.Match(g, rel)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return true
		}
	}
	return false
}

func grep(t *testing.T, path, rel string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if w := words.FindString(sc.Text()); w != "" {
			t.Errorf("%s:%d: names %q, which only Aether's wing (internal/aether) may: %s", rel, n, w, strings.TrimSpace(sc.Text()))
		}
	}
	return sc.Err()
}
