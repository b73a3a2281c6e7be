// Package sealedsecrets runs Bitnami's real sealed-secrets controller
// against a simulated site (internal/testenv/kube) and finds the real
// kubeseal, both built from the Go module proxy by scripts/test-deps.sh.
// It is imported only by tests.
//
// The controller reads its Kubernetes credentials only as a pod does
// (rest.InClusterConfig: $KUBERNETES_SERVICE_HOST/PORT and the files under
// /var/run/secrets/kubernetes.io/serviceaccount), so it runs in a mount
// namespace of its own (unshare) where a tmpfs over /run holds a service
// account token of the site and the site's CA: nothing is written outside
// the test's directory.
package sealedsecrets

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/internal/testenv/kube"
	"github.com/amp-edge/amp/internal/testenv/toolcache"
)

// Version is the sealed-secrets release scripts/test-deps.sh builds.
const Version = "0.40.0"

//go:embed testdata/bitnami.com_sealedsecrets.yaml
var crdYAML []byte

// Resource is the SealedSecret resource.
var Resource = schema.GroupVersionResource{Group: "bitnami.com", Version: "v1alpha1", Resource: "sealedsecrets"}

// Dir is where scripts/test-deps.sh puts the controller and kubeseal.
func Dir() string { return toolcache.Dir("sealed-secrets-v" + Version) }

func binary(t testing.TB, name string) string {
	t.Helper()
	return toolcache.Binary(t, "", "sealed-secrets-v"+Version, name)
}

// Kubeseal is the real kubeseal; the test fails when it is missing.
func Kubeseal(t testing.TB) string { return binary(t, "kubeseal") }

// Controller is a running sealed-secrets controller.
type Controller struct {
	URL string // its HTTP API: /v1/cert.pem
	Dyn dynamic.Interface
	log *lockedBuffer
}

// InstallCRD creates the SealedSecret CRD on the site and waits until it
// is served.
func InstallCRD(t testing.TB, site *kube.Cluster) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(site.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	var crd unstructured.Unstructured
	if err := yaml.Unmarshal(crdYAML, &crd.Object); err != nil {
		t.Fatal(err)
	}
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	ctx := context.Background()
	if _, err := dyn.Resource(crds).Create(ctx, &crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the SealedSecret CRD: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := dyn.Resource(Resource).Namespace("default").List(ctx, metav1.ListOptions{}); err == nil {
			return dyn
		} else if time.Now().After(deadline) {
			t.Fatalf("the SealedSecret CRD is not served: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Start installs the CRD and runs the controller against site, with a
// cluster-admin service account in kube-system (where it keeps its keys),
// and waits until it serves its certificate. It stops when the test ends.
func Start(t testing.TB, site *kube.Cluster) *Controller {
	t.Helper()
	bin := binary(t, "controller")
	dyn := InstallCRD(t, site)
	token := serviceAccountToken(t, site)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"token": []byte(token), "namespace": []byte("kube-system")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := os.ReadFile(site.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(site.URL, "https://"), ":")
	listen, metrics := "127.0.0.1:"+etcd.FreePort(t), "127.0.0.1:"+etcd.FreePort(t)
	sa := "/run/secrets/kubernetes.io/serviceaccount"
	script := fmt.Sprintf("mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p %[1]s && cp %[2]s/token %[2]s/ca.crt %[2]s/namespace %[1]s/ && exec %[3]s --listen-addr %[4]s --listen-metrics-addr %[5]s",
		sa, dir, bin, listen, metrics)
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port, "POD_NAMESPACE=kube-system")
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the sealed-secrets controller (unshare): %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c := &Controller{URL: "http://" + listen, Dyn: dyn, log: log}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("sealed-secrets controller log:\n%s", c.Log())
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-exited:
			t.Fatalf("the sealed-secrets controller exited; its log:\n%s", c.Log())
		default:
		}
		if _, err := c.Cert(); err == nil {
			return c
		} else if time.Now().After(deadline) {
			t.Fatalf("the sealed-secrets controller serves no certificate: %v; its log:\n%s", err, c.Log())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// Cert fetches the controller's sealing certificate (PEM), as kubeseal
// --fetch-cert does.
func (c *Controller) Cert() ([]byte, error) {
	resp, err := http.Get(c.URL + "/v1/cert.pem")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/cert.pem: %s: %s", resp.Status, b)
	}
	return b, nil
}

// Log is what the controller wrote.
func (c *Controller) Log() string { return c.log.String() }

// serviceAccountToken makes kube-system/sealed-secrets-controller a
// cluster admin and returns a token of it (the TokenRequest API).
func serviceAccountToken(t testing.TB, site *kube.Cluster) string {
	t.Helper()
	ctx := context.Background()
	cs := site.Client()
	const ns, name = "kube-system", "sealed-secrets-controller"
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hour := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a token of the controller's service account: %v", err)
	}
	return tr.Status.Token
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
