package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestVerifyCI runs `amp verify` as a CI step would: in a checkout made with
// the git CLI, reading its exit status and its output in each format.
func TestVerifyCI(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=CI", "-c", "user.email=ci@example.org", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	commit := func(msg string, files map[string]string) {
		t.Helper()
		for name, content := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		git("add", "-A")
		git("commit", "-q", "-m", msg)
	}
	verify := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(testenv.Binary(t), append([]string{"verify"}, args...)...)
		cmd.Dir = dir
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("amp verify %v: %v", args, err)
		}
		return code, out.String(), errb.String()
	}

	git("init", "-q", "-b", "main")
	commit("release 1.0.0", map[string]string{
		"VERSION":                       "1.0.0\n",
		"deploy/app/Chart.yaml":         "apiVersion: v2\nname: app\nversion: 0.1.0\nappVersion: \"1.0.0\"\n",
		"deploy/app/values.yaml":        "image:\n  repository: registry.example.org/app\n  tag: 1.0.0\n",
		"deploy/app/templates/dep.yaml": "kind: Deployment\n",
	})
	git("tag", "-a", "-m", "release", "v1.0.0")
	if code, out, errOut := verify(); code != 0 || !strings.HasPrefix(out, "amp verify: ok") {
		t.Fatalf("on the release tag: exit %d\n%s%s", code, out, errOut)
	}

	// The next development version; the chart's image moves with it but
	// the chart's version stays.
	commit("start 1.0.1", map[string]string{
		"VERSION":                "1.0.1-dev\n",
		"deploy/app/Chart.yaml":  "apiVersion: v2\nname: app\nversion: 0.1.0\nappVersion: \"1.0.1-dev\"\n",
		"deploy/app/values.yaml": "image:\n  repository: registry.example.org/app\n  tag: 1.0.0\n",
	})
	code, out, _ := verify()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "deploy/app/Chart.yaml:3: chart-version-bump: chart changed since v1.0.0 (appVersion 1.0.0 -> 1.0.1-dev)") ||
		!strings.HasPrefix(lines[1], `deploy/app/values.yaml:3: image-tag-version: image tag .image.tag is "1.0.0"`) ||
		!strings.HasPrefix(lines[2], "amp verify: FAILED, 2 finding(s)") {
		t.Fatalf("text: exit %d\n%s", code, out)
	}

	code, out, _ = verify("--format", "github")
	if code != 1 || !strings.HasPrefix(out, "::error file=deploy/app/Chart.yaml,line=3,title=amp verify%3A chart-version-bump::chart changed since v1.0.0") ||
		!strings.Contains(out, "\n::error file=deploy/app/values.yaml,line=3,title=amp verify%3A image-tag-version::") {
		t.Fatalf("github: exit %d\n%s", code, out)
	}

	code, out, _ = verify("-o", "json", ".")
	var rep struct {
		OK       bool   `json:"ok"`
		Version  string `json:"version"`
		Base     string `json:"base"`
		Findings []struct {
			File, Rule, Fix string
			Line            int
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.OK || rep.Version != "1.0.1-dev" || rep.Base != "v1.0.0" ||
		len(rep.Findings) != 2 || rep.Findings[0].Rule != "chart-version-bump" || rep.Findings[0].Fix == "" {
		t.Fatalf("json: exit %d err %v\n%s", code, err, out)
	}

	commit("fix", map[string]string{
		"deploy/app/Chart.yaml":  "apiVersion: v2\nname: app\nversion: 0.2.0\nappVersion: \"1.0.1-dev\"\n",
		"deploy/app/values.yaml": "image:\n  repository: registry.example.org/app\n  tag: 1.0.1-dev\n",
	})
	if code, out, _ := verify("--format", "github"); code != 0 || strings.Contains(out, "::error") || !strings.HasPrefix(out, "amp verify: ok") {
		t.Fatalf("fixed: exit %d\n%s", code, out)
	}

	// A release tag on a -dev commit fails.
	git("tag", "v1.0.1")
	if code, out, _ := verify(); code != 1 || !strings.Contains(out, "VERSION:1: dev-on-release-tag:") {
		t.Fatalf("-dev on a release tag: exit %d\n%s", code, out)
	}

	// Usage and repository errors exit 2, apart from failed checks.
	for _, args := range [][]string{{t.TempDir()}, {"--base", "no-such-rev"}, {"--format", "xml"}, {"-o", "yaml"}, {"-o", "json", "--format", "github"}, {"a", "b"}} {
		if code, out, errOut := verify(args...); code != 2 || !strings.HasPrefix(errOut, "error: ") || out != "" {
			t.Errorf("amp verify %v: exit %d, stdout %q, stderr %q; want 2 and an error", args, code, out, errOut)
		}
	}

	_, help, _ := verify("--help")
	for _, want := range []string{"--format github", "GitLab", "Jenkinsfile", "--base", "Exit status"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}
