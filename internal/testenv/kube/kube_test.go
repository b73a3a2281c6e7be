package kube_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/amp-edge/amp/internal/testenv/kube"
)

// TestTwoSites starts two clusters in one process, as the e2e tests start
// several sites: each answers with its own nodes and namespaces, through
// its clientset as through its kubeconfig file.
func TestTwoSites(t *testing.T) {
	sites := []*kube.Cluster{kube.Start(t), kube.Start(t)}
	if sites[0].URL == sites[1].URL {
		t.Fatalf("both sites serve %s", sites[0].URL)
	}
	ctx := context.Background()

	taint := corev1.Taint{Key: "edge.amp/dedicated", Value: "ran", Effect: corev1.TaintEffectNoSchedule}
	sites[0].AddNode(t, "node-1", map[string]string{"site": "a"}, []corev1.Taint{taint}, true)
	sites[1].AddNode(t, "node-1", map[string]string{"site": "b"}, nil, false)

	for i, want := range []struct {
		site   string
		taints int
		ready  corev1.ConditionStatus
	}{{"a", 1, corev1.ConditionTrue}, {"b", 0, corev1.ConditionFalse}} {
		// Read back through the kubeconfig file, as a tool or the agent
		// under test would.
		cfg, err := clientcmd.BuildConfigFromFlags("", sites[i].Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != 1 {
			t.Fatalf("site %d has %d nodes, want 1", i, len(nodes.Items))
		}
		n := nodes.Items[0]
		if n.Labels["site"] != want.site {
			t.Errorf("site %d's node-1 has label site=%q, want %q", i, n.Labels["site"], want.site)
		}
		if len(n.Spec.Taints) != want.taints {
			t.Errorf("site %d's node-1 has taints %v, want %d", i, n.Spec.Taints, want.taints)
		}
		if want.taints == 1 && (n.Spec.Taints[0].Key != taint.Key || n.Spec.Taints[0].Value != taint.Value || n.Spec.Taints[0].Effect != taint.Effect) {
			t.Errorf("site %d's taint = %+v, want %+v", i, n.Spec.Taints[0], taint)
		}
		if got := ready(n); got != want.ready {
			t.Errorf("site %d's node-1 Ready = %q, want %q", i, got, want.ready)
		}
	}

	// A kubelet's heartbeat changes readiness through the status
	// subresource; the labels stay.
	n := sites[1].SetNodeReady(t, "node-1", true)
	if ready(*n) != corev1.ConditionTrue || n.Labels["site"] != "b" {
		t.Errorf("after SetNodeReady: Ready=%q labels=%v", ready(*n), n.Labels)
	}
	got, err := sites[1].Client().CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ready(*got) != corev1.ConditionTrue {
		t.Errorf("node-1 read back Ready=%q, want True", ready(*got))
	}

	// A namespace made at one site is listed there and not at the other.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ran", Labels: map[string]string{"app.kubernetes.io/managed-by": "amp"}}}
	if _, err := sites[0].Client().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		list, err := sites[i].Client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=amp"})
		if err != nil {
			t.Fatal(err)
		}
		has := len(list.Items) == 1 && list.Items[0].Name == "ran"
		if has != want {
			t.Errorf("site %d lists managed namespaces %v, want ran listed: %v", i, names(list.Items), want)
		}
	}

	// The server is the release the tests are meant for.
	v, err := sites[0].Client().Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v"+kube.Version {
		t.Errorf("server version %s, want v%s", v.GitVersion, kube.Version)
	}

	// The kubeconfig holds the admin's credentials: only its owner reads it.
	st, err := os.Stat(sites[0].Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %o, want 600", st.Mode().Perm())
	}
}

// TestMissingBinaryFails: without the binary a test fails with a message
// naming the script that builds it; it never skips.
func TestMissingBinaryFails(t *testing.T) {
	t.Setenv("AMP_KUBE_APISERVER", t.TempDir()+"/no-such-kube-apiserver")
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		kube.Start(r)
	}()
	<-done
	if !r.failed || r.skipped {
		t.Fatalf("Start without a binary: failed=%v skipped=%v, want failed", r.failed, r.skipped)
	}
	if !strings.Contains(r.msg, "scripts/test-deps.sh") {
		t.Errorf("failure %q does not name scripts/test-deps.sh", r.msg)
	}
}

// recorder stands in for a test whose failure is the behaviour under test:
// Fatal ends its goroutine, as testing.T's does, and is recorded.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(string, ...any) { r.skipped = true; runtime.Goexit() }

func ready(n corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func names(nss []corev1.Namespace) []string {
	var out []string
	for _, n := range nss {
		out = append(out, n.Name)
	}
	return out
}
