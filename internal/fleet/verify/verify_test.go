package verify

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// repo is a real git repository in a temporary directory, driven with the
// git CLI as a developer would.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.org", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write writes files (name → content) into the working copy.
func (r *repo) write(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit writes files and commits everything.
func (r *repo) commit(msg string, files map[string]string) {
	r.t.Helper()
	r.write(files)
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
}

func (r *repo) check(opts Options) *Report {
	r.t.Helper()
	rep, err := Check(r.dir, opts)
	if err != nil {
		r.t.Fatalf("Check: %v", err)
	}
	return rep
}

func rules(rep *Report) string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.Rule)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestVersionRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(r *repo)
		want  string // the rules that fail, sorted; "" when clean
	}{
		{"no VERSION file", func(r *repo) { r.commit("init", map[string]string{"README": "x"}) }, RuleVersionFile},
		{"VERSION not semver", func(r *repo) { r.commit("init", map[string]string{"VERSION": "v1.2\n"}) }, RuleVersionSemver},
		{"first version, no tags", func(r *repo) { r.commit("init", map[string]string{"VERSION": "0.1.0-dev\n"}) }, ""},
		{"on its release tag", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0\n"})
			r.git("tag", "v1.2.0")
		}, ""},
		{"on an annotated release tag without v", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0\n"})
			r.git("tag", "-a", "-m", "release", "1.2.0")
		}, ""},
		{"regress below the greatest tag", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0\n"})
			r.git("tag", "v1.2.0")
			r.commit("oops", map[string]string{"VERSION": "1.1.9\n"})
		}, RuleRegress},
		{"-dev of the released version is a regression", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0\n"})
			r.git("tag", "v1.2.0")
			r.commit("next", map[string]string{"VERSION": "1.2.0-dev\n"})
		}, RuleRegress},
		{"a later commit keeps the released version", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0\n"})
			r.git("tag", "v1.2.0")
			r.commit("fix", map[string]string{"main.go": "package main\n"})
		}, RuleBump},
		{"a later commit is -dev of the next patch", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0\n"})
			r.git("tag", "v1.2.0")
			r.commit("next", map[string]string{"VERSION": "1.2.1-dev\n"})
			r.commit("more", map[string]string{"main.go": "package main\n"})
		}, ""},
		{"a later commit bumps to a release not yet tagged", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0\n"})
			r.git("tag", "v1.2.0")
			r.commit("finalize", map[string]string{"VERSION": "1.3.0\n"})
		}, ""},
		{"the greatest tag counts, not the newest", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "2.0.0\n"})
			r.git("tag", "v2.0.0")
			r.commit("older line", map[string]string{"VERSION": "1.9.0\n"})
			r.git("tag", "v1.9.0")
		}, RuleRegress},
		{"-dev on a release tag", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0-dev\n"})
			r.git("tag", "v1.2.0")
		}, strings.Join([]string{RuleDevOnTag, RuleTagVersion, RuleRegress}, ",")},
		{"tag and VERSION disagree", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0\n"})
			r.git("tag", "v1.2.0")
			r.commit("next", map[string]string{"VERSION": "1.3.0\n"})
			r.git("tag", "v1.4.0")
		}, strings.Join([]string{RuleTagVersion, RuleRegress}, ",")},
		{"non-release tags are ignored", func(r *repo) {
			r.commit("release", map[string]string{"VERSION": "1.2.0-dev\n"})
			r.git("tag", "nightly")
			r.git("tag", "release-9.9.9")
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			tc.build(r)
			rep := r.check(Options{})
			want := strings.Split(tc.want, ",")
			sort.Strings(want)
			if got := rules(rep); got != strings.Join(want, ",") {
				t.Errorf("failed rules = %q, want %q; findings: %+v", got, strings.Join(want, ","), rep.Findings)
			}
			for _, f := range rep.Findings {
				if f.File != "VERSION" || f.Message == "" || f.Fix == "" {
					t.Errorf("finding without file, message or fix: %+v", f)
				}
			}
		})
	}
}

// chart is a Chart.yaml; its version is on line 3.
func chart(version, appVersion string) string {
	return fmt.Sprintf("apiVersion: v2\nname: upf\nversion: %s\nappVersion: %q\n", version, appVersion)
}

const values = "replicas: 1\nimage:\n  repository: registry.example.org/upf\n  tag: 1.2.0\n"

// released makes a repository whose v1.2.0 release holds a chart at 0.3.0,
// followed by a commit that starts 1.2.1-dev.
func released(t *testing.T) *repo {
	r := newRepo(t)
	r.commit("release", map[string]string{
		"VERSION":                        "1.2.0\n",
		"deploy/upf/Chart.yaml":          chart("0.3.0", "1.2.0"),
		"deploy/upf/values.yaml":         values,
		"deploy/upf/templates/dep.yaml":  "kind: Deployment\n",
		"deploy/upf/README.md":           "docs\n",
		"deploy/other/Chart.yaml":        chart("1.0.0", "9.9.9"),
		"deploy/other/values.yaml":       "image: quay.io/other:9.9.9\n",
		"deploy/other/templates/ds.yaml": "kind: DaemonSet\n",
	})
	r.git("tag", "v1.2.0")
	r.commit("next", map[string]string{"VERSION": "1.2.1-dev\n", "deploy/upf/Chart.yaml": chart("0.3.0", "1.2.1-dev"), "deploy/upf/values.yaml": strings.Replace(values, "1.2.0", "1.2.1-dev", 1)})
	return r
}

