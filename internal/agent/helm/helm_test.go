package helm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/agent/helm"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv/kube"
	"github.com/amp-edge/amp/internal/testenv/kubelet"
)

// charts is an in-memory chart source (the link's stand-in: the link
// itself is tested through the binary).
type charts struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *charts) Chart(_ context.Context, digest string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[digest]
	if !ok {
		return nil, fmt.Errorf("no chart %s", digest)
	}
	return b, nil
}

// add packages the test chart at version (edit changes it first) and
// returns its reference.
func (c *charts) add(t testing.TB, version string, edit func(*chart.Chart)) wire.Chart {
	t.Helper()
	ch, err := loader.LoadDir(filepath.Join("testdata", "web"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Metadata.Version = version
	if edit != nil {
		edit(ch)
	}
	dir := t.TempDir()
	path, err := chartutil.Save(ch, dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[digest] = b
	c.mu.Unlock()
	return wire.Chart{Name: "web", Version: version, Digest: digest}
}

// site is a simulated site: kube-apiserver, kube-controller-manager and
// the kubelet stand-in with two nodes.
func site(t testing.TB) (*kube.Cluster, kubernetes.Interface) {
	t.Helper()
	c := kube.Start(t)
	c.StartControllers(t)
	kubelet.Start(t, c.Client(), "node-1", "node-2")
	return c, c.Client()
}

func object(t testing.TB, name string, spec wire.HelmRelease) wire.Object {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return wire.Object{Kind: wire.KindHelmRelease, Name: name, Spec: raw, Digest: wire.ObjectDigest(raw)}
}

func deployment(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s/%s: %v", ns, name, err)
	}
	return d
}

func image(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Image }

// revision is the release's newest revision, from Helm's storage (a
// Secret per revision, labelled by Helm).
func revision(t *testing.T, cs kubernetes.Interface, ns, name string) int {
	t.Helper()
	l, err := cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range l.Items {
		var v int
		fmt.Sscan(s.Labels["version"], &v)
		n = max(n, v)
	}
	return n
}

func applyOK(t *testing.T, reg *apply.Registry, o wire.Object) apply.Outcome {
	t.Helper()
	if err := reg.Check([]wire.Object{o}); err != nil {
		t.Fatal(err)
	}
	out := reg.Apply(context.Background(), o)
	if out.Status.State != wire.StateApplied {
		t.Fatalf("%s: %s: %s", o.Name, out.Status.State, out.Status.Message)
	}
	return out
}

func wantReady(t *testing.T, st wire.ObjectStatus, ready bool, version string) {
	t.Helper()
	if st.Ready == nil || *st.Ready != ready || st.Version != version {
		r := "nil"
		if st.Ready != nil {
			r = fmt.Sprint(*st.Ready)
		}
		t.Fatalf("status: ready %s version %q (message %q), want ready %v version %q", r, st.Version, st.Message, ready, version)
	}
}

// TestReleaseLifecycle drives the applier through a release's life on a
// real kube-apiserver with a real kube-controller-manager: install →
// ready; upgrade; a faulty version → failed and not ready with the
// reason; the version back → rollback; values the schema refuses and a
// chart that does not render → failed, nothing changed; drift → reported
// and corrected; an upgrade interrupted as a kill -9 leaves it → recovered;
// removal → uninstalled.
func TestReleaseLifecycle(t *testing.T) {
	c, cs := site(t)
	src := &charts{}
	a, err := helm.New(helm.Options{Config: c.RESTConfig(), Charts: src, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := apply.NewRegistry()
	a.Register(reg)
	ctx := context.Background()
	spec := func(version string, ch wire.Chart, values map[string]any) wire.HelmRelease {
		return wire.HelmRelease{Namespace: "apps", Bundle: "web", Version: version, Chart: ch, Values: values,
			Timeout: wire.Duration(90 * time.Second)}
	}
	v1 := src.add(t, "1.0.0", nil)
	v2 := src.add(t, "1.1.0", nil)

	// Install: applied, ready, the version reported.
	out := applyOK(t, reg, object(t, "web", spec("1.0.0", v1, map[string]any{"image": map[string]any{"tag": "1.0.0"}})))
	wantReady(t, out.Status, true, "1.0.0")
	if !strings.Contains(out.Status.Message, "installed version 1.0.0") {
		t.Errorf("install message %q", out.Status.Message)
	}
	d := deployment(t, cs, "apps", "web")
	if image(d) != "example.org/web:1.0.0" || d.Status.ReadyReplicas != 2 {
		t.Fatalf("after install: image %s, %d ready", image(d), d.Status.ReadyReplicas)
	}
	// Applied again: nothing to do.
	if out := applyOK(t, reg, object(t, "web", spec("1.0.0", v1, map[string]any{"image": map[string]any{"tag": "1.0.0"}}))); len(out.Changed) != 0 {
		t.Errorf("a second apply changed %v", out.Changed)
	}

	// Upgrade, with the chart's Helm tests.
	withTests := spec("2.0.0", v2, map[string]any{"image": map[string]any{"tag": "2.0.0"}})
	withTests.Test = true
	good := object(t, "web", withTests)
	out = applyOK(t, reg, good)
	wantReady(t, out.Status, true, "2.0.0")
	if !strings.Contains(out.Status.Message, "upgraded version 1.0.0 -> 2.0.0") {
		t.Errorf("upgrade message %q", out.Status.Message)
	}
	if d := deployment(t, cs, "apps", "web"); image(d) != "example.org/web:2.0.0" {
		t.Fatalf("after upgrade: image %s", image(d))
	}
	goodRev := revision(t, cs, "apps", "web")
	if _, err := cs.CoreV1().Pods("apps").Get(ctx, "web-test", metav1.GetOptions{}); err != nil {
		t.Errorf("the Helm test pod did not run: %v", err)
	}

	// A version whose Helm test fails: failed, naming the test.
	failingTest := src.add(t, "1.1.1", func(ch *chart.Chart) {
		for _, f := range ch.Templates {
			if f.Name == "templates/tests/test.yaml" {
				f.Data = bytes.ReplaceAll(f.Data, []byte("{{ .Values.image.tag }}"), []byte(kubelet.CrashLoopTag))
			}
		}
	})
	tested := withTests
	tested.Version, tested.Chart = "2.0.1", failingTest
	out = reg.Apply(ctx, object(t, "web", tested))
	if out.Status.State != wire.StateFailed || !strings.Contains(out.Status.Message, "web-test") {
		t.Fatalf("failing Helm test: %s %q", out.Status.State, out.Status.Message)
	}
	// A resync reports the failed test again (it does not pass by not
	// running it).
	if again := reg.Apply(ctx, object(t, "web", tested)); again.Status.State != wire.StateFailed ||
		!strings.Contains(again.Status.Message, "helm test web-test failed") {
		t.Fatalf("failing Helm test, resync: %s %q", again.Status.State, again.Status.Message)
	}

	// A faulty version: its pods crash-loop. Failed, not ready, with the
	// reason; the site runs it (Helm deployed it).
	bad := object(t, "web", spec("3.0.0", v2, map[string]any{"image": map[string]any{"tag": kubelet.CrashLoopTag}}))
	out = reg.Apply(ctx, bad)
	if out.Status.State != wire.StateFailed || !strings.Contains(out.Status.Message, "deployment web:") ||
		!strings.Contains(out.Status.Message, "crash-looping") {
		t.Fatalf("faulty version: %s %q", out.Status.State, out.Status.Message)
	}
	wantReady(t, out.Status, false, "3.0.0")

	// The version back: a rollback to the revision that ran it.
	out = applyOK(t, reg, good)
	wantReady(t, out.Status, true, "2.0.0")
	if want := fmt.Sprintf("rolled back to revision %d", goodRev); !strings.Contains(out.Status.Message, want) {
		t.Errorf("back: message %q, want %q", out.Status.Message, want)
	}
	if d := deployment(t, cs, "apps", "web"); image(d) != "example.org/web:2.0.0" {
		t.Fatalf("after rollback: image %s", image(d))
	}

	// Refused before acting: values the chart's schema rejects, a chart
	// that does not render. Nothing at the site changes.
	rev := revision(t, cs, "apps", "web")
	broken := src.add(t, "1.2.0", func(ch *chart.Chart) {
		ch.Templates = append(ch.Templates, &chart.File{Name: "templates/broken.yaml", Data: []byte("{{ .Values.nothing.here }}\n")})
	})
	for _, tc := range []struct {
		name string
		o    wire.Object
		want string
	}{
		{"schema", object(t, "web", spec("4.0.0", v2, map[string]any{"replicas": "two"})), "replicas"},
		{"render", object(t, "web", spec("4.0.1", broken, nil)), "broken.yaml"},
	} {
		out := reg.Apply(ctx, tc.o)
		if out.Status.State != wire.StateFailed || !strings.Contains(out.Status.Message, tc.want) {
			t.Errorf("%s: %s %q, want failed naming %q", tc.name, out.Status.State, out.Status.Message, tc.want)
		}
		if got := revision(t, cs, "apps", "web"); got != rev {
			t.Errorf("%s: the release went from revision %d to %d", tc.name, rev, got)
		}
		if d := deployment(t, cs, "apps", "web"); image(d) != "example.org/web:2.0.0" || *d.Spec.Replicas != 2 {
			t.Errorf("%s: the deployment changed: %s ×%d", tc.name, image(d), *d.Spec.Replicas)
		}
	}
	// A chart archive that is not the one named is refused too.
	wrong := v2
	wrong.Name = "other"
	if out := reg.Apply(ctx, object(t, "web", spec("4.0.2", wrong, nil))); out.Status.State != wire.StateFailed ||
		!strings.Contains(out.Status.Message, "the spec names other 1.1.0") {
		t.Errorf("wrong chart: %s %q", out.Status.State, out.Status.Message)
	}

	// Drift: the replicas and the config changed by hand are reported and
	// restored.
	applyOK(t, reg, good)
	_, err = cs.AppsV1().Deployments("apps").Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().ConfigMaps("apps").Patch(ctx, "web-config", types.MergePatchType, []byte(`{"data":{"message":"changed"}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out = applyOK(t, reg, good)
	for _, want := range []string{"deployment web: spec.replicas 2 -> 5", `configmap web-config: data.message "hello" -> "changed"`} {
		if !strings.Contains(strings.Join(out.Changed, "; "), want) {
			t.Errorf("drift: changed %q, want %q", out.Changed, want)
		}
	}
	if d := deployment(t, cs, "apps", "web"); *d.Spec.Replicas != 2 {
		t.Errorf("drift not corrected: %d replicas", *d.Spec.Replicas)
	}
	cm, err := cs.CoreV1().ConfigMaps("apps").Get(ctx, "web-config", metav1.GetOptions{})
	if err != nil || cm.Data["message"] != "hello" {
		t.Errorf("config not restored: %v %v", cm.Data, err)
	}

	// An upgrade interrupted by a kill -9: Helm left the new revision
	// pending-upgrade (its storage written first) and the deployment half
	// changed. The next apply recovers the release and completes it.
	next := object(t, "web", spec("5.0.0", v2, map[string]any{"image": map[string]any{"tag": "5.0.0"}}))
	interrupt(t, cs, "apps", "web", next.Digest)
	_, err = cs.AppsV1().Deployments("apps").Patch(ctx, "web", types.MergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"example.org/web:5.0.0"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out = applyOK(t, reg, next)
	wantReady(t, out.Status, true, "5.0.0")
	if !strings.Contains(out.Status.Message, "left pending-upgrade") || !strings.Contains(out.Status.Message, "upgraded version 2.0.0 -> 5.0.0") {
		t.Errorf("recovery message %q", out.Status.Message)
	}

	// Removal: uninstalled; a release AMP did not install is left alone.
	removed, err := a.Prune(ctx, map[string]bool{})
	if err != nil || len(removed) != 1 || removed[0] != "web" {
		t.Fatalf("prune: %v %v", removed, err)
	}
	if _, err := cs.AppsV1().Deployments("apps").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after uninstall the deployment is still there: %v", err)
	}
	if n := revision(t, cs, "apps", "web"); n != 0 {
		t.Errorf("after uninstall the release has revision %d", n)
	}
}

// interrupt writes what an upgrade killed after its first step leaves in
// Helm's storage: a new revision, pending-upgrade, for the spec digest.
func interrupt(t *testing.T, cs kubernetes.Interface, ns, name, digest string) {
	t.Helper()
	store := driver.NewSecrets(cs.CoreV1().Secrets(ns))
	rels, err := store.Query(map[string]string{"name": name, "owner": "helm"})
	if err != nil {
		t.Fatal(err)
	}
	last := rels[0]
	for _, r := range rels {
		if r.Version > last.Version {
			last = r
		}
	}
	next := *last
	next.Version++
	next.Info = &release.Info{Status: release.StatusPendingUpgrade, Description: "Preparing upgrade"}
	meta := *last.Chart.Metadata
	meta.Annotations = map[string]string{}
	for k, v := range last.Chart.Metadata.Annotations {
		meta.Annotations[k] = v
	}
	meta.Annotations[helm.AnnotationSpec] = digest
	ch := *last.Chart
	ch.Metadata = &meta
	next.Chart = &ch
	if err := store.Create(fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, next.Version), &next); err != nil {
		t.Fatal(err)
	}
}

// TestReleaseSet: a bundle of several charts reaches the site as one
// helm-release object per chart (<bundle>-<chart>): the registry installs
// the set in name order, each its own Helm release with its own values,
// upgrades the set to the next version, and uninstalls the release of a
// chart removed from the bundle while the other keeps running untouched.
func TestReleaseSet(t *testing.T) {
	c, cs := site(t)
	src := &charts{}
	a, err := helm.New(helm.Options{Config: c.RESTConfig(), Charts: src, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := apply.NewRegistry()
	a.Register(reg)
	ctx := context.Background()
	ch := src.add(t, "1.0.0", nil)
	part := func(name, version, tag string) wire.Object {
		return object(t, name, wire.HelmRelease{Namespace: "apps", Bundle: "core", Version: version, Chart: ch,
			Values: map[string]any{"image": map[string]any{"tag": tag}}, Timeout: wire.Duration(90 * time.Second)})
	}
	applied := func(objs ...wire.Object) ([]apply.Outcome, []string) {
		t.Helper()
		out, removed, err := reg.ApplyAll(ctx, objs)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			if o.Status.State != wire.StateApplied {
				t.Fatalf("%s: %s %q", o.Status.Name, o.Status.State, o.Status.Message)
			}
		}
		return out, removed
	}

	out, _ := applied(part("core-web", "v1", "web-1"), part("core-db", "v1", "db-1"))
	if len(out) != 2 || out[0].Status.Name != "core-db" || out[1].Status.Name != "core-web" {
		t.Fatalf("applied %v, want core-db then core-web", out)
	}
	for _, o := range out {
		wantReady(t, o.Status, true, "v1")
	}
	if image(deployment(t, cs, "apps", "core-db")) != "example.org/web:db-1" || image(deployment(t, cs, "apps", "core-web")) != "example.org/web:web-1" {
		t.Fatal("each release has its own values")
	}

	out, _ = applied(part("core-web", "v2", "web-2"), part("core-db", "v2", "db-2"))
	for _, o := range out {
		wantReady(t, o.Status, true, "v2")
	}
	if image(deployment(t, cs, "apps", "core-web")) != "example.org/web:web-2" {
		t.Fatal("core-web not upgraded")
	}
	dbRev := revision(t, cs, "apps", "core-db")

	// web removed from the bundle (v3): its release is uninstalled.
	out, removed := applied(part("core-db", "v3", "db-2"))
	if len(removed) != 1 || removed[0] != "helm-release/core-web" {
		t.Fatalf("removed %v, want helm-release/core-web", removed)
	}
	wantReady(t, out[0].Status, true, "v3")
	if _, err := cs.AppsV1().Deployments("apps").Get(ctx, "core-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("core-web's deployment after its chart was removed: %v", err)
	}
	if rev := revision(t, cs, "apps", "core-db"); rev != dbRev+1 {
		t.Fatalf("core-db at revision %d, want %d (one upgrade to v3)", rev, dbRev+1)
	}
	if d := deployment(t, cs, "apps", "core-db"); image(d) != "example.org/web:db-2" || d.Status.ReadyReplicas != 2 {
		t.Fatalf("core-db after core-web's removal: %s, %d ready", image(d), d.Status.ReadyReplicas)
	}
}
