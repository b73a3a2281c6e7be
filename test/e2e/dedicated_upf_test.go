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

// upfChart is a UPF chart as a dedicated UPF needs one: a Deployment and
// a Service named after the release (so two slices' UPFs live side by
// side), its image tag the value tag (the kubelet stand-in crash-loops
// "crashloop"), and, when the value claim is set, a claim no provisioner
// binds, so the release never becomes ready.
func upfChart(version, tag string) map[string]string {
	return map[string]string{
		"charts/upf/Chart.yaml":  "apiVersion: v2\nname: upf\nversion: " + version + "\n",
		"charts/upf/values.yaml": "tag: \"" + tag + "\"\nclaim: false\n",
		"charts/upf/templates/upf.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {slice: {{ .Values.dedicatedUpf.slice | quote }}}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
      - name: upf
        image: "example.org/upf:{{ .Values.tag }}"
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app: {{ .Release.Name }}}
  ports: [{name: pfcp, port: 8805, protocol: UDP}]
{{- if .Values.claim }}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .Release.Name }}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: none
  resources: {requests: {storage: 1Gi}}
{{- end }}
`,
	}
}

// sliceDoc is a slice as the REST API shows it.
type sliceDoc struct {
	UPF          string `json:"upf"`
	DedicatedUPF struct {
		Bundle string `json:"bundle"`
		Status struct {
			State    string `json:"state"`
			Message  string `json:"message"`
			Workflow string `json:"workflow"`
			Cluster  string `json:"cluster"`
			Release  string `json:"release"`
		} `json:"status"`
	} `json:"dedicated-upf"`
}

func getSlice(t *testing.T, s *testenv.Server, slice string) sliceDoc {
	t.Helper()
	var d sliceDoc
	code, body, _, err := s.Do(context.Background(), "GET", "/aether/v2.1.x/acme/site/s1/slice/"+slice, "")
	if err != nil || code != 200 || json.Unmarshal(body, &d) != nil {
		t.Fatalf("GET slice %s: %d %s %v", slice, code, body, err)
	}
	return d
}

// TestSliceDedicatedUPF: the book's runtime-control → lifecycle example
// (chapter 5.4) through the binaries: a slice asks for a dedicated UPF;
// one workflow deploys the UPF bundle's chart to the cluster of the
// slice's site (a real kube-apiserver, a real amp agent applying it with
// Helm), waits until the agent reports the release ready, then creates
// the UPF object and points the slice's upf at it in one transaction
// attributed to the workflow. A chart whose pods crash-loop fails the
// workflow: the release is uninstalled, the slice unchanged, the reason
// in its status. A release that never gets ready survives AMP's kill -9
// (the run resumes) and is cleaned up when the run is cancelled. A ready
// UPF whose slice withdraws the request is removed, upf and release.
func TestSliceDedicatedUPF(t *testing.T) {
	git := gitserver.Start(t)
	url := git.Create(t, "apps")
	good := git.Push(t, "apps", "main", upfChart("0.1.0", "1.0"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "1s")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme", `{"site":[{"site-id":"s1",
	  "imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"},
	  "slice":[{"slice-id":"video","sst":"1","sd":"000001","default-behavior":"DENY-ALL"},
	           {"slice-id":"iot","sst":"1","sd":"000002","default-behavior":"DENY-ALL"},
	           {"slice-id":"cam","sst":"1","sd":"000003","default-behavior":"DENY-ALL"}]}]}`)
	s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"organization":[{"org-id":"acme","tenant":"acme"}],
	  "site":[{"site-id":"lab","organization":"acme","tenant":"acme","aether-site":["s1"]}],
	  "cluster":[{"cluster-id":"edge-1","site":"lab"}]}`)
	site := &edgeSite{cluster: "edge-1", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "edge-1")}
	site.kube.StartControllers(t)
	kubelet.Start(t, site.client(), "node-1")
	site.enrol(t, s)
	site.agent = startAgent(t, "--dir", site.dir, "--kubeconfig", site.kube.Kubeconfig, "--interval", "2s")
	s.Must(t, 201, "POST", "/fleet/v1.0.0", fmt.Sprintf(`{
	  "git-repo": [{"repo-id": "apps", "url": %q}],
	  "bundle": [{"bundle-id": "upf", "git": {"repo": "apps", "path": "charts/upf"}, "namespace": "upf", "allowed-for-dedicated-upf": ["acme"]},
	             {"bundle-id": "upf-pvc", "git": {"repo": "apps", "path": "charts/upf"}, "namespace": "upf", "allowed-for-dedicated-upf": ["acme"], "values": "claim: true\n"}]}`, url))

	deployment := func(name string) (string, bool) {
		d, err := site.client().AppsV1().Deployments("upf").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return "", false
		}
		return d.Labels["slice"], true
	}
	status := func(slice, state string) func() bool {
		return func() bool { return getSlice(t, s, slice).DedicatedUPF.Status.State == state }
	}

	// A slice asks: release ready → upf set.
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/slice/video", `{"dedicated-upf":{"bundle":"upf","version":"`+good+`"}}`)
	waitWithin(t, 3*time.Minute, status("video", "ready"), "slice video's dedicated UPF ready")
	v := getSlice(t, s, "video")
	rel := v.DedicatedUPF.Status.Release
	if v.UPF == "" || v.UPF != rel || v.DedicatedUPF.Status.Cluster != "edge-1" {
		t.Fatalf("slice video: upf %q, status %+v; want upf = the release", v.UPF, v.DedicatedUPF.Status)
	}
	if lbl, ok := deployment(rel); !ok || lbl != "video" {
		t.Fatalf("the release's Deployment %s at the site: found %v, slice label %q", rel, ok, lbl)
	}
	var upf struct {
		Address string `json:"address"`
		Port    int    `json:"port"`
	}
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/aether/v2.1.x/acme/site/s1/upf/"+rel, ""), &upf); err != nil {
		t.Fatal(err)
	}
	if upf.Address != rel+".upf.svc.cluster.local" || upf.Port != 8805 {
		t.Errorf("UPF %s: %+v, want the release's Service on 8805", rel, upf)
	}
	run := v.DedicatedUPF.Status.Workflow
	code, out, errOut := amp(t, s, "workflow", "show", run)
	if code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "bind") {
		t.Errorf("amp workflow show %s: exit %d\n%s%s", run, code, out, errOut)
	}
	// The slice's upf was committed by the workflow (AMP's history).
	var txns []struct {
		Username string `json:"username"`
		Source   string `json:"source"`
		Message  string `json:"message"`
	}
	_ = json.Unmarshal(s.Must(t, 200, "GET", "/amp/transactions?limit=1", ""), &txns)
	if len(txns) != 1 || txns[0].Username != "workflow:"+run || txns[0].Source != "workflow" || !strings.Contains(txns[0].Message, "acme/s1/video") {
		t.Errorf("the newest transaction should be the workflow's binding of slice video: %+v", txns)
	}

	// A faulty chart: the workflow fails, the release is removed, the
	// slice unchanged, the reason shown.
	faulty := git.Push(t, "apps", "main", upfChart("0.2.0", "crashloop"))
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/slice/iot", `{"dedicated-upf":{"bundle":"upf","version":"`+faulty+`"}}`)
	waitWithin(t, 3*time.Minute, status("iot", "failed"), "slice iot's dedicated UPF failed")
	iot := getSlice(t, s, "iot")
	if iot.UPF != "" || !strings.Contains(iot.DedicatedUPF.Status.Message, "crash-looping") || !strings.Contains(iot.DedicatedUPF.Status.Message, "uninstalled") {
		t.Errorf("slice iot after the failure: upf %q, status %+v", iot.UPF, iot.DedicatedUPF.Status)
	}
	if _, ok := deployment(iot.DedicatedUPF.Status.Release); ok {
		t.Errorf("the failed release's Deployment is still at the site")
	}
	s.Must(t, 404, "GET", "/fleet/v1.0.0/bundle/"+iot.DedicatedUPF.Status.Release, "")
	code, out, _ = amp(t, s, "workflow", "show", iot.DedicatedUPF.Status.Workflow)
	if code != 0 || !strings.Contains(out, "failed") || !strings.Contains(out, "undo") {
		t.Errorf("amp workflow show (failed): exit %d\n%s", code, out)
	}

	// A release that never gets ready; kill -9 mid-workflow resumes it;
	// a cancel removes the release.
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/slice/cam", `{"dedicated-upf":{"bundle":"upf-pvc","version":"`+good+`"}}`)
	var camRel string
	waitWithin(t, 3*time.Minute, func() bool {
		c := getSlice(t, s, "cam").DedicatedUPF.Status
		camRel = c.Release
		_, deployed := deployment(c.Release)
		return c.State == "pending" && c.Release != "" && deployed
	}, "slice cam's release installed at the site, its run waiting")
	camRun := getSlice(t, s, "cam").DedicatedUPF.Status.Workflow
	s.Kill()
	s = testenv.Start(t, dir, "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "1s")
	code, out, errOut = amp(t, s, "workflow", "show", camRun)
	if code != 0 || !strings.Contains(out, "state: running") || !strings.Contains(out, "step: ready") {
		t.Fatalf("after kill -9 the run should resume at its step: exit %d\n%s%s", code, out, errOut)
	}
	waitWithin(t, time.Minute, status("cam", "pending"), "the resumed run showing the slice pending again")
	if code, out, errOut := amp(t, s, "workflow", "cancel", camRun); code != 0 {
		t.Fatalf("amp workflow cancel: exit %d %s%s", code, out, errOut)
	}
	waitWithin(t, time.Minute, status("cam", "cancelled"), "slice cam cancelled")
	s.Must(t, 404, "GET", "/fleet/v1.0.0/bundle/"+camRel, "")
	// The site's agent is waiting for the release to be ready (Helm's
	// --wait rules, up to the release's 5-minute timeout): the desired
	// state without the release interrupts that wait, so the release goes
	// well before the wait would have ended.
	waitWithin(t, 2*time.Minute, func() bool { _, ok := deployment(camRel); return !ok }, "slice cam's release uninstalled at the site, its readiness wait interrupted")
	if c := getSlice(t, s, "cam"); c.UPF != "" {
		t.Errorf("slice cam's upf %q after the cancel", c.UPF)
	}
	if v := getSlice(t, s, "video"); v.UPF != rel || v.DedicatedUPF.Status.State != "ready" {
		t.Errorf("slice video after the restart: %+v", v)
	}

	// Withdrawn: the UPF object, the slice's upf and the release go.
	s.Must(t, 200, "DELETE", "/aether/v2.1.x/acme/site/s1/slice/video/dedicated-upf", "")
	waitWithin(t, 3*time.Minute, func() bool { _, ok := deployment(rel); return !ok && status("video", "removed")() },
		"slice video's UPF removed after the request was withdrawn")
	if v := getSlice(t, s, "video"); v.UPF != "" {
		t.Errorf("slice video's upf %q after the withdrawal", v.UPF)
	}
	s.Must(t, 404, "GET", "/aether/v2.1.x/acme/site/s1/upf/"+rel, "")
}

