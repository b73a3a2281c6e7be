// Package kube is the edge agent's cluster applier: it keeps the declared
// node labels and taints (kind "node") and the declared namespaces (kind
// "namespace") on the site's own Kubernetes API through client-go,
// watches Nodes and Namespaces (informers) so a change made by hand is
// corrected at once and reported as drift, and reads the cluster's facts
// (server version; nodes with their labels, taints and readiness).
//
// What AMP manages is marked at the site, so that it removes only what it
// put there: a node's managed label keys and taints are recorded in its
// annotation amp.edge/managed, and the namespaces AMP created carry the
// label app.kubernetes.io/managed-by=amp.
//
// It imports client-go, internal/agent/apply and internal/edge/wire.
package kube

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/edge/wire"
)

// The kinds this applier registers.
const (
	KindNode      = "node"
	KindNamespace = "namespace"
)

// Config is the client configuration of the local Kubernetes API, found
// as kubectl finds it: the kubeconfig file when given; else the pod's
// in-cluster configuration; else $KUBECONFIG, which may list several
// files (a:b, merged as kubectl merges them: the first file to set a
// value wins, a missing file is skipped).
func Config(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		c, err := rest.InClusterConfig()
		if err == nil {
			return c, nil
		}
		if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" {
			return nil, fmt.Errorf("no Kubernetes API: not in a pod (%v) and $KUBECONFIG is empty; give --kubeconfig", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	switch {
	case err != nil && kubeconfig != "":
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	case err != nil:
		return nil, fmt.Errorf("$KUBECONFIG %s: %w", os.Getenv(clientcmd.RecommendedConfigPathEnvVar), err)
	}
	return c, nil
}

// Cluster is the applier of one Kubernetes cluster.
type Cluster struct {
	client     kubernetes.Interface
	factory    informers.SharedInformerFactory
	Nodes      *Nodes
	Namespaces *Namespaces
}

// New is the applier of the cluster client talks to.
func New(client kubernetes.Interface) *Cluster {
	f := informers.NewSharedInformerFactory(client, 0)
	return &Cluster{
		client:     client,
		factory:    f,
		Nodes:      &Nodes{client: client, factory: f},
		Namespaces: &Namespaces{client: client, factory: f},
	}
}

// Register adds the cluster's kinds to r: namespaces first (what lives in
// a namespace is applied after it), then nodes.
func (c *Cluster) Register(r *apply.Registry) {
	r.Register(KindNamespace, c.Namespaces)
	r.Register(KindNode, c.Nodes)
}

// Facts reads the cluster's version and nodes: from the informer's cache
// once the nodes are watched (a check-in then costs the API nothing but
// /version), else from the API.
func (c *Cluster) Facts(ctx context.Context) (wire.Facts, error) {
	var f wire.Facts
	v, err := c.client.Discovery().ServerVersion()
	if err != nil {
		return f, fmt.Errorf("the Kubernetes version: %w", err)
	}
	f.KubernetesVersion = v.GitVersion
	nodes, err := c.Nodes.list(ctx)
	if err != nil {
		return f, err
	}
	f.Nodes = make([]wire.Node, 0, len(nodes))
	for _, n := range nodes {
		wn := wire.Node{Name: n.Name, Labels: n.Labels}
		for _, t := range n.Spec.Taints {
			wn.Taints = append(wn.Taints, taintString(t))
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				wn.Ready = cond.Status == corev1.ConditionTrue
			}
		}
		f.Nodes = append(f.Nodes, wn)
	}
	sort.Slice(f.Nodes, func(i, j int) bool { return f.Nodes[i].Name < f.Nodes[j].Name })
	return f, nil
}

// watch registers handler with an informer, starts the informers and
// returns once its cache is filled.
func watch(ctx context.Context, f informers.SharedInformerFactory, inf cache.SharedIndexInformer, h cache.ResourceEventHandler) error {
	if _, err := inf.AddEventHandler(h); err != nil {
		return err
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("the Kubernetes watch did not start: %w", context.Cause(ctx))
	}
	return nil
}

// nameOf is the name of a cluster-scoped object an informer handed over,
// including the tombstone of a deletion it saw late.
func nameOf(obj any) string {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(key, "/")
}
