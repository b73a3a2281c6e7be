package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/agent/helm"
	"github.com/amp-edge/amp/internal/agent/link"
	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv/kube"
)

// chartStore is the charts the desired states name, by digest (the link's
// stand-in: the agent here reaches no AMP).
type chartStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *chartStore) Chart(_ context.Context, digest string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.m[digest]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("no chart %s", digest)
}

// release is a helm-release object of the helm applier's test chart at
// version, its image tag tag, waited on for up to timeout.
func (c *chartStore) release(t *testing.T, version, tag string, timeout time.Duration) wire.Object {
	t.Helper()
	ch, err := loader.LoadDir(filepath.Join("helm", "testdata", "web"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Metadata.Version = version
	path, err := chartutil.Save(ch, t.TempDir())
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
	c.m[digest] = b
	c.mu.Unlock()
	spec, err := json.Marshal(wire.HelmRelease{Namespace: "apps", Bundle: "web", Version: version,
		Chart: wire.Chart{Name: "web", Version: version, Digest: digest}, Timeout: wire.Duration(timeout),
		Values: map[string]any{"image": map[string]any{"tag": tag}}})
	if err != nil {
		t.Fatal(err)
	}
	return wire.Object{Kind: wire.KindHelmRelease, Name: "web", Spec: spec, Digest: wire.ObjectDigest(spec)}
}

func state1(index uint64, objs ...wire.Object) *wire.Desired {
	d := &wire.Desired{Cluster: "ace-x", Index: index, Full: true, Objects: objs}
	d.Digest = wire.StateDigest(objs)
	return d
}

// TestNewStateInterruptsAReleaseWait: a release whose pods never become
// ready (a kube-apiserver with no kubelet) is waited on for up to its
// timeout, an hour here; a new desired state that changes it is applied
// at once (the upgrade reaches the site), and one that withdraws it
// uninstalls it at once — where the agent used to finish the wait first
// (5 minutes by default) before reading the next state. Nothing of the
// interrupted waits is reported as a failure.
func TestNewStateInterruptsAReleaseWait(t *testing.T) {
	site := kube.Start(t)
	cs := site.Client()
	charts := &chartStore{m: map[string][]byte{}}
	ha, err := helm.New(helm.Options{Config: site.RESTConfig(), Charts: charts, Poll: 100 * time.Millisecond,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	reg := apply.NewRegistry()
	ha.Register(reg)
	a, d := runEnrolled(t, reg)

	image := func() string {
		dep, err := cs.AppsV1().Deployments("apps").Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return dep.Spec.Template.Spec.Containers[0].Image
	}
	waiting := func(version string) func() bool {
		return func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			var spec wire.HelmRelease
			return a.applying.Name == "web" && json.Unmarshal(a.applying.Spec, &spec) == nil && spec.Version == version
		}
	}
	// Bounds far below the hour the release may wait: what is asserted is
	// that the wait is interrupted, not how fast.
	within := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 90 s (the release's wait is an hour): %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	v1 := charts.release(t, "1.0.0", "1.0", time.Hour)
	if !a.accept(context.Background(), state1(1, v1)) {
		t.Fatal("state 1 not taken")
	}
	within("version 1.0.0 installed and waited on", func() bool { return image() == "example.org/web:1.0" && waiting("1.0.0")() })

	// A changed release: the wait on 1.0.0 stops, 2.0.0 is upgraded to.
	v2 := charts.release(t, "2.0.0", "2.0", time.Hour)
	if !a.accept(context.Background(), state1(2, v2)) {
		t.Fatal("state 2 not taken")
	}
	within("version 2.0.0 upgraded to, its wait under way", func() bool { return image() == "example.org/web:2.0" && waiting("2.0.0")() })

	// Withdrawn: the wait on 2.0.0 stops and the release is uninstalled.
	if !a.accept(context.Background(), state1(3)) {
		t.Fatal("state 3 not taken")
	}
	within("the release uninstalled", func() bool {
		_, err := cs.AppsV1().Deployments("apps").Get(context.Background(), "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	j := journal(t, d)
	for _, st := range j.Objects {
		if st.State == wire.StateFailed {
			t.Errorf("an interrupted wait was reported as a failure: %+v", st)
		}
	}
	if strings.Contains(j.LastError, "context canceled") { // (else the link's: no AMP here)
		t.Errorf("last error %q: an interrupted wait is no error", j.LastError)
	}
}

// waiter is a site whose objects' applies wait (as a release waits to be
// ready) until their context ends or the test lets them finish.
type waiter struct {
	mu       sync.Mutex
	applying map[string]string // name → spec of the apply under way
	held     map[string]string // name → spec applied
	ended    []string          // "name spec: why" of each apply that ended
	finish   chan struct{}
}

func (w *waiter) Validate(string, json.RawMessage) error { return nil }

func (w *waiter) Apply(ctx context.Context, name string, spec json.RawMessage) ([]string, error) {
	w.mu.Lock()
	w.applying[name], w.held[name] = string(spec), string(spec)
	w.mu.Unlock()
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-w.finish:
	}
	w.mu.Lock()
	delete(w.applying, name)
	w.ended = append(w.ended, fmt.Sprintf("%s %s: %v", name, spec, err))
	w.mu.Unlock()
	return nil, err
}

func (w *waiter) Prune(_ context.Context, keep map[string]bool) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var gone []string
	for n := range w.held {
		if !keep[n] {
			delete(w.held, n)
			gone = append(gone, n)
		}
	}
	return gone, nil
}

func (w *waiter) state() (applying, held map[string]string, ended []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.applying), maps.Clone(w.held), slices.Clone(w.ended)
}

func waitObj(name, spec string) wire.Object {
	return wire.Object{Kind: "wait", Name: name, Spec: json.RawMessage(spec), Digest: wire.ObjectDigest(json.RawMessage(spec))}
}

// TestInterruptOnlyTheChangedObject: the apply under way is interrupted
// by a state that changes or withdraws its object, not by one that adds
// another object and leaves it as it is.
func TestInterruptOnlyTheChangedObject(t *testing.T) {
	w := &waiter{applying: map[string]string{}, held: map[string]string{}, finish: make(chan struct{})}
	reg := apply.NewRegistry()
	reg.Register("wait", w)
	a, d := runEnrolled(t, reg)
	applying := func(name, spec string) func() bool {
		return func() bool { cur, _, _ := w.state(); return cur[name] == spec }
	}

	a.accept(context.Background(), state1(1, waitObj("a", `{"v":1}`)))
	eventually(t, "a v1 applied and waiting", applying("a", `{"v":1}`))
	// Another object added, a unchanged: a's apply goes on.
	a.accept(context.Background(), state1(2, waitObj("a", `{"v":1}`), waitObj("b", `{"v":1}`)))
	time.Sleep(200 * time.Millisecond) // what must not happen has had its chance
	if cur, _, ended := w.state(); cur["a"] != `{"v":1}` || len(ended) != 0 {
		t.Fatalf("a's apply was interrupted by a state that left it as it was: applying %v, ended %v", cur, ended)
	}
	// a changed: its apply is interrupted and the new spec applied.
	a.accept(context.Background(), state1(3, waitObj("a", `{"v":2}`), waitObj("b", `{"v":1}`)))
	eventually(t, "a v2 applied", applying("a", `{"v":2}`))
	if _, _, ended := w.state(); len(ended) != 1 || ended[0] != `a {"v":1}: context canceled` {
		t.Fatalf("ended %v, want a v1 interrupted", ended)
	}
	// Withdrawn: interrupted; b is applied, then a pruned.
	a.accept(context.Background(), state1(4, waitObj("b", `{"v":1}`)))
	eventually(t, "a's apply interrupted and b's under way", func() bool {
		cur, _, ended := w.state()
		return len(ended) == 2 && ended[1] == `a {"v":2}: context canceled` && cur["b"] == `{"v":1}`
	})
	close(w.finish)
	eventually(t, "a pruned, b applied and reported", func() bool {
		_, held, _ := w.state()
		_, has := held["a"]
		j := journal(t, d)
		return !has && len(j.Objects) == 1 && j.Objects[0].Name == "b" && j.Objects[0].State == wire.StateApplied
	})
	// (The last error is the link's: this agent's AMP is not there.)
	if j := journal(t, d); strings.Contains(j.LastError, "context canceled") {
		t.Errorf("last error %q: an interrupted apply is no error", j.LastError)
	}
}

// runEnrolled runs an agent, enrolled, that applies with reg, until the
// test ends; it returns the agent and its state directory.
func runEnrolled(t *testing.T, reg *apply.Registry) (*Agent, *state.Dir) {
	t.Helper()
	d, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	enrol(t, d, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	a, err := New(Options{Dir: d, Registry: reg, Interval: time.Second, Wait: time.Second,
		Backoff: link.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 1},
		Log:     slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a, d
}
