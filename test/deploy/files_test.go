package deploy

import (
	"bufio"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"

	"github.com/amp-edge/amp/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/amp-agent.yaml from the chart")

// TestChartsLint: Helm's linter finds nothing to warn about in either chart,
// with its default values or with an operator's.
func TestChartsLint(t *testing.T) {
	for _, tc := range []struct{ chart, values string }{
		{"amp-agent", ""},
		{"amp-agent", "state: {type: hostPath}\nserver: {ca: {configMap: amp-ca}}\nmetrics: {listen: ':9464'}\n"},
		{"amp-serve", ""},
		{"amp-serve", "replicas: 3\nstore: etcd://etcd:2379/amp/\ntls: {secretName: amp-tls}\n"},
	} {
		linter := lint.AllWithKubeVersion(chartDir(tc.chart), values(t, tc.values), "amp-test", kubeVersion(t))
		for _, m := range linter.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s with values %q: %s", tc.chart, tc.values, m)
			}
		}
	}
}

// manifestHeader opens deploy/kubernetes/amp-agent.yaml.
const manifestHeader = `# The AMP edge agent as a plain Kubernetes manifest: the Helm chart
# deploy/helm/amp-agent rendered with its default values, as release
# "amp-agent" in namespace "amp-agent" (test/deploy keeps the two equal;
# regenerate with: go test ./test/deploy -run TestAgentManifestIsTheChart -update).
# Before applying it, create the namespace and the token Secret, and set
# --server (and, for AMP's own CA, --server-ca) in the register step:
#   kubectl create namespace amp-agent
#   kubectl -n amp-agent create secret generic amp-agent-token --from-file=token=./token
#   kubectl apply -n amp-agent -f amp-agent.yaml
# docs/agent.md, "Running the agent".
`

// TestAgentManifestIsTheChart: the plain manifest is the chart with its
// defaults, so the two ways of installing the agent never drift apart.
func TestAgentManifestIsTheChart(t *testing.T) {
	manifest, err := render(t, "amp-agent", "amp-agent", "amp-agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := manifestHeader + strings.TrimLeft(manifest, "\n")
	path := filepath.Join(testenv.RepoRoot(), "deploy", "kubernetes", "amp-agent.yaml")
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s differs from the chart rendered with its defaults; run go test ./test/deploy -run TestAgentManifestIsTheChart -update\n--- chart:\n%s", path, want)
	}
	// It is a manifest Kubernetes reads: every object decodes.
	objs := decode(t, manifest)
	if _, ok := objs["Deployment/amp-agent"]; !ok {
		t.Errorf("manifest objects %v lack the agent's Deployment", keys(objs))
	}
}

// TestSystemdUnit: the agent's unit is valid for systemd, runs the agent
// as its own unprivileged user on the state directory systemd creates for
// it, and is hardened (systemd's own exposure score).
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze is not installed (scripts/test-deps.sh installs Debian's systemd): %v", err)
	}
	src := filepath.Join(testenv.RepoRoot(), "deploy", "systemd", "amp-agent.service")
	unit, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(unit)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	for k, want := range map[string]string{"User": "amp-agent", "StateDirectory": "amp-agent", "NoNewPrivileges": "yes",
		"ProtectSystem": "strict", "Restart": "always", "UMask": "0077"} {
		if got := strings.Join(settings[k], " "); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	exe := strings.Fields(strings.Join(settings["ExecStart"], " "))
	if len(exe) < 2 || exe[1] != "agent" || argAfter(exe, "--dir") != "/var/lib/"+strings.Join(settings["StateDirectory"], "") {
		t.Errorf("ExecStart %v: want amp agent --dir on the StateDirectory", exe)
	}

	// systemd-analyze verify checks the unit as systemd loads it,
	// including that ExecStart is an executable: the unit is checked with
	// the amp binary this tree builds in place of /usr/local/bin/amp.
	dir := t.TempDir()
	local := filepath.Join(dir, "amp-agent.service")
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/amp", testenv.Binary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", local).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// An exposure of 2.0 ("OK") at most, on systemd's scale of 10.
	if out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=20", local).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	}
}
