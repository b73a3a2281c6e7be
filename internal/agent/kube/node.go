package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// ManagedAnnotation is the node annotation recording what AMP manages on
// the node: {"labels":[keys],"taints":["key:Effect",…]}. A key AMP no
// longer declares is removed; a key it never managed is left alone.
const ManagedAnnotation = "amp.edge/managed"

// NodeSpec is the spec of kind "node": the labels and taints AMP declares
// for the node (taints as "key=value:Effect" or "key:Effect").
type NodeSpec struct {
	Labels map[string]string `json:"labels,omitempty"`
	Taints []string          `json:"taints,omitempty"`
}

// managed is the content of ManagedAnnotation.
type managed struct {
	Labels []string `json:"labels"`
	Taints []string `json:"taints"` // key:Effect, a taint's identity
}

// Nodes applies kind "node".
type Nodes struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	watching atomic.Bool
}

func decodeNode(raw json.RawMessage) (NodeSpec, []corev1.Taint, error) {
	var s NodeSpec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, nil, err
	}
	for k, v := range s.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return s, nil, fmt.Errorf("labels: key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return s, nil, fmt.Errorf("labels: %s: value %q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	var taints []corev1.Taint
	seen := map[string]bool{}
	for i, t := range s.Taints {
		tt, err := parseTaint(t)
		if err != nil {
			return s, nil, fmt.Errorf("taints[%d]: %w", i, err)
		}
		if seen[taintID(tt)] {
			return s, nil, fmt.Errorf("taints[%d]: %q: the key %s with effect %s is declared twice", i, t, tt.Key, tt.Effect)
		}
		seen[taintID(tt)] = true
		taints = append(taints, tt)
	}
	return s, taints, nil
}

// parseTaint reads "key=value:Effect" or "key:Effect".
func parseTaint(s string) (corev1.Taint, error) {
	var t corev1.Taint
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return t, fmt.Errorf("%q: want key=value:Effect or key:Effect", s)
	}
	kv, effect := s[:i], s[i+1:]
	t.Key, t.Value, _ = strings.Cut(kv, "=")
	t.Effect = corev1.TaintEffect(effect)
	if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
		return t, fmt.Errorf("%q: key: %s", s, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(t.Value); len(errs) > 0 {
		return t, fmt.Errorf("%q: value: %s", s, strings.Join(errs, "; "))
	}
	switch t.Effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return t, fmt.Errorf("%q: effect %q: want NoSchedule, PreferNoSchedule or NoExecute", s, effect)
	}
	return t, nil
}

func taintID(t corev1.Taint) string { return t.Key + ":" + string(t.Effect) }

func taintString(t corev1.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}

// Validate checks the node's name and spec.
func (a *Nodes) Validate(name string, raw json.RawMessage) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("name %q: %s", name, strings.Join(errs, "; "))
	}
	_, _, err := decodeNode(raw)
	return err
}

