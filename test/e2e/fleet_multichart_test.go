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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/gitserver"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
	"github.com/amp-edge/amp/internal/testenv/kubelet"
)

// partChart is chart name in directory core/<name> of a bundle of
// several: one Deployment named after its release, its image tag the
// value tag.
func partChart(name, version string) map[string]string {
	return map[string]string{
		"core/" + name + "/Chart.yaml":  "apiVersion: v2\nname: " + name + "\nversion: " + version + "\n",
		"core/" + name + "/values.yaml": "tag: \"0\"\n",
		"core/" + name + "/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
      - name: main
        image: "example.org/{{ .Chart.Name }}:{{ .Values.tag }}"
`,
	}
}

// TestFleetMultiChartEndToEnd: a bundle whose path holds two charts
// (core/db and core/web), pushed to a repo served by git http-backend and
// rolled out to a site (a real kube-apiserver with
// kube-controller-manager and the kubelet stand-in, its own amp agent):
// each chart becomes its own Helm release, core-db and core-web, with its
// part of the bundle's values, and the deployment is ready once both
// are. Then web is removed from the path and the next commit rolled out:
// core-web is uninstalled at the site, core-db upgraded and still
// running, and the deployment ready at the new commit. Release names that
// would clash are refused and shown: a bundle named core-db (core's
// chart db's release) is refused at its id; of a bundle edge-db and a
// bundle edge whose chart db is its release, rolled out together, the
// version prepared second fails, its rollout halted with the reason
// naming both bundles, the release and the cluster.
func TestFleetMultiChartEndToEnd(t *testing.T) {
	git := gitserver.Start(t)
	url := git.Create(t, "apps")
	files := partChart("db", "0.1.0")
	for k, v := range partChart("web", "0.1.0") {
		files[k] = v
	}
	two := git.Push(t, "apps", "main", files)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	s := testenv.Start(t, t.TempDir(), "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "1s")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"cluster": [{"cluster-id": "edge-1", "label": [{"name": "env", "value": "lab"}]}]}`)
	site := &edgeSite{cluster: "edge-1", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "edge-1")}
	site.kube.StartControllers(t)
	kubelet.Start(t, site.client(), "node-1")
	site.enrol(t, s)
	site.agent = startAgent(t, "--dir", site.dir, "--kubeconfig", site.kube.Kubeconfig, "--interval", "2s")
	s.Must(t, 201, "POST", "/fleet/v1.0.0", fmt.Sprintf(`{
	  "git-repo": [{"repo-id": "apps", "url": %q}],
	  "bundle": [{"bundle-id": "core", "git": {"repo": "apps", "path": "core"}, "namespace": "core",
	              "values": "db:\n  tag: db-1\nweb:\n  tag: web-1\n"}],
	  "cluster-group": [{"group-id": "lab", "match-label": [{"name": "env", "value": "lab"}]}],
	  "rollout": [{"rollout-id": "core-r", "bundle": "core", "version": %q, "stage": [{"group": "lab", "order": 1, "bake-time": 0}]}]}`, url, two))

	deployment := func(bundle string) map[string]any {
		var b struct {
			Deployment []map[string]any `json:"deployment"`
		}
		code, body, _, err := s.Do(context.Background(), "GET", "/fleet/v1.0.0/bundle/"+bundle, "")
		if err != nil || code != 200 || json.Unmarshal(body, &b) != nil {
			t.Fatalf("GET bundle %s: %d %s %v", bundle, code, body, err)
		}
		for _, d := range b.Deployment {
			if d["cluster"] == "edge-1" {
				return d
			}
		}
		return nil
	}
	readyAt := func(version string) func() bool {
		return func() bool {
			d := deployment("core")
			return d != nil && d["staged-version"] == version && d["active-version"] == version && d["state"] == "ready"
		}
	}
	image := func(name string) (string, error) {
		d, err := site.client().AppsV1().Deployments("core").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		return d.Spec.Template.Spec.Containers[0].Image, nil
	}
	waitWithin(t, 4*time.Minute, readyAt(two), "both charts' releases installed and ready at edge-1")
	for name, want := range map[string]string{"core-db": "example.org/db:db-1", "core-web": "example.org/web:web-1"} {
		if got, err := image(name); got != want {
			t.Fatalf("%s runs %q (%v), want %s", name, got, err, want)
		}
	}

	// web removed from the path; the rollout moves to that commit.
	one := git.Delete(t, "apps", "main", "core/web")
	if code, b, _, err := s.Do(context.Background(), "PATCH", "/fleet/v1.0.0/rollout/core-r", `{"version":"`+one+`"}`); err != nil || code/100 != 2 {
		t.Fatalf("PATCH the rollout's version: %d %s %v", code, b, err)
	}
	waitWithin(t, 4*time.Minute, readyAt(one), "core-db ready at the commit without web")
	waitWithin(t, time.Minute, func() bool {
		_, err := image("core-web")
		return apierrors.IsNotFound(err)
	}, "core-web uninstalled at edge-1")
	if got, err := image("core-db"); got != "example.org/db:db-1" {
		t.Fatalf("core-db after web's removal: %q %v", got, err)
	}
	secrets, err := site.client().CoreV1().Secrets("core").List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=core-web"})
	if err != nil || len(secrets.Items) != 0 {
		t.Fatalf("core-web's Helm release is still stored: %d %v", len(secrets.Items), err)
	}

	// Release names that clash.
	code, body, _, err := s.Do(context.Background(), "POST", "/fleet/v1.0.0", `{"bundle": [{"bundle-id": "core-db", "git": {"repo": "apps", "path": "core/db"}}]}`)
	if err != nil || code != 400 || !strings.Contains(string(body), "/fleet/v1.0.0/bundle/core-db/bundle-id") ||
		!strings.Contains(string(body), `the Helm release name \"core-db\" of bundle \"core\"'s chart db`) {
		t.Fatalf("a bundle named as core's chart db's release: %d %s %v", code, body, err)
	}
	s.Must(t, 201, "POST", "/fleet/v1.0.0", fmt.Sprintf(`{
	  "bundle": [{"bundle-id": "edge", "git": {"repo": "apps", "path": "core"}},
	             {"bundle-id": "edge-db", "git": {"repo": "apps", "path": "core/db"}}],
	  "rollout": [{"rollout-id": "edge-r", "bundle": "edge", "version": %q, "stage": [{"group": "lab", "order": 1, "bake-time": 0}]},
	              {"rollout-id": "edge-db-r", "bundle": "edge-db", "version": %q, "stage": [{"group": "lab", "order": 1, "bake-time": 0}]}]}`, one, one))
	// Whichever of the two is prepared second fails: its rollout halts
	// with the reason, naming the release, both bundles and the cluster.
	var seen []rolloutStatusDoc
	defer func() {
		if t.Failed() {
			t.Logf("the rollouts of edge and edge-db: %+v; their deployments: %v %v", seen, deployment("edge"), deployment("edge-db"))
		}
	}()
	waitWithin(t, 2*time.Minute, func() bool {
		seen = []rolloutStatusDoc{rolloutStatus(t, s, "edge-r"), rolloutStatus(t, s, "edge-db-r")}
		for i, mine := range []string{"edge", "edge-db"} {
			other := []string{"edge-db", "edge"}[i]
			if strings.Contains(seen[i].Halted, `release "edge-db" of bundle "`+mine+`" is also a release of bundle "`+other+`", and both bundles reach cluster edge-1`) {
				return seen[1-i].Halted == ""
			}
		}
		return false
	}, "edge's or edge-db's rollout halted, naming the clash")
}
