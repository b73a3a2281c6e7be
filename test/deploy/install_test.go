package deploy

import (
	"context"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/amp-edge/amp/internal/testenv/kube"
)

// install installs a chart with its default values into the cluster as
// `helm install --create-namespace` does, without waiting for pods (no
// kubelet runs here: they stay Pending).
func install(t *testing.T, site *kube.Cluster, chartName, namespace string) *release.Release {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &site.Kubeconfig, &namespace
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.CreateNamespace, in.Wait = chartName, namespace, true, false
	rel, err := in.Run(loadChart(t, chartName), nil)
	if err != nil {
		t.Fatalf("helm install %s: %v", chartName, err)
	}
	if rel.Info.Status != release.StatusDeployed {
		t.Fatalf("release %s is %s", chartName, rel.Info.Status)
	}
	return rel
}

// TestInstallIntoKubernetes: both charts install into a real kube-apiserver,
// which stores every object they render; and the agent's service account
// may do what the applier needs and nothing else, as the API server's
// RBAC decides.
func TestInstallIntoKubernetes(t *testing.T) {
	site := kube.Start(t)
	ctx := context.Background()
	cs := site.Client()

	for _, tc := range []struct{ chart, namespace string }{{"amp-agent", "amp-agent"}, {"amp-serve", "amp"}} {
		rel := install(t, site, tc.chart, tc.namespace)
		// Every object the chart renders is there, as rendered.
		for key := range decode(t, rel.Manifest) {
			kind, name, _ := strings.Cut(key, "/")
			var err error
			switch kind {
			case "ServiceAccount":
				_, err = cs.CoreV1().ServiceAccounts(tc.namespace).Get(ctx, name, metav1.GetOptions{})
			case "PersistentVolumeClaim":
				_, err = cs.CoreV1().PersistentVolumeClaims(tc.namespace).Get(ctx, name, metav1.GetOptions{})
			case "Service":
				_, err = cs.CoreV1().Services(tc.namespace).Get(ctx, name, metav1.GetOptions{})
			case "ClusterRole":
				_, err = cs.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
			case "ClusterRoleBinding":
				_, err = cs.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
			case "Deployment":
				_, err = cs.AppsV1().Deployments(tc.namespace).Get(ctx, name, metav1.GetOptions{})
			case "StatefulSet":
				_, err = cs.AppsV1().StatefulSets(tc.namespace).Get(ctx, name, metav1.GetOptions{})
			default:
				t.Errorf("%s: rendered kind %s not checked", tc.chart, kind)
				continue
			}
			if err != nil {
				t.Errorf("%s: %s not in the cluster: %v", tc.chart, key, err)
			}
		}
	}

	d, err := cs.AppsV1().Deployments("amp-agent").Get(ctx, "amp-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 1 || d.Spec.Template.Spec.Volumes[0].Name != "state" {
		t.Errorf("agent deployment as stored: replicas %d, volumes %+v", *d.Spec.Replicas, d.Spec.Template.Spec.Volumes)
	}
	ss, err := cs.AppsV1().StatefulSets("amp").Get(ctx, "amp-serve", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("amp serve stateful set as stored: claim templates %+v", ss.Spec.VolumeClaimTemplates)
	}

	// What the agent's service account may do, asked of the API server.
	agent := "system:serviceaccount:amp-agent:amp-agent"
	for _, tc := range []struct {
		verb, resource, group, namespace string
		allowed                          bool
	}{
		{"patch", "nodes", "", "", true},
		{"watch", "nodes", "", "", true},
		{"update", "nodes", "", "", true},
		{"create", "namespaces", "", "", true},
		{"delete", "namespaces", "", "", true},
		{"list", "namespaces", "", "", true},
		{"delete", "nodes", "", "", false},
		{"create", "nodes", "", "", false},
		{"get", "secrets", "", "amp-agent", false},
		{"list", "secrets", "", "kube-system", false},
		{"list", "pods", "", "", false},
		{"create", "deployments", "apps", "amp-agent", false},
		{"update", "clusterroles", "rbac.authorization.k8s.io", "", false},
		{"patch", "nodes/status", "", "", false},
	} {
		sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User:   agent,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:amp-agent", "system:authenticated"},
			ResourceAttributes: &authzv1.ResourceAttributes{
				Verb: tc.verb, Resource: tc.resource, Group: tc.group, Namespace: tc.namespace,
			},
		}}
		if r, sub, ok := strings.Cut(tc.resource, "/"); ok {
			sar.Spec.ResourceAttributes.Resource, sar.Spec.ResourceAttributes.Subresource = r, sub
		}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != tc.allowed {
			t.Errorf("agent may %s %s in %q: %v, want %v", tc.verb, tc.resource, tc.namespace, got.Status.Allowed, tc.allowed)
		}
	}
}