func TestChartBump(t *testing.T) {
	t.Run("values changed without a bump", func(t *testing.T) {
		r := released(t)
		rep := r.check(Options{})
		if rules(rep) != RuleChartBump {
			t.Fatalf("rules = %q, want %s: %+v", rules(rep), RuleChartBump, rep.Findings)
		}
		f := rep.Findings[0]
		if f.File != "deploy/upf/Chart.yaml" || f.Line != 3 || !strings.Contains(f.Message, "values.yaml") ||
			!strings.Contains(f.Message, "image tag .image.tag 1.2.0 -> 1.2.1-dev") || !strings.Contains(f.Fix, "0.3.1") {
			t.Errorf("finding = %+v", f)
		}
		if rep.Base != "v1.2.0" || rep.Charts != 2 {
			t.Errorf("base %q charts %d, want v1.2.0 and 2", rep.Base, rep.Charts)
		}
	})
	t.Run("bumped", func(t *testing.T) {
		r := released(t)
		r.commit("bump", map[string]string{"deploy/upf/Chart.yaml": chart("0.4.0", "1.2.1-dev")})
		if rep := r.check(Options{}); !rep.OK() {
			t.Errorf("findings: %+v", rep.Findings)
		}
	})
	t.Run("only appVersion changed", func(t *testing.T) {
		r := released(t)
		r.commit("bump", map[string]string{"deploy/upf/Chart.yaml": chart("0.4.0", "1.2.1-dev")})
		r.git("tag", "v1.2.1-rc.1") // the new base: both charts at their versions there
		r.commit("next images", map[string]string{"VERSION": "1.2.1-rc.2\n", "deploy/other/Chart.yaml": chart("1.0.0", "9.9.10")})
		rep := r.check(Options{})
		if rules(rep) != RuleChartBump || rep.Base != "v1.2.1-rc.1" || !strings.Contains(rep.Findings[0].Message, "(appVersion 9.9.9 -> 9.9.10)") {
			t.Errorf("base %s findings: %+v", rep.Base, rep.Findings)
		}
	})
	t.Run("a template changed, uncommitted", func(t *testing.T) {
		r := released(t)
		r.commit("bump", map[string]string{"deploy/upf/Chart.yaml": chart("0.4.0", "1.2.1-dev")})
		r.write(map[string]string{"deploy/other/templates/ds.yaml": "kind: DaemonSet\nspec: {}\n"})
		rep := r.check(Options{})
		if rules(rep) != RuleChartBump || rep.Findings[0].File != "deploy/other/Chart.yaml" || !strings.Contains(rep.Findings[0].Message, "templates/ds.yaml") {
			t.Errorf("findings: %+v", rep.Findings)
		}
	})
	t.Run("a template removed", func(t *testing.T) {
		r := released(t)
		r.commit("bump", map[string]string{"deploy/upf/Chart.yaml": chart("0.4.0", "1.2.1-dev")})
		r.git("rm", "-q", "deploy/other/templates/ds.yaml")
		r.commit("rm", nil)
		rep := r.check(Options{})
		if rules(rep) != RuleChartBump || !strings.Contains(rep.Findings[0].Message, "templates/ds.yaml (removed)") {
			t.Errorf("findings: %+v", rep.Findings)
		}
	})
	t.Run("other chart files do not need a bump", func(t *testing.T) {
		r := released(t)
		r.commit("bump", map[string]string{"deploy/upf/Chart.yaml": chart("0.4.0", "1.2.1-dev"), "deploy/other/README.md": "more docs\n"})
		if rep := r.check(Options{}); !rep.OK() {
			t.Errorf("findings: %+v", rep.Findings)
		}
	})
	t.Run("a new chart needs no bump", func(t *testing.T) {
		r := released(t)
		r.commit("bump", map[string]string{"deploy/upf/Chart.yaml": chart("0.4.0", "1.2.1-dev"), "deploy/new/Chart.yaml": chart("0.1.0", "1.0.0"), "deploy/new/values.yaml": "a: 1\n"})
		if rep := r.check(Options{}); !rep.OK() || rep.Charts != 3 {
			t.Errorf("charts %d, findings: %+v", rep.Charts, rep.Findings)
		}
	})
	t.Run("--base a branch", func(t *testing.T) {
		r := released(t)
		r.commit("bump", map[string]string{"deploy/upf/Chart.yaml": chart("0.4.0", "1.2.1-dev")})
		r.git("branch", "target")
		r.commit("change again", map[string]string{"deploy/upf/templates/dep.yaml": "kind: Deployment\nspec: {}\n"})
		if rep := r.check(Options{}); !rep.OK() {
			t.Errorf("against the tag: findings: %+v", rep.Findings)
		}
		rep := r.check(Options{Base: "target"})
		if rules(rep) != RuleChartBump || rep.Base != "target" || !strings.Contains(rep.Findings[0].Message, "0.4.0") {
			t.Errorf("against the branch: base %q findings: %+v", rep.Base, rep.Findings)
		}
	})
	t.Run("chart version not semver", func(t *testing.T) {
		r := released(t)
		r.commit("bad", map[string]string{"deploy/upf/Chart.yaml": chart("0.4", "1.2.1-dev")})
		rep := r.check(Options{})
		if rules(rep) != RuleChartYAML || rep.Findings[0].Line != 3 {
			t.Errorf("findings: %+v", rep.Findings)
		}
	})
	t.Run("no tag and no base", func(t *testing.T) {
		r := newRepo(t)
		r.commit("init", map[string]string{"VERSION": "0.1.0-dev\n", "Chart.yaml": chart("0.1.0", "0.0.1"), "values.yaml": "tag: x\n"})
		rep := r.check(Options{})
		if !rep.OK() || rep.Charts != 1 || len(rep.Notes) != 1 {
			t.Errorf("charts %d notes %v findings %+v", rep.Charts, rep.Notes, rep.Findings)
		}
		r.git("tag", "v0.0.9")
		r.commit("chart at the root changes", map[string]string{"values.yaml": "tag: y\n"})
		if rep := r.check(Options{}); rules(rep) != RuleChartBump || rep.Findings[0].File != "Chart.yaml" {
			t.Errorf("findings %+v", rep.Findings)
		}
	})
}

