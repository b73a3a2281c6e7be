package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/fleet/gitsource"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/gitserver"
)

// hookPost sends a webhook as a git server does: no API credential, only
// the signature headers (name, value pairs).
func hookPost(t *testing.T, s *testenv.Server, repo, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL+"/fleet/hooks/"+repo, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// repoStatus reads a git-repo's operational state.
func repoStatus(t *testing.T, s *testenv.Server, repo string) map[string]any {
	t.Helper()
	var o struct {
		Status map[string]any `json:"status"`
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/fleet/v1.0.0/git-repo/"+repo, ""), &o); err != nil {
		t.Fatal(err)
	}
	return o.Status
}

// TestFleetGitWebhook drives the git webhook through the binary against a
// real git server (git http-backend) and real `git push`: a push signed
// as GitHub signs fetches the branch and the repo's state (REST and amp
// get) shows the pushed revision; a bad or missing signature is refused
// (401) and fetches nothing; a push to another branch fetches nothing; a
// GitLab token works too; a repo that disappears shows the error with
// the reason and keeps the revision last fetched; the metrics count it.
func TestFleetGitWebhook(t *testing.T) {
	gs := gitserver.Start(t)
	repoURL := gs.Create(t, "apps")
	first := gs.Push(t, "apps", "main", map[string]string{"charts/sd-core/Chart.yaml": "name: sd-core\nversion: 2.0.0\n"})

	s := testenv.Start(t, t.TempDir())
	s.Must(t, 201, "POST", "/fleet/v1.0.0", `{"git-repo": [{"repo-id": "aether-apps", "url": "`+repoURL+`", "webhook-secret": "apps-hook"}]}`)
	// A repo just declared is polled once at once; with a webhook, the
	// next poll is an hour away, so what follows is the webhooks' doing.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st := repoStatus(t, s, "aether-apps"); st["trigger"] == "poll" && st["revision"] == first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the repo just declared was not polled: %v", repoStatus(t, s, "aether-apps"))
		}
	}
	const secret = "a webhook secret"
	push := `{"ref": "refs/heads/main", "after": "…"}`
	github := func(body, key string) []string {
		return []string{"X-GitHub-Event", "push", "X-Hub-Signature-256", "sha256=" + gitsource.Sign([]byte(body), key)}
	}

	// No secret set yet: refused like a bad signature.
	if code, b := hookPost(t, s, "aether-apps", push, github(push, secret)...); code != 401 || !strings.Contains(b, "no webhook secret is set") {
		t.Fatalf("a webhook before the secret is set = %d %s, want 401", code, b)
	}
	// Set through the CLI, from stdin, as an operator would.
	set := exec.Command(testenv.Binary(t), "fleet", "secret", "set", "apps-hook")
	set.Env = s.Env()
	set.Stdin = strings.NewReader(secret + "\n")
	if out, err := set.CombinedOutput(); err != nil || !strings.Contains(string(out), "secret apps-hook set") || strings.Contains(string(out), secret) {
		t.Fatalf("amp fleet secret set: %v\n%s", err, out)
	}

	rev := gs.Push(t, "apps", "main", map[string]string{"charts/sd-core/Chart.yaml": "name: sd-core\nversion: 2.1.0\n"})
	code, b := hookPost(t, s, "aether-apps", push, github(push, secret)...)
	if code != 200 || !strings.Contains(b, `"revision":"`+rev+`"`) {
		t.Fatalf("a signed push = %d %s, want 200 with revision %s", code, b, rev)
	}
	st := repoStatus(t, s, "aether-apps")
	if st["revision"] != rev || fmt.Sprint(st["fetch-count"]) != "2" || st["trigger"] != "webhook" || st["fetched-at"] == nil || st["last-error"] != nil {
		t.Errorf("the repo's state after a push = %v, want revision %s, fetched by the webhook after the first poll", st, rev)
	}
	if code, out, errOut := amp(t, s, "get", "fleet/git-repo/aether-apps", "-o", "json"); code != 0 || !strings.Contains(out, rev) {
		t.Errorf("amp get fleet/git-repo/aether-apps: exit %d, lacks %s:\n%s%s", code, rev, out, errOut)
	}

	// Refused, and nothing fetched although the branch moved.
	next := gs.Push(t, "apps", "main", map[string]string{"values.yaml": "replicas: 2\n"})
	for name, hdr := range map[string][]string{
		"another secret":     github(push, "guess"),
		"another body":       github(`{"ref": "refs/heads/other"}`, secret),
		"no signature":       {"X-GitHub-Event", "push"},
		"a wrong GitLab key": {"X-Gitlab-Token", "guess"},
	} {
		if code, b := hookPost(t, s, "aether-apps", push, hdr...); code != 401 || !strings.Contains(b, `"status":401`) {
			t.Errorf("%s: %d %s, want 401", name, code, b)
		}
	}
	other := `{"ref": "refs/heads/dev"}`
	gs.Push(t, "apps", "dev", map[string]string{"x": "y"})
	if code, b := hookPost(t, s, "aether-apps", other, github(other, secret)...); code != 202 || !strings.Contains(b, `"fetched":false`) {
		t.Errorf("a push to another branch = %d %s, want 202, not fetched", code, b)
	}
	if code, b := hookPost(t, s, "no-such-repo", push, github(push, secret)...); code != 401 {
		t.Errorf("a webhook for an undeclared repo = %d %s, want 401", code, b)
	}
	if st := repoStatus(t, s, "aether-apps"); st["revision"] != rev || fmt.Sprint(st["fetch-count"]) != "2" {
		t.Errorf("refused and ignored webhooks fetched: %v", st)
	}

	// GitLab's token, then the repo disappears.
	if code, b := hookPost(t, s, "aether-apps", push, "X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", secret); code != 200 || !strings.Contains(b, next) {
		t.Errorf("a GitLab push = %d %s, want revision %s", code, b, next)
	}
	gs.Remove(t, "apps")
	if code, b := hookPost(t, s, "aether-apps", push, github(push, secret)...); code != 200 || !strings.Contains(b, `"fetched":false`) {
		t.Errorf("a push to a removed repo = %d %s, want 200, not fetched", code, b)
	}
	st = repoStatus(t, s, "aether-apps")
	if msg, _ := st["last-error"].(string); !strings.Contains(msg, "the repository does not exist") || st["revision"] != next || fmt.Sprint(st["fetch-count"]) != "4" {
		t.Errorf("the state of a repo that disappeared = %v, want the reason and revision %s kept", st, next)
	}

	metrics := string(s.Must(t, 200, "GET", "/metrics", ""))
	for _, want := range []string{
		`amp_fleet_webhooks_total{outcome="fetched"} 3`,
		`amp_fleet_webhooks_total{outcome="ignored"} 1`,
		`amp_fleet_webhooks_total{outcome="refused"} 6`,
		`amp_fleet_git_fetches_total{outcome="ok",repo="aether-apps",trigger="webhook"} 2`,
		`amp_fleet_git_fetches_total{outcome="error",repo="aether-apps",trigger="webhook"} 1`,
		`amp_fleet_git_fetches_total{outcome="ok",repo="aether-apps",trigger="poll"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Deleted (the CLI): the repo's webhooks are refused again.
	if code, out, errOut := amp(t, s, "fleet", "secret", "delete", "apps-hook"); code != 0 || !strings.Contains(out, "secret apps-hook deleted") {
		t.Errorf("amp fleet secret delete: exit %d\n%s%s", code, out, errOut)
	}
	if code, b := hookPost(t, s, "aether-apps", push, github(push, secret)...); code != 401 {
		t.Errorf("a webhook after its secret was deleted = %d %s, want 401", code, b)
	}
	if code, _, errOut := amp(t, s, "fleet", "secret", "delete", "apps-hook"); code == 0 || !strings.Contains(errOut, "no secret") || !strings.Contains(errOut, "apps-hook") {
		t.Errorf("deleting it twice: exit %d, %s", code, errOut)
	}

	// The secret is never answered back, nor in the audit trail.
	if strings.Contains(string(s.Must(t, 200, "GET", "/fleet/v1.0.0", "")), secret) {
		t.Error("the fleet configuration shows the webhook secret")
	}
	audit := s.Must(t, 200, "GET", "/audit?path="+url.QueryEscape("/fleet/"), "")
	if strings.Contains(string(audit), secret) {
		t.Error("the audit trail shows the webhook secret")
	}
	var recs []map[string]any
	if err := json.Unmarshal(audit, &recs); err != nil {
		t.Fatal(err)
	}
	var refused, fetched, secrets int
	for _, r := range recs {
		switch paths, _ := r["paths"].([]any); {
		case r["method"] == "POST" && r["principal"] == "" && r["outcome"] == "error" && len(paths) == 1:
			refused++ // the repo's path says which; the source address who
		case r["method"] == "POST" && r["principal"] == "" && r["outcome"] == "allowed":
			fetched++
		case r["method"] == "PUT" && r["principal"] == "admin" && len(paths) == 1 && paths[0] == "/fleet/secrets/apps-hook":
			secrets++
		}
	}
	// Refused: before the secret, 4 bad signatures, the undeclared repo, after the deletion.
	if refused != 7 || fetched < 3 || secrets != 1 {
		t.Errorf("audit: %d refused webhooks (want 7), %d answered (want at least 3), %d secrets set (want 1):\n%s", refused, fetched, secrets, audit)
	}
}

// TestFleetGitRestart: amp serve restarted on the same data dir shows each
// repo's revision and fetch count as before, fetches nothing for the
// restart itself (a webhook repo fetched a moment ago is next polled an
// hour later), and fetches the next signed push from its cache on disk:
// N pushes cost N fetches and one clone, across the restart.
func TestFleetGitRestart(t *testing.T) {
	gs := gitserver.Start(t)
	repoURL := gs.Create(t, "apps")
	rev := gs.Push(t, "apps", "main", map[string]string{"charts/a/Chart.yaml": "name: a\nversion: 1.0.0\n"})
	dataDir := t.TempDir()
	s := testenv.Start(t, dataDir)
	s.Must(t, 201, "POST", "/fleet/v1.0.0", `{"git-repo": [{"repo-id": "apps", "url": "`+repoURL+`", "webhook-secret": "apps-hook"}]}`)
	const secret = "a webhook secret"
	s.Must(t, 200, "PUT", "/fleet/secrets/apps-hook", `{"secret": "`+secret+`"}`)
	push := `{"ref": "refs/heads/main"}`
	signed := []string{"X-GitHub-Event", "push", "X-Hub-Signature-256", "sha256=" + gitsource.Sign([]byte(push), secret)}
	for deadline := time.Now().Add(30 * time.Second); repoStatus(t, s, "apps")["revision"] != rev; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the repo just declared was not polled: %v", repoStatus(t, s, "apps"))
		}
	}
	const pushes = 3
	for i := range pushes {
		rev = gs.Push(t, "apps", "main", map[string]string{"values.yaml": fmt.Sprintf("replicas: %d\n", i)})
		if code, b := hookPost(t, s, "apps", push, signed...); code != 200 || !strings.Contains(b, rev) {
			t.Fatalf("push %d: %d %s, want 200 with %s", i, code, b, rev)
		}
	}
	metrics := string(s.Must(t, 200, "GET", "/metrics", ""))
	if !strings.Contains(metrics, `amp_fleet_git_clones_total{repo="apps"} 1`) {
		t.Errorf("the first poll and %d pushes: /metrics lacks one clone:\n%s", pushes, grepLines(metrics, "amp_fleet_git"))
	}
	s.Stop()

	s = testenv.Start(t, dataDir)
	st := repoStatus(t, s, "apps")
	if st["revision"] != rev || fmt.Sprint(st["fetch-count"]) != fmt.Sprint(pushes+1) {
		t.Errorf("after the restart the repo shows %v, want revision %s and %d fetches", st, rev, pushes+1)
	}
	if code, out, errOut := amp(t, s, "fleet", "status"); code != 0 || !strings.Contains(out, "FETCHES") || !strings.Contains(grepLines(out, rev), fmt.Sprint(pushes+1)) {
		t.Errorf("amp fleet status after the restart: exit %d, want the repo with %s and %d fetches:\n%s%s", code, rev, pushes+1, out, errOut)
	}
	rev = gs.Push(t, "apps", "main", map[string]string{"values.yaml": "replicas: 9\n"})
	if code, b := hookPost(t, s, "apps", push, signed...); code != 200 || !strings.Contains(b, rev) {
		t.Fatalf("a push after the restart: %d %s, want 200 with %s", code, b, rev)
	}
	if st := repoStatus(t, s, "apps"); fmt.Sprint(st["fetch-count"]) != fmt.Sprint(pushes+2) {
		t.Errorf("after a push following the restart: %v, want %d fetches (none for the restart)", st, pushes+2)
	}
	metrics = string(s.Must(t, 200, "GET", "/metrics", ""))
	if strings.Contains(metrics, "amp_fleet_git_clones_total{") || strings.Contains(metrics, `trigger="poll"`) {
		t.Errorf("the restart cloned or polled the repo again:\n%s", grepLines(metrics, "amp_fleet_git"))
	}
}
