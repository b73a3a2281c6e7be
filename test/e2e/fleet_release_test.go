package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/gitserver"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
	"github.com/amp-edge/amp/internal/testenv/kubelet"
)

// webChart is a chart of one Deployment whose image tag is the value
// tag: the kubelet stand-in runs it, or crash-loops it for "crashloop".
func webChart(version, tag string) map[string]string {
	return map[string]string{
		"charts/web/Chart.yaml":  "apiVersion: v2\nname: web\nversion: " + version + "\n",
		"charts/web/values.yaml": "tag: \"" + tag + "\"\n",
		"charts/web/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: "example.org/web:{{ .Values.tag }}"
`,
	}
}

// bundleDeployment is the deployment of bundle web on cluster as the
// REST API shows it.
func bundleDeployment(t *testing.T, s *testenv.Server, cluster string) map[string]any {
	t.Helper()
	var b struct {
		Deployment []map[string]any `json:"deployment"`
	}
	code, body, _, err := s.Do(context.Background(), "GET", "/fleet/v1.0.0/bundle/web", "")
	if err != nil || code != 200 || json.Unmarshal(body, &b) != nil {
		t.Fatalf("GET bundle web: %d %s %v", code, body, err)
	}
	for _, d := range b.Deployment {
		if d["cluster"] == cluster {
			return d
		}
	}
	return nil
}

// TestFleetReleaseEndToEnd: the whole path from a chart in a config repo
// to Helm releases at two sites, through the binaries. A chart pushed to
// a repo served by git http-backend; a bundle of its path; two sites,
// each a real kube-apiserver with kube-controller-manager and the kubelet
// stand-in, each with its own amp agent; a rollout staging → production
// with a manual approval: the release is installed and ready at staging,
// production waits for `amp fleet approve`, then gets it too. A faulty
// version (its pods crash-loop) is halted at staging and rolled back by
// itself, production never touched, the reason in `amp fleet status`.
func TestFleetReleaseEndToEnd(t *testing.T) {
	git := gitserver.Start(t)
	url := git.Create(t, "apps")
	good := git.Push(t, "apps", "main", webChart("0.1.0", "1.0"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	s := testenv.Start(t, t.TempDir(), "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "1s")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"cluster": [
	  {"cluster-id": "staging-1", "label": [{"name": "env", "value": "staging"}]},
	  {"cluster-id": "prod-1", "label": [{"name": "env", "value": "production"}]}]}`)
	sites := map[string]*edgeSite{}
	for _, c := range []string{"staging-1", "prod-1"} {
		st := &edgeSite{cluster: c, kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), c)}
		st.kube.StartControllers(t)
		kubelet.Start(t, st.client(), "node-1")
		st.enrol(t, s)
		st.agent = startAgent(t, "--dir", st.dir, "--kubeconfig", st.kube.Kubeconfig, "--interval", "2s")
		sites[c] = st
	}
	s.Must(t, 201, "POST", "/fleet/v1.0.0", fmt.Sprintf(`{
	  "git-repo": [{"repo-id": "apps", "url": %q}],
	  "bundle": [{"bundle-id": "web", "git": {"repo": "apps", "path": "charts/web"}, "namespace": "apps"}],
	  "cluster-group": [{"group-id": "staging", "match-label": [{"name": "env", "value": "staging"}]},
	                    {"group-id": "production", "match-label": [{"name": "env", "value": "production"}]}],
	  "rollout": [{"rollout-id": "web-r", "bundle": "web", "version": %q, "stage": [
	    {"group": "staging", "order": 1, "bake-time": 0, "manual-approval": true},
	    {"group": "production", "order": 2, "bake-time": 0}]}]}`, url, good))

	readyAt := func(cluster, version string) func() bool {
		return func() bool {
			d := bundleDeployment(t, s, cluster)
			return d != nil && d["staged-version"] == version && d["active-version"] == version && d["state"] == "ready"
		}
	}
	image := func(cluster string) string {
		d, err := sites[cluster].client().AppsV1().Deployments("apps").Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}
	waitWithin(t, 3*time.Minute, readyAt("staging-1", good), "the release installed and ready at staging-1")
	if got := image("staging-1"); got != "example.org/web:1.0" {
		t.Fatalf("staging-1 runs %q", got)
	}
	st := waitRollout(t, s, "web-r", "the approval gate", func(st rolloutStatusDoc) bool { return strings.Contains(st.WaitingOn, "approv") })
	if d := bundleDeployment(t, s, "prod-1"); d != nil && d["staged-version"] != nil || image("prod-1") != "" {
		t.Fatalf("production moved before the approval: %v (rollout %+v)", d, st)
	}
	if code, out, errOut := amp(t, s, "fleet", "approve", "web-r"); code != 0 {
		t.Fatalf("amp fleet approve: %d %s %s", code, out, errOut)
	}
	waitWithin(t, 3*time.Minute, readyAt("prod-1", good), "the release installed and ready at prod-1 after the approval")
	waitRollout(t, s, "web-r", "the rollout done", func(st rolloutStatusDoc) bool { return st.Phase == "done" })

	// A faulty version: its pods crash-loop at staging.
	faulty := git.Push(t, "apps", "main", webChart("0.2.0", "crashloop"))
	code, b, _, err := s.Do(context.Background(), "PATCH", "/fleet/v1.0.0/rollout/web-r", `{"version":"`+faulty+`"}`)
	if err != nil || code/100 != 2 {
		t.Fatalf("PATCH the rollout's version: %d %s %v", code, b, err)
	}
	st = waitRollout(t, s, "web-r", "the faulty version rolled back", func(st rolloutStatusDoc) bool { return st.Phase == "rolled-back" })
	if !strings.Contains(st.Halted, "staging-1") || !strings.Contains(st.Halted, "crash-looping") {
		t.Errorf("halted-reason %q should name the cluster and the site's reason", st.Halted)
	}
	waitWithin(t, 3*time.Minute, readyAt("staging-1", good), "staging-1 back at the good version, ready")
	if got := image("staging-1"); got != "example.org/web:1.0" {
		t.Errorf("staging-1 runs %q after the rollback", got)
	}
	if d := bundleDeployment(t, s, "prod-1"); d["staged-version"] != good || image("prod-1") != "example.org/web:1.0" {
		t.Errorf("production was touched by the faulty version: %v, %s", d, image("prod-1"))
	}
	code, out, errOut := amp(t, s, "fleet", "status", "web")
	if code != 0 || !regexpLine(out, `staging-1\s+`+good+`\s+`+good+`\s+ready`) || !strings.Contains(out, "crash-looping") {
		t.Errorf("amp fleet status web: exit %d\n%s%s", code, out, errOut)
	}

	// A chart that does not render: AMP refuses it before any site sees
	// it, and the rollout halts with the reason.
	broken := webChart("0.3.0", "1.0")
	broken["charts/web/templates/deployment.yaml"] += "  {{ .Values.tag \n"
	bad := git.Push(t, "apps", "main", broken)
	code, b, _, err = s.Do(context.Background(), "PATCH", "/fleet/v1.0.0/rollout/web-r", `{"version":"`+bad+`"}`)
	if err != nil || code/100 != 2 {
		t.Fatalf("PATCH the rollout's version: %d %s %v", code, b, err)
	}
	st = waitRollout(t, s, "web-r", "the unrenderable version halted", func(st rolloutStatusDoc) bool {
		return st.Phase == "rolled-back" && strings.Contains(st.Halted, bad)
	})
	if !strings.Contains(st.Halted, "cannot be released") || !strings.Contains(st.Halted, "does not render") {
		t.Errorf("halted-reason %q should say the chart does not render", st.Halted)
	}
	// As long as the other waits: the whole suite runs beside this test in CI.
	if !holdsWithin(3*time.Minute, readyAt("staging-1", good)) {
		t.Fatalf("staging-1 is not back at the good version, ready: deployment %v", bundleDeployment(t, s, "staging-1"))
	}
	if got := image("staging-1"); got != "example.org/web:1.0" {
		t.Errorf("staging-1 runs %q", got)
	}
}

// holdsWithin polls cond until it holds or d passes.
func holdsWithin(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
