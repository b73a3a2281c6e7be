package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"

	"github.com/amp-edge/amp/internal/agent"
	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

var ctx = context.Background()

func node(t *testing.T, c kubernetes.Interface, name string) *corev1.Node {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func taints(n *corev1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, taintString(t))
	}
	slices.Sort(out)
	return out
}

// byHand changes a node as a person with kubectl would.
func byHand(t *testing.T, c kubernetes.Interface, name string, edit func(n *corev1.Node)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(n)
		_, err = c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// On a real kube-apiserver: the declared labels and taints are set
// exactly, what AMP never managed is left alone, a key no longer declared
// is removed, a hand change is restored, and pruning an undeclared node
// removes only what AMP put there.
func TestNodeLabelsAndTaints(t *testing.T) {
	env := kubeenv.Start(t)
	c := env.Client()
	env.AddNode(t, "server-1", map[string]string{"by-hand": "keep"}, []corev1.Taint{{Key: "by-hand", Effect: corev1.TaintEffectPreferNoSchedule}}, true)
	a := New(c).Nodes

	spec := json.RawMessage(`{"labels":{"env":"prod","rack":"r1"},"taints":["dedicated=edge:NoSchedule","gpu:NoExecute"]}`)
	if err := a.Validate("server-1", spec); err != nil {
		t.Fatal(err)
	}
	changed, err := a.Apply(ctx, "server-1", spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 4 {
		t.Errorf("changed %q, want 2 labels and 2 taints", changed)
	}
	n := node(t, c, "server-1")
	if n.Labels["env"] != "prod" || n.Labels["rack"] != "r1" || n.Labels["by-hand"] != "keep" {
		t.Fatalf("labels %v", n.Labels)
	}
	if got := taints(n); !slices.Equal(got, []string{"by-hand:PreferNoSchedule", "dedicated=edge:NoSchedule", "gpu:NoExecute"}) {
		t.Fatalf("taints %v", got)
	}
	if got := n.Annotations[ManagedAnnotation]; got != `{"labels":["env","rack"],"taints":["dedicated:NoSchedule","gpu:NoExecute"]}` {
		t.Fatalf("annotation %s", got)
	}
	if changed, err := a.Apply(ctx, "server-1", spec); err != nil || len(changed) != 0 {
		t.Fatalf("applied again: %q, %v; want no change", changed, err)
	}

	// rack and the gpu taint are no longer declared; dedicated changes.
	spec = json.RawMessage(`{"labels":{"env":"prod"},"taints":["dedicated=core:NoSchedule"]}`)
	if _, err := a.Apply(ctx, "server-1", spec); err != nil {
		t.Fatal(err)
	}
	n = node(t, c, "server-1")
	if _, ok := n.Labels["rack"]; ok || n.Labels["by-hand"] != "keep" {
		t.Fatalf("labels %v: rack should be gone, by-hand kept", n.Labels)
	}
	if got := taints(n); !slices.Equal(got, []string{"by-hand:PreferNoSchedule", "dedicated=core:NoSchedule"}) {
		t.Fatalf("taints %v", got)
	}

	byHand(t, c, "server-1", func(n *corev1.Node) { n.Labels["env"] = "staging" })
	changed, err = a.Apply(ctx, "server-1", spec)
	if err != nil || !slices.Equal(changed, []string{"label env: staging -> prod"}) {
		t.Fatalf("a hand change: %q, %v", changed, err)
	}
	if node(t, c, "server-1").Labels["env"] != "prod" {
		t.Fatal("the hand change was not restored")
	}

	if _, err := a.Apply(ctx, "server-9", spec); err == nil || !strings.Contains(err.Error(), "not in the cluster") {
		t.Fatalf("a node that has not joined: %v", err)
	}

	removed, err := a.Prune(ctx, map[string]bool{})
	if err != nil || !slices.Equal(removed, []string{"server-1"}) {
		t.Fatalf("prune: %v, %v", removed, err)
	}
	n = node(t, c, "server-1")
	if _, ok := n.Labels["env"]; ok || n.Labels["by-hand"] != "keep" || n.Annotations[ManagedAnnotation] != "" {
		t.Fatalf("after prune: labels %v, annotations %v", n.Labels, n.Annotations)
	}
	if got := taints(n); !slices.Equal(got, []string{"by-hand:PreferNoSchedule"}) {
		t.Fatalf("after prune: taints %v", got)
	}
}

// Malformed specs are refused by Validate with the field and reason.
func TestNodeSpecValidation(t *testing.T) {
	a := &Nodes{}
	for spec, want := range map[string]string{
		`{"labels":{"bad key!":"x"}}`:                  "labels: key",
		`{"labels":{"env":"not ok!"}}`:                 "labels: env: value",
		`{"taints":["gpu=true"]}`:                      "taints[0]",
		`{"taints":["gpu=true:Sometimes"]}`:            "effect",
		`{"taints":["a:NoSchedule","a=b:NoSchedule"]}`: "declared twice",
		`{"labels":{},"colour":"blue"}`:                "unknown field",
		`[]`:                                           "cannot unmarshal",
	} {
		err := a.Validate("server-1", json.RawMessage(spec))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", spec, err, want)
		}
	}
	if err := a.Validate("Not_A_Node", json.RawMessage(`{}`)); err == nil {
		t.Error("an invalid node name was accepted")
	}
	ns := &Namespaces{}
	if err := ns.Validate("apps", json.RawMessage(`{"quota":1}`)); err == nil {
		t.Error("a namespace spec with a field was accepted")
	}
	if err := ns.Validate("Apps.x", json.RawMessage(`{}`)); err == nil {
		t.Error("an invalid namespace name was accepted")
	}
}

// Declared namespaces are created labelled as AMP's; pruning deletes
// those no longer declared and never one AMP did not create.
func TestNamespaces(t *testing.T) {
	env := kubeenv.Start(t)
	c := env.Client()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := New(c).Namespaces
	changed, err := a.Apply(ctx, "apps", json.RawMessage(`{}`))
	if err != nil || !slices.Equal(changed, []string{"create namespace apps"}) {
		t.Fatalf("apply: %q, %v", changed, err)
	}
	ns, err := c.CoreV1().Namespaces().Get(ctx, "apps", metav1.GetOptions{})
	if err != nil || ns.Labels[ManagedByLabel] != ManagedByAMP {
		t.Fatalf("apps: %v, %v", ns, err)
	}
	if changed, err := a.Apply(ctx, "apps", json.RawMessage(`{}`)); err != nil || len(changed) != 0 {
		t.Fatalf("applied again: %q, %v", changed, err)
	}
	if changed, err := a.Apply(ctx, "legacy", json.RawMessage(`{}`)); err != nil || len(changed) != 0 {
		t.Fatalf("an existing namespace: %q, %v", changed, err)
	}
	removed, err := a.Prune(ctx, map[string]bool{})
	if err != nil || !slices.Equal(removed, []string{"apps"}) {
		t.Fatalf("prune: %v, %v; want apps only", removed, err)
	}
	ns, err = c.CoreV1().Namespaces().Get(ctx, "apps", metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil || err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("apps after prune: %v, %v", ns, err)
	}
	if _, err := c.CoreV1().Namespaces().Get(ctx, "legacy", metav1.GetOptions{}); err != nil {
		t.Fatalf("legacy: %v", err)
	}
}

// Facts: the server's version and each node with labels, taints and
// readiness, read from the real API.
func TestFacts(t *testing.T) {
	env := kubeenv.Start(t)
	env.AddNode(t, "server-2", map[string]string{"rack": "r2"}, []corev1.Taint{{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}}, false)
	env.AddNode(t, "server-1", nil, nil, true)
	f, err := New(env.Client()).Facts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.KubernetesVersion != "v"+kubeenv.Version || len(f.Nodes) != 2 {
		t.Fatalf("facts %+v", f)
	}
	n1, n2 := f.Nodes[0], f.Nodes[1]
	if n1.Name != "server-1" || !n1.Ready || n2.Name != "server-2" || n2.Ready || n2.Labels["rack"] != "r2" || !slices.Equal(n2.Taints, []string{"gpu=true:NoSchedule"}) {
		t.Fatalf("nodes %+v", f.Nodes)
	}
}

// The whole agent on a real API, cut off from AMP: it enforces the cached
// state, and a declared label changed by hand is restored through the
// watch (the resync is an hour away), reported as drift.
func TestDriftCorrectedThroughTheWatch(t *testing.T) {
	env := kubeenv.Start(t)
	c := env.Client()
	env.AddNode(t, "server-1", nil, nil, true)
	d, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	nodeSpec := json.RawMessage(`{"labels":{"env":"prod"}}`)
	objs := []wire.Object{
		{Kind: KindNode, Name: "server-1", Spec: nodeSpec, Digest: wire.ObjectDigest(nodeSpec), Index: 3},
		{Kind: KindNamespace, Name: "apps", Spec: json.RawMessage(`{}`), Digest: wire.ObjectDigest(json.RawMessage(`{}`)), Index: 3},
	}
	if err := d.SaveDesired(&wire.Desired{Cluster: "ace-x", Index: 3, Digest: wire.StateDigest(objs), Full: true, Objects: objs}); err != nil {
		t.Fatal(err)
	}
	cl := New(c)
	reg := apply.NewRegistry()
	cl.Register(reg)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(runCtx, agent.Options{Dir: d, Registry: reg, Facts: cl.Facts, Resync: time.Hour, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	}()
	defer func() { cancel(); <-done }()

	eventually(t, "the cached state applied", func() bool {
		_, err := c.CoreV1().Namespaces().Get(ctx, "apps", metav1.GetOptions{})
		return err == nil && node(t, c, "server-1").Labels["env"] == "prod"
	})
	// The watch must be running before the hand change for the test to
	// say anything: the first apply wrote the annotation, and the status
	// is journalled applied.
	eventually(t, "the node journalled applied", func() bool {
		j, err := d.Journal()
		return err == nil && len(j.Objects) == 2 && j.Objects[1].State == wire.StateApplied
	})
	byHand(t, c, "server-1", func(n *corev1.Node) { n.Labels["env"] = "staging" })
	eventually(t, "the hand change restored", func() bool { return node(t, c, "server-1").Labels["env"] == "prod" })
	eventually(t, "the drift journalled", func() bool {
		j, err := d.Journal()
		if err != nil || j.Corrections != 1 {
			return false
		}
		for _, o := range j.Objects {
			if o.Kind == KindNode && o.Drift && strings.Contains(o.Message, "label env: staging -> prod") {
				return true
			}
		}
		return false
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// $KUBECONFIG naming several files is loaded as kubectl loads it: merged,
// a missing file skipped; the merged configuration reaches the real API.
// An explicit --kubeconfig is one file, and a missing one is an error
// naming it.
func TestKubeconfigList(t *testing.T) {
	env := kubeenv.Start(t)
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a pod
	full, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// One file holds the cluster and the user, another the context that
	// joins them; neither works alone.
	dir := t.TempDir()
	creds, ctxs := clientcmdapi.NewConfig(), clientcmdapi.NewConfig()
	creds.Clusters, creds.AuthInfos = full.Clusters, full.AuthInfos
	ctxs.Contexts, ctxs.CurrentContext = full.Contexts, full.CurrentContext
	a, b := filepath.Join(dir, "credentials"), filepath.Join(dir, "contexts")
	for f, c := range map[string]*clientcmdapi.Config{a: creds, b: ctxs} {
		if err := clientcmd.WriteToFile(*c, f); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing")
	t.Setenv("KUBECONFIG", strings.Join([]string{a, missing, b}, string(filepath.ListSeparator)))
	rc, err := Config("")
	if err != nil {
		t.Fatalf("KUBECONFIG=a:missing:b: %v", err)
	}
	f, err := New(kubernetes.NewForConfigOrDie(rc)).Facts(ctx)
	if err != nil || f.KubernetesVersion != "v"+kubeenv.Version {
		t.Fatalf("the merged configuration against the API: %+v, %v", f, err)
	}

	t.Setenv("KUBECONFIG", a)
	if _, err := Config(""); err == nil || !strings.Contains(err.Error(), "$KUBECONFIG "+a) {
		t.Fatalf("KUBECONFIG without a context: %v", err)
	}
	t.Setenv("KUBECONFIG", missing)
	if _, err := Config(""); err == nil || !strings.Contains(err.Error(), "$KUBECONFIG "+missing) {
		t.Fatalf("KUBECONFIG naming only a missing file: %v", err)
	}
	if _, err := Config(missing); err == nil || !strings.Contains(err.Error(), "kubeconfig "+missing) {
		t.Fatalf("--kubeconfig naming a missing file: %v", err)
	}
	if _, err := Config(env.Kubeconfig); err != nil {
		t.Fatalf("--kubeconfig with $KUBECONFIG set to a missing file: %v", err)
	}
	t.Setenv("KUBECONFIG", "")
	if _, err := Config(""); err == nil || !strings.Contains(err.Error(), "give --kubeconfig") {
		t.Fatalf("no configuration at all: %v", err)
	}
}

// apiCalls records the requests a client makes to the API, but for the
// watches' long-running streams.
type apiCalls struct {
	mu    sync.Mutex
	calls []string
}

func (c *apiCalls) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.URL.Query().Get("watch") != "true" {
			c.mu.Lock()
			c.calls = append(c.calls, r.Method+" "+r.URL.Path)
			c.mu.Unlock()
		}
		return rt.RoundTrip(r)
	})
}

// take returns the requests made since the last take.
func (c *apiCalls) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A full resync of a state the site holds reads the watches' caches: it
// costs the API no request, whatever the number of nodes; a node changed
// by hand costs its update alone. Counted with a RoundTripper around
// client-go's transport, on a real kube-apiserver.
func TestResyncReadsTheCache(t *testing.T) {
	env := kubeenv.Start(t)
	const nodes = 20
	var objs []wire.Object
	for i := range nodes {
		name := fmt.Sprintf("server-%02d", i)
		env.AddNode(t, name, map[string]string{"by-hand": "keep"}, nil, true)
		spec := json.RawMessage(fmt.Sprintf(`{"labels":{"env":"prod","rack":"r%d"},"taints":["edge:NoSchedule"]}`, i%4))
		objs = append(objs, wire.Object{Kind: KindNode, Name: name, Spec: spec, Digest: wire.ObjectDigest(spec)})
	}
	for _, ns := range []string{"apps", "monitoring"} {
		objs = append(objs, wire.Object{Kind: KindNamespace, Name: ns, Spec: json.RawMessage(`{}`), Digest: wire.ObjectDigest(json.RawMessage(`{}`))})
	}
	var calls apiCalls
	rc := env.RESTConfig()
	rc.WrapTransport = calls.wrap
	cl := New(kubernetes.NewForConfigOrDie(rc))
	reg := apply.NewRegistry()
	cl.Register(reg)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, w := range []apply.Watcher{cl.Nodes, cl.Namespaces} {
		if err := w.Watch(wctx, func(string) {}); err != nil {
			t.Fatal(err)
		}
	}
	resync := func(what string) []apply.Outcome {
		t.Helper()
		outs, removed, err := reg.ApplyAll(ctx, objs)
		if err != nil || len(removed) != 0 || len(outs) != len(objs) {
			t.Fatalf("%s: %d outcomes, removed %v, %v", what, len(outs), removed, err)
		}
		for _, o := range outs {
			if o.Status.State != wire.StateApplied {
				t.Fatalf("%s: %+v", what, o.Status)
			}
		}
		return outs
	}
	resync("the first apply")
	cached := func(name string) *corev1.Node {
		n, err := cl.factory.Core().V1().Nodes().Lister().Get(name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually(t, "the watches' caches hold the first apply", func() bool {
		nss, err := cl.factory.Core().V1().Namespaces().Lister().List(labels.Everything())
		if err != nil || len(nss) < 2 {
			return false
		}
		for i := range nodes {
			if cached(fmt.Sprintf("server-%02d", i)).Annotations[ManagedAnnotation] == "" {
				return false
			}
		}
		return true
	})
	calls.take()

	for _, o := range resync("a resync") {
		if len(o.Changed) != 0 {
			t.Fatalf("a resync of a held state changed %s/%s: %q", o.Status.Kind, o.Status.Name, o.Changed)
		}
	}
	if got := calls.take(); len(got) != 0 {
		t.Fatalf("a resync of %d nodes and 2 namespaces the site holds made %d API requests, want none: %q", nodes, len(got), got)
	}

	byHand(t, env.Client(), "server-07", func(n *corev1.Node) { n.Labels["env"] = "staging" })
	eventually(t, "the watch's cache holds the hand change", func() bool { return cached("server-07").Labels["env"] == "staging" })
	var changed []string
	for _, o := range resync("a resync after a hand change") {
		if len(o.Changed) > 0 {
			changed = append(changed, o.Status.Name+": "+strings.Join(o.Changed, "; "))
		}
	}
	if !slices.Equal(changed, []string{"server-07: label env: staging -> prod"}) {
		t.Fatalf("changed %q", changed)
	}
	if got := calls.take(); !slices.Equal(got, []string{"PUT /api/v1/nodes/server-07"}) {
		t.Fatalf("a resync correcting one node made the requests %q, want its update alone", got)
	}
	if node(t, env.Client(), "server-07").Labels["env"] != "prod" {
		t.Fatal("the hand change was not restored")
	}
}