// Apply sets exactly the declared labels and taints on the node, removes
// those AMP managed and no longer declares, and reads the node back: the
// object the API answered the update with or, when nothing needed
// writing, the node as read. Once the nodes are watched it reads them
// from the watch's cache, so re-applying a node that holds its
// declaration costs the API nothing; a cache behind the API shows as a
// conflict on the update, and the retry reads the API.
func (a *Nodes) Apply(ctx context.Context, name string, raw json.RawMessage) ([]string, error) {
	spec, taints, err := decodeNode(raw)
	if err != nil {
		return nil, err
	}
	var changed []string
	fresh := false
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := a.get(ctx, name, fresh)
		fresh = true
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("node %s is not in the cluster (it is applied when it joins)", name)
		}
		if err != nil {
			return err
		}
		var dirty bool
		changed, dirty = reconcileNode(n, spec, taints)
		if !dirty {
			return nil
		}
		n, err = a.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{FieldManager: "amp-agent"})
		if err != nil {
			return err
		}
		if left, dirty := reconcileNode(n, spec, taints); dirty {
			return fmt.Errorf("read back node %s: it still differs (%s)", name, strings.Join(left, "; "))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// get reads a node for a change: from the watch's cache while the nodes
// are watched and fresh is false, else (or when the cache does not hold
// it yet: it may have just joined) from the API. The node is a copy the
// caller may change.
func (a *Nodes) get(ctx context.Context, name string, fresh bool) (*corev1.Node, error) {
	if !fresh && a.watching.Load() {
		n, err := a.factory.Core().V1().Nodes().Lister().Get(name)
		if err == nil {
			return n.DeepCopy(), nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return a.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
}

// list reads every node: from the watch's cache while the nodes are
// watched, else with one LIST. The nodes are shared: read them only.
func (a *Nodes) list(ctx context.Context) ([]*corev1.Node, error) {
	if a.watching.Load() {
		return a.factory.Core().V1().Nodes().Lister().List(labels.Everything())
	}
	l, err := a.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the nodes: %w", err)
	}
	nodes := make([]*corev1.Node, len(l.Items))
	for i := range l.Items {
		nodes[i] = &l.Items[i]
	}
	return nodes, nil
}

// reconcileNode changes n to hold spec, removing what the annotation
// says AMP managed and spec no longer declares. It returns the changes a
// person would notice (labels and taints) and whether n needs writing at
// all (the annotation may change alone).
func reconcileNode(n *corev1.Node, spec NodeSpec, taints []corev1.Taint) ([]string, bool) {
	var prev managed
	if s, ok := n.Annotations[ManagedAnnotation]; ok {
		// A malformed annotation (edited by hand) manages nothing: AMP
		// then removes nothing it cannot prove it put there.
		_ = json.Unmarshal([]byte(s), &prev)
	}
	var changed []string
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for _, k := range prev.Labels {
		if _, declared := spec.Labels[k]; !declared {
			if v, ok := n.Labels[k]; ok {
				delete(n.Labels, k)
				changed = append(changed, fmt.Sprintf("remove label %s=%s", k, v))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Labels)) {
		want := spec.Labels[k]
		switch v, ok := n.Labels[k]; {
		case !ok:
			changed = append(changed, fmt.Sprintf("label %s=%s", k, want))
		case v != want:
			changed = append(changed, fmt.Sprintf("label %s: %s -> %s", k, v, want))
		default:
			continue
		}
		n.Labels[k] = want
	}

	want := map[string]corev1.Taint{}
	for _, t := range taints {
		want[taintID(t)] = t
	}
	wasManaged := map[string]bool{}
	for _, id := range prev.Taints {
		wasManaged[id] = true
	}
	var kept []corev1.Taint
	have := map[string]bool{}
	for _, t := range n.Spec.Taints {
		id := taintID(t)
		w, declared := want[id]
		switch {
		case declared && t.Value != w.Value:
			changed = append(changed, fmt.Sprintf("taint %s -> %s", taintString(t), taintString(w)))
			t.Value = w.Value
		case !declared && wasManaged[id]:
			changed = append(changed, "remove taint "+taintString(t))
			continue
		}
		have[id] = true
		kept = append(kept, t)
	}
	for _, t := range taints {
		if !have[taintID(t)] {
			changed = append(changed, "taint "+taintString(t))
			kept = append(kept, t)
		}
	}
	n.Spec.Taints = kept

	now := managed{Labels: slices.Sorted(maps.Keys(spec.Labels)), Taints: slices.Sorted(maps.Keys(want))}
	if now.Labels == nil {
		now.Labels = []string{}
	}
	if now.Taints == nil {
		now.Taints = []string{}
	}
	b, _ := json.Marshal(now)
	dirty := len(changed) > 0
	if n.Annotations[ManagedAnnotation] != string(b) {
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[ManagedAnnotation] = string(b)
		dirty = true
	}
	return changed, dirty
}

// Prune removes, from every node AMP manages and keep does not name, the
// labels and taints AMP put there, and its annotation.
func (a *Nodes) Prune(ctx context.Context, keep map[string]bool) ([]string, error) {
	nodes, err := a.list(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range nodes {
		if _, ok := n.Annotations[ManagedAnnotation]; !ok || keep[n.Name] {
			continue
		}
		fresh := false
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := a.get(ctx, n.Name, fresh)
			fresh = true
			if err != nil {
				return err
			}
			if _, ok := cur.Annotations[ManagedAnnotation]; !ok {
				return nil
			}
			// An empty declaration removes what AMP managed; then the
			// annotation goes too.
			reconcileNode(cur, NodeSpec{}, nil)
			delete(cur.Annotations, ManagedAnnotation)
			_, err = a.client.CoreV1().Nodes().Update(ctx, cur, metav1.UpdateOptions{FieldManager: "amp-agent"})
			return err
		})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
		default:
			removed = append(removed, n.Name)
		}
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}

// Watch reports nodes whose labels, taints or AMP annotation changed, and
// nodes that joined (a declared node is applied when it appears).
func (a *Nodes) Watch(ctx context.Context, changed func(name string)) error {
	inf := a.factory.Core().V1().Nodes().Informer()
	err := watch(ctx, a.factory, inf, cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { changed(nameOf(obj)) },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Node)
			n, ok2 := newObj.(*corev1.Node)
			// Status heartbeats change neither: ignore them.
			if !ok1 || !ok2 || !maps.Equal(o.Labels, n.Labels) || !slices.EqualFunc(o.Spec.Taints, n.Spec.Taints, func(x, y corev1.Taint) bool { return taintString(x) == taintString(y) }) ||
				o.Annotations[ManagedAnnotation] != n.Annotations[ManagedAnnotation] {
				changed(nameOf(newObj))
			}
		},
	})
	if err != nil {
		return err
	}
	a.watching.Store(true)
	return nil
}
