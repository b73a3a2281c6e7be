package policy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"

	defaultpolicy "github.com/amp-edge/amp/policy"
)

// TestResult is one Rego unit test (a rule named test_* in a *_test.rego file).
type TestResult struct {
	Package  string        `json:"package"`
	Name     string        `json:"name"`
	File     string        `json:"file"`
	Pass     bool          `json:"pass"`
	Skip     bool          `json:"skip,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Report is the outcome of RunTests.
type Report struct {
	Results        []TestResult `json:"results"`
	Passed, Failed int
	Skipped        int
}

// OK reports whether every test passed (and there was at least one).
func (r *Report) OK() bool { return r.Failed == 0 && r.Passed > 0 }

// String renders the report like `opa test`.
func (r *Report) String() string {
	var b strings.Builder
	for _, t := range r.Results {
		status := "PASS"
		switch {
		case t.Skip:
			status = "SKIPPED"
		case !t.Pass:
			status = "FAIL"
		}
		fmt.Fprintf(&b, "%s: %s.%s (%s)", status, t.Package, t.Name, t.Duration.Round(time.Microsecond))
		if t.Error != "" {
			fmt.Fprintf(&b, ": %s", t.Error)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%s\nPASS: %d/%d", strings.Repeat("-", 60), r.Passed, r.Passed+r.Failed)
	if r.Skipped > 0 {
		fmt.Fprintf(&b, ", SKIPPED: %d", r.Skipped)
	}
	if r.Failed > 0 {
		fmt.Fprintf(&b, ", FAIL: %d", r.Failed)
	}
	b.WriteByte('\n')
	return b.String()
}

// RunTests runs the Rego unit tests (test_* rules) of the *.rego files at the
// top of dir, policy and tests together, with OPA's tester: what
// `amp policy test [dir]` prints. A nil dir means the embedded default
// policy. The error is for files that cannot be read or compiled; failing
// tests are in the report.
func RunTests(ctx context.Context, dir fs.FS) (*Report, error) {
	if dir == nil {
		dir = defaultpolicy.FS
	}
	srcs, _, err := readModules(dir, true)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	mods := map[string]*ast.Module{}
	for n, src := range srcs {
		m, err := ast.ParseModuleWithOpts(n, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		mods[n] = m
	}
	ch, err := tester.NewRunner().SetModules(mods).SetTimeout(30*time.Second).RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	rep := &Report{}
	for r := range ch {
		tr := TestResult{Package: strings.TrimPrefix(r.Package, "data."), Name: r.Name, Duration: r.Duration, Skip: r.Skip}
		if r.Location != nil {
			tr.File = r.Location.File
		}
		tr.Pass = r.Pass()
		if r.Error != nil {
			tr.Error = r.Error.Error()
			tr.Pass = false
		} else if r.Fail && r.FailedAt != nil {
			tr.Error = "failed at " + r.FailedAt.String()
		}
		switch {
		case tr.Skip:
			rep.Skipped++
		case tr.Pass:
			rep.Passed++
		default:
			rep.Failed++
		}
		rep.Results = append(rep.Results, tr)
	}
	sort.Slice(rep.Results, func(i, j int) bool {
		a, b := rep.Results[i], rep.Results[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Name < b.Name
	})
	return rep, nil
}

// RunTestsDir is RunTests on a directory of the file system.
func RunTestsDir(ctx context.Context, dir string) (*Report, error) {
	return RunTests(ctx, os.DirFS(dir))
}
