package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

// The label of the namespaces AMP created: only those are ever deleted
// by it.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByAMP   = "amp"
)

// Namespaces applies kind "namespace" (spec {}).
type Namespaces struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	watching atomic.Bool
}

// Validate checks the namespace's name and that its spec is {}.
func (a *Namespaces) Validate(name string, raw json.RawMessage) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("name %q: %s", name, strings.Join(errs, "; "))
	}
	var spec struct{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("a namespace's spec is {}: %w", err)
	}
	return nil
}

// Apply creates the namespace, labelled as AMP's, when it is missing. A
// namespace that already existed without the label is left as it is (and
// so never deleted by AMP). Once the namespaces are watched it reads them
// from the watch's cache: re-applying one that exists costs the API
// nothing.
func (a *Namespaces) Apply(ctx context.Context, name string, raw json.RawMessage) ([]string, error) {
	if err := a.Validate(name, raw); err != nil {
		return nil, err
	}
	var changed []string
	ns, err := a.get(ctx, name)
	if apierrors.IsNotFound(err) {
		_, err = a.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: name, Labels: map[string]string{ManagedByLabel: ManagedByAMP},
		}}, metav1.CreateOptions{FieldManager: "amp-agent"})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create namespace %s: %w", name, err)
		}
		if err == nil {
			changed = append(changed, "create namespace "+name)
		}
		ns, err = a.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return changed, fmt.Errorf("read back namespace %s: %w", name, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp != nil {
		return changed, fmt.Errorf("namespace %s is being deleted; it is created again once it is gone", name)
	}
	return changed, nil
}

// get reads a namespace: from the watch's cache while the namespaces are
// watched (from the API when the cache does not hold it: it may have just
// been created), else from the API. Read it only.
func (a *Namespaces) get(ctx context.Context, name string) (*corev1.Namespace, error) {
	if a.watching.Load() {
		ns, err := a.factory.Core().V1().Namespaces().Lister().Get(name)
		if !apierrors.IsNotFound(err) {
			return ns, err
		}
	}
	return a.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
}

// managedByAMP lists the namespaces AMP created: from the watch's cache
// while the namespaces are watched, else with one LIST. Read them only.
func (a *Namespaces) managedByAMP(ctx context.Context) ([]*corev1.Namespace, error) {
	sel := labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedByAMP})
	if a.watching.Load() {
		return a.factory.Core().V1().Namespaces().Lister().List(sel)
	}
	l, err := a.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list the namespaces: %w", err)
	}
	nss := make([]*corev1.Namespace, len(l.Items))
	for i := range l.Items {
		nss[i] = &l.Items[i]
	}
	return nss, nil
}

// Prune deletes the namespaces AMP created that keep does not name.
func (a *Namespaces) Prune(ctx context.Context, keep map[string]bool) ([]string, error) {
	nss, err := a.managedByAMP(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, ns := range nss {
		if keep[ns.Name] || ns.DeletionTimestamp != nil {
			continue
		}
		// The precondition: delete the namespace listed, not one created
		// again under its name since.
		uid := ns.UID
		err := a.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns.Name, err))
		default:
			removed = append(removed, ns.Name)
		}
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}

// Watch reports namespaces deleted, or whose labels or deletion state
// changed.
func (a *Namespaces) Watch(ctx context.Context, changed func(name string)) error {
	inf := a.factory.Core().V1().Namespaces().Informer()
	err := watch(ctx, a.factory, inf, cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) { changed(nameOf(obj)) },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Namespace)
			n, ok2 := newObj.(*corev1.Namespace)
			if !ok1 || !ok2 || o.Labels[ManagedByLabel] != n.Labels[ManagedByLabel] || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) {
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