func TestImageTags(t *testing.T) {
	for _, tc := range []struct {
		name       string
		appVersion string
		values     string
		want       []int // lines of the failing tags
	}{
		{"tags carry the version", "1.3.0", "image:\n  repository: r/upf\n  tag: 1.3.0\nsidecar:\n  image: r/proxy:v1.3.0\n", nil},
		{"empty tag defaults to appVersion", "1.3.0", "image:\n  repository: r/upf\n  tag: \"\"\n", nil},
		{"image.tag differs", "1.3.0", "image:\n  repository: r/upf\n  tag: 1.2.0\n", []int{3}},
		{"image string and nested tags", "v1.3.0", "a:\n  image: registry:5000/r/upf:1.3.0-rc\nb:\n  - image: r/x@sha256:abc\n  - tag: latest\n", []int{2, 5}},
		{"appVersion names another version: not ours", "9.9.9", "image:\n  tag: 1.2.0\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			r.commit("init", map[string]string{"VERSION": "1.3.0\n", "charts/upf/Chart.yaml": chart("1.0.0", tc.appVersion), "charts/upf/values.yaml": tc.values})
			rep := r.check(Options{})
			var lines []int
			for _, f := range rep.Findings {
				if f.Rule != RuleImageTag || f.File != "charts/upf/values.yaml" || !strings.Contains(f.Fix, "1.3.0") {
					t.Errorf("unexpected finding %+v", f)
				}
				lines = append(lines, f.Line)
			}
			if fmt.Sprint(lines) != fmt.Sprint(tc.want) {
				t.Errorf("failing lines %v, want %v: %+v", lines, tc.want, rep.Findings)
			}
		})
	}
}

func TestRepositoryErrors(t *testing.T) {
	if _, err := Check(t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "not in a git working copy") {
		t.Errorf("plain directory: err = %v", err)
	}
	r := released(t)
	if _, err := Check(r.dir, Options{Base: "no-such-branch"}); err == nil || !strings.Contains(err.Error(), "--base no-such-branch") {
		t.Errorf("unknown base: err = %v", err)
	}
	if _, err := Check(filepath.Join(r.dir, "VERSION"), Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: err = %v", err)
	}
}

// TestComponentDirectory: in a monorepo, DIR is a component; its VERSION and
// charts are checked, against the repository's tags, and findings name paths
// from the repository's root.
func TestComponentDirectory(t *testing.T) {
	r := newRepo(t)
	r.commit("two components", map[string]string{
		"svc/a/VERSION": "1.0.0\n", "svc/a/chart/Chart.yaml": chart("0.1.0", "1.0.0"), "svc/a/chart/values.yaml": "image: r/a:0.9.0\n",
		"svc/b/VERSION": "not a version\n",
	})
	rep := r.check(Options{})
	if rules(rep) != RuleVersionFile {
		t.Errorf("root: %+v", rep.Findings)
	}
	rep, err := Check(filepath.Join(r.dir, "svc", "a"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rules(rep) != RuleImageTag || rep.Findings[0].File != "svc/a/chart/values.yaml" || rep.Charts != 1 {
		t.Errorf("svc/a: charts %d findings %+v", rep.Charts, rep.Findings)
	}
}
