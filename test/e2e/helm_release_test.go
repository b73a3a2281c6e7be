package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

// bulkChart packages a chart of count ConfigMaps whose data says the
// version, into the agent's chart cache (as the link would have left it),
// and returns its reference. Many objects make an upgrade long enough to
// kill the agent in the middle of it.
func bulkChart(t *testing.T, dir, version string, count int) wire.Chart {
	t.Helper()
	tmpl := `{{- range $i := until (int .Values.count) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: bulk-{{ $i }}
data:
  version: {{ $.Chart.Version | quote }}
{{- end }}
`
	ch := &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: "v2", Name: "bulk", Version: version},
		Templates: []*chart.File{{Name: "templates/configmaps.yaml", Data: []byte(tmpl)}},
		Values:    map[string]any{"count": count},
	}
	path, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	hexSum := hex.EncodeToString(sum[:])
	if err := os.MkdirAll(filepath.Join(dir, "charts"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "charts", "sha256-"+hexSum+".tgz"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return wire.Chart{Name: "bulk", Version: version, Digest: "sha256:" + hexSum}
}

func saveRelease(t *testing.T, d *state.Dir, index uint64, spec wire.HelmRelease) {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	objs := []wire.Object{{Kind: wire.KindHelmRelease, Name: "bulk", Spec: raw, Digest: wire.ObjectDigest(raw), Index: index}}
	if err := d.SaveDesired(&wire.Desired{Cluster: "ace-x", Index: index, Digest: wire.StateDigest(objs), Full: true, Objects: objs}); err != nil {
		t.Fatal(err)
	}
}

// releaseStatus is the status Helm's storage gives revision rev of the
// release (its Secret's label), "" when there is no such revision.
func releaseStatus(kc kubernetes.Interface, ns, name string, rev int) string {
	s, err := kc.CoreV1().Secrets(ns).Get(context.Background(), fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, rev), metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return s.Labels["status"]
}

func journalled(d *state.Dir, kind, name string) (wire.ObjectStatus, bool) {
	j, err := d.Journal()
	if err != nil {
		return wire.ObjectStatus{}, false
	}
	for _, o := range j.Objects {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return wire.ObjectStatus{}, false
}

// TestAgentHelmKillMidUpgrade drives the real `amp agent` with the Helm
// applier against a real kube-apiserver: it installs a release from its
// cached desired state and chart cache (AMP unreachable: the site goes on
// alone), is killed -9 in the middle of an upgrade — Helm's storage holds
// the new revision pending-upgrade and part of the objects are changed —
// and, restarted, recovers the release and completes the upgrade; the
// journal (what the next check-in reports) says applied, ready, the new
// version, and what was recovered.
func TestAgentHelmKillMidUpgrade(t *testing.T) {
	kenv := kubeenv.Start(t)
	kc := kenv.Client()
	dir := filepath.Join(t.TempDir(), "amp-agent")
	d, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	enrolCutOff(t, d)
	const count = 40
	v1, v2 := bulkChart(t, dir, "1.0.0", count), bulkChart(t, dir, "2.0.0", count)
	spec := wire.HelmRelease{Namespace: "apps", Bundle: "bulk", Version: "1", Chart: v1, Values: map[string]any{"count": count}}
	saveRelease(t, d, 7, spec)
	args := []string{"--dir", dir, "--kubeconfig", kenv.Kubeconfig, "--interval", "1s", "--log-level", "debug"}

	p := startAgent(t, args...)
	waitWithin(t, 3*time.Minute, func() bool {
		st, ok := journalled(d, wire.KindHelmRelease, "bulk")
		return ok && st.State == wire.StateApplied && st.Version == "1" && st.Ready != nil && *st.Ready
	}, "release bulk installed at version 1, ready")
	p.kill()

	spec.Version, spec.Chart = "2", v2
	saveRelease(t, d, 8, spec)
	p = startAgent(t, args...)
	waitWithin(t, 3*time.Minute, func() bool { return releaseStatus(kc, "apps", "bulk", 2) == "pending-upgrade" }, "the upgrade under way")
	p.kill()
	if s := releaseStatus(kc, "apps", "bulk", 2); s != "pending-upgrade" {
		t.Fatalf("the agent was killed after the upgrade ended (revision 2 is %q): nothing to recover", s)
	}
	changed := 0
	for i := 0; i < count; i++ {
		cm, err := kc.CoreV1().ConfigMaps("apps").Get(context.Background(), fmt.Sprintf("bulk-%d", i), metav1.GetOptions{})
		if err == nil && cm.Data["version"] == "2.0.0" {
			changed++
		}
	}
	t.Logf("killed mid-upgrade: %d of %d ConfigMaps changed", changed, count)

	p = startAgent(t, append(args, "--metrics-listen", "127.0.0.1:0")...)
	waitWithin(t, 3*time.Minute, func() bool {
		st, ok := journalled(d, wire.KindHelmRelease, "bulk")
		return ok && st.State == wire.StateApplied && st.Version == "2" && st.Ready != nil && *st.Ready
	}, "release bulk recovered and upgraded to version 2")
	resp, err := http.Get(p.metricsURL(t))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`amp_agent_helm_operations_total{op="upgrade",result="ok"} 1`, `amp_agent_helm_operation_duration_seconds_count{op="upgrade"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("the agent's metrics lack %s", want)
		}
	}
	st, _ := journalled(d, wire.KindHelmRelease, "bulk")
	if !strings.Contains(st.Message, "recovered revision 2 left pending-upgrade") || !strings.Contains(st.Message, "upgraded version 1 -> 2") {
		t.Errorf("journalled message %q", st.Message)
	}
	for i := 0; i < count; i++ {
		cm, err := kc.CoreV1().ConfigMaps("apps").Get(context.Background(), fmt.Sprintf("bulk-%d", i), metav1.GetOptions{})
		if err != nil || cm.Data["version"] != "2.0.0" {
			t.Fatalf("configmap bulk-%d after recovery: %v %v", i, cm.Data, err)
		}
	}
	if s := releaseStatus(kc, "apps", "bulk", 2); s != "failed" {
		t.Errorf("the interrupted revision is %q, want failed", s)
	}
	if s := releaseStatus(kc, "apps", "bulk", 3); s != "deployed" {
		t.Errorf("revision 3 is %q, want deployed", s)
	}
}