// TestDedicatedUPFAllowListREST: through REST, as acme's enterprise
// admin: a slice's request for a bundle the operator has not allowed acme
// is refused (400) naming the request's path and the rule, and changes
// nothing; a request for an allowed bundle is taken; the admin cannot
// change the allow-list (403), which stays as the operator left it.
func TestDedicatedUPFAllowListREST(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--adapters", "none")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme", `{"site":[{"site-id":"s1",
	  "imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"},
	  "slice":[{"slice-id":"video","sst":"1","sd":"000001","default-behavior":"DENY-ALL"}]}]}`)
	s.Must(t, 201, "POST", "/fleet/v1.0.0", `{"bundle": [
	  {"bundle-id": "upf", "chart": {"repository": "https://charts.example.com", "name": "bess-upf", "version": "1.4.2"}, "allowed-for-dedicated-upf": ["acme"]},
	  {"bundle-id": "upf-globex", "chart": {"repository": "https://charts.example.com", "name": "bess-upf", "version": "1.4.2"}, "allowed-for-dedicated-upf": ["globex"]}]}`)
	tok, _ := apiToken(t, s, "acme-boss", "enterprise-admin", "acme")
	as := []string{"Authorization", "Bearer " + tok}
	slice := "/aether/v2.1.x/acme/site/s1/slice/video"

	body := string(s.Must(t, 400, "PATCH", slice, `{"dedicated-upf":{"bundle":"upf-globex"}}`, as...))
	if !strings.Contains(body, slice+"/dedicated-upf/bundle") || !strings.Contains(body, `bundle \"upf-globex\" is not allowed as a dedicated UPF of enterprise acme`) ||
		!strings.Contains(body, "/fleet/v1.0.0/bundle/upf-globex/allowed-for-dedicated-upf") {
		t.Fatalf("a bundle not allowed: %s", body)
	}
	if got := getSlice(t, s, "video"); got.DedicatedUPF.Bundle != "" {
		t.Fatalf("a refused request changed the slice: %+v", got.DedicatedUPF)
	}
	s.Must(t, 200, "PATCH", slice, `{"dedicated-upf":{"bundle":"upf"}}`, as...)
	if got := getSlice(t, s, "video"); got.DedicatedUPF.Bundle != "upf" {
		t.Fatalf("an allowed request: %+v", got.DedicatedUPF)
	}

	s.Must(t, 403, "PATCH", "/fleet/v1.0.0/bundle/upf-globex", `{"allowed-for-dedicated-upf":["acme"]}`, as...)
	s.Must(t, 403, "PUT", "/fleet/v1.0.0/bundle/upf-globex/allowed-for-dedicated-upf", `["acme"]`, as...)
	var b map[string]any
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/fleet/v1.0.0/bundle/upf-globex", ""), &b); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(b["allowed-for-dedicated-upf"]); got != "[globex]" {
		t.Fatalf("the allow-list after the admin's attempts: %s", got)
	}
}
