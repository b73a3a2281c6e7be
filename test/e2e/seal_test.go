package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/amp-edge/amp/internal/testenv"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
	"github.com/amp-edge/amp/internal/testenv/sealedsecrets"
)

// ampSeal runs `amp seal args…` with stdin and returns stdout, or fails
// the test with stderr.
func ampSeal(t *testing.T, env []string, stdin string, args ...string) []byte {
	t.Helper()
	out, stderr, err := runAmpSeal(t, env, stdin, args...)
	if err != nil {
		t.Fatalf("amp seal %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func runAmpSeal(t *testing.T, env []string, stdin string, args ...string) ([]byte, string, error) {
	cmd := exec.Command(testenv.Binary(t), append([]string{"seal"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return out, stderr.String(), err
}

func secretYAML(namespace, name, password string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {app: db}\nstringData:\n  password: %q\n", name, namespace, password)
}

// secretData waits for namespace/name at the site and returns its data.
func secretData(t *testing.T, cs kubernetes.Interface, namespace, name, want string) {
	t.Helper()
	waitWithin(t, 2*time.Minute, func() bool {
		s, err := cs.CoreV1().Secrets(namespace).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && string(s.Data["password"]) == want
	}, fmt.Sprintf("secret %s/%s with password %q at the site", namespace, name, want))
}

func makeNamespaces(t *testing.T, cs kubernetes.Interface, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSealWithController: `amp seal` with the certificate of Bitnami's
// real sealed-secrets controller (v0.40.0, running against a real
// kube-apiserver), each scope: the controller unseals what AMP sealed;
// a strict SealedSecret moved to another namespace is refused by the
// controller, a cluster-wide one moved opens; a --raw value in a
// hand-written SealedSecret opens; bad input is refused naming the field.
func TestSealWithController(t *testing.T) {
	site := kubeenv.Start(t)
	ctrl := sealedsecrets.Start(t, site)
	cs := site.Client()
	makeNamespaces(t, cs, "apps", "moved")
	cert, err := ctrl.Cert()
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(t.TempDir(), "controller.pem")
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	apply := func(manifest []byte, namespace string, edit func(o *unstructured.Unstructured)) {
		t.Helper()
		var o unstructured.Unstructured
		if err := json.Unmarshal(manifest, &o.Object); err != nil {
			t.Fatalf("%v: %s", err, manifest)
		}
		if edit != nil {
			edit(&o)
		}
		if _, err := ctrl.Dyn.Resource(sealedsecrets.Resource).Namespace(namespace).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create SealedSecret %s/%s: %v", namespace, o.GetName(), err)
		}
	}
	sealed := map[string][]byte{}
	for _, scope := range []string{"strict", "namespace-wide", "cluster-wide"} {
		name := "db-" + scope
		in := filepath.Join(t.TempDir(), "secret.yaml")
		if err := os.WriteFile(in, []byte(secretYAML("apps", name, "pw-"+scope)), 0o600); err != nil {
			t.Fatal(err)
		}
		out := ampSeal(t, nil, "", in, "--cert", certFile, "--scope", scope, "-o", "json")
		if bytes.Contains(out, []byte("pw-"+scope)) {
			t.Fatalf("the clear value is in the SealedSecret: %s", out)
		}
		sealed[scope] = out
		apply(out, "apps", nil)
		secretData(t, cs, "apps", name, "pw-"+scope)
	}
	s, _ := cs.CoreV1().Secrets("apps").Get(ctx, "db-strict", metav1.GetOptions{})
	if s.Labels["app"] != "db" || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "SealedSecret" {
		t.Fatalf("the controller's Secret: labels %v, owners %v", s.Labels, s.OwnerReferences)
	}

	// Moved to another namespace: strict is refused by the controller (it
	// reports why on the SealedSecret), cluster-wide opens.
	apply(sealed["strict"], "moved", func(o *unstructured.Unstructured) { o.SetNamespace("moved") })
	apply(sealed["cluster-wide"], "moved", func(o *unstructured.Unstructured) { o.SetNamespace("moved") })
	secretData(t, cs, "moved", "db-cluster-wide", "pw-cluster-wide")
	waitWithin(t, 2*time.Minute, func() bool {
		o, err := ctrl.Dyn.Resource(sealedsecrets.Resource).Namespace("moved").Get(ctx, "db-strict", metav1.GetOptions{})
		if err != nil {
			return false
		}
		conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Synced" && m["status"] == "False" && strings.Contains(fmt.Sprint(m["message"]), "no key could decrypt secret") {
				return true
			}
		}
		return false
	}, "the controller refuses the strict SealedSecret moved to another namespace")
	if _, err := cs.CoreV1().Secrets("moved").Get(ctx, "db-strict", metav1.GetOptions{}); err == nil {
		t.Fatal("a strict SealedSecret moved to another namespace was unsealed")
	}

	// --raw: one value, in a SealedSecret written by hand.
	raw := strings.TrimSpace(string(ampSeal(t, nil, "raw-pw", "--raw", "--cert", certFile, "--namespace", "apps", "--name", "db-raw")))
	apply([]byte(fmt.Sprintf(`{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{"name":"db-raw","namespace":"apps"},
		"spec":{"template":{"metadata":{"name":"db-raw","namespace":"apps"}},"encryptedData":{"password":%q}}}`, raw)), "apps", nil)
	secretData(t, cs, "apps", "db-raw", "raw-pw")

	// Refusals name the field (and need no server).
	for _, tc := range []struct{ stdin, want string }{
		{"apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData: {a: b}\n", "metadata.namespace"},
		{"apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: apps}\ndata: {a: '%%%'}\n", "data.a: not base64"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: apps}\ndata: {a: Yg==}\n", "kind:"},
	} {
		_, stderr, err := runAmpSeal(t, nil, tc.stdin, "--cert", certFile)
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("amp seal of %q: %v, stderr %q, want %q", tc.stdin, err, stderr, tc.want)
		}
	}
}

// TestSealAgentUnseal: a site without the controller. AMP makes the
// cluster's key (amp seal --fetch-cert), the REAL kubeseal seals a Secret
// with it, the SealedSecret is declared in the fleet set, and the
// cluster's `amp agent` unseals it into the site's kube-apiserver. After
// a key renewal, kubeseal's new SealedSecret (new key) and the old one
// (old key) both hold at the site, and so does amp seal's. A bad manifest is refused at commit;
// no answer carries a private key; amp backup carries them; the metrics
// count the keys.
func TestSealAgentUnseal(t *testing.T) {
	kubeseal := sealedsecrets.Kubeseal(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "1s")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"cluster":[{"cluster-id":"edge-s","kubernetes-version":"v1.35.4","namespace":["apps"],
		"node":[{"name":"s-1","host":"10.9.2.1","role":["worker"]}]}]}`)
	env := s.Env()
	site := &edgeSite{cluster: "edge-s", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent")}
	site.kube.AddNode(t, "s-1", nil, nil, true)

	certFile := filepath.Join(t.TempDir(), "edge-s.pem")
	cert := ampSeal(t, env, "", "--fetch-cert", "--cluster", "edge-s")
	if !bytes.HasPrefix(cert, []byte("-----BEGIN CERTIFICATE-----")) || bytes.Contains(cert, []byte("PRIVATE")) {
		t.Fatalf("the seal key answer: %s", cert)
	}
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	kubesealJSON := func(secret string) string {
		t.Helper()
		cmd := exec.Command(kubeseal, "--cert", certFile, "--format", "json")
		cmd.Stdin = strings.NewReader(secret)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubeseal: %v\n%s", err, stderr.String())
		}
		return string(out)
	}
	declare := func(id, manifest string) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"secret-id": id, "manifest": manifest})
		s.Must(t, 200, "PUT", "/fleet/v1.0.0/sealing/edge-s/sealed-secret/"+id, string(b))
	}
	declare("db", kubesealJSON(secretYAML("apps", "db", "first")))

	// Refused at commit, naming the manifest: a Secret in clear.
	code, body, _, _ := s.Do(context.Background(), "PUT", "/fleet/v1.0.0/sealing/edge-s/sealed-secret/clear",
		`{"secret-id":"clear","manifest":"apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: apps}\nstringData: {a: b}\n"}`)
	if code != 400 || !strings.Contains(string(body), "/fleet/v1.0.0/sealing/edge-s/sealed-secret/clear/manifest") {
		t.Fatalf("a Secret in clear declared: %d %s", code, body)
	}

	site.enrol(t, s)
	site.agent = startAgent(t, "--dir", site.dir, "--kubeconfig", site.kube.Kubeconfig)
	cs := site.client()
	secretData(t, cs, "apps", "db", "first")
	if got, _ := cs.CoreV1().Secrets("apps").Get(context.Background(), "db", metav1.GetOptions{}); got.Labels["amp.edge/sealed-secret"] != "db" || got.Labels["app"] != "db" {
		t.Fatalf("the unsealed Secret's labels: %v", got.Labels)
	}

	// Renewal: a new active key; kubeseal with the new certificate; both
	// SealedSecrets hold at the site.
	out := ampSeal(t, env, "", "--renew-key", "--cluster", "edge-s")
	if !strings.Contains(string(out), "new active sealing key") || !strings.Contains(string(out), "(2 keys") {
		t.Fatalf("amp seal --renew-key: %s", out)
	}
	newCert := ampSeal(t, env, "", "--fetch-cert", "--cluster", "edge-s")
	if bytes.Equal(newCert, cert) {
		t.Fatal("the certificate did not change with the renewal")
	}
	if err := os.WriteFile(certFile, newCert, 0o600); err != nil {
		t.Fatal(err)
	}
	declare("db2", kubesealJSON(secretYAML("apps", "db2", "second")))
	secretData(t, cs, "apps", "db2", "second")
	// amp seal itself, with the key fetched from AMP, YAML out.
	declare("db3", string(ampSeal(t, env, secretYAML("apps", "db3", "third"), "--cluster", "edge-s", "--scope", "namespace-wide")))
	secretData(t, cs, "apps", "db3", "third")
	waitWithin(t, time.Minute, func() bool {
		st := clusterStatus(t, env, "edge-s")
		return st["in-sync"] == true
	}, "edge-s in sync: every object applied, the old SealedSecret too")
	secretData(t, cs, "apps", "db", "first")

	// Undeclared: the Secret goes.
	s.Must(t, 200, "DELETE", "/fleet/v1.0.0/sealing/edge-s/sealed-secret/db2", "")
	waitWithin(t, time.Minute, func() bool {
		_, err := cs.CoreV1().Secrets("apps").Get(context.Background(), "db2", metav1.GetOptions{})
		return err != nil
	}, "the undeclared sealed secret's Secret deleted at the site")

	// No answer carries a private key; the keys' metrics.
	for _, p := range []string{"/fleet/v1.0.0/sealing/edge-s", "/clusters/edge-s/seal-key", "/clusters/edge-s/status"} {
		if b := s.Must(t, 200, "GET", p, ""); bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Fatalf("GET %s answers a private key", p)
		}
	}
	metrics := string(s.Must(t, 200, "GET", "/metrics", ""))
	if !strings.Contains(metrics, `amp_seal_keys{cluster="edge-s"} 2`) || !strings.Contains(metrics, `amp_seal_key_age_seconds{cluster="edge-s"}`) {
		t.Fatalf("the seal metrics:\n%s", grepLines(metrics, "amp_seal"))
	}
	// amp backup carries the keys (the store's metadata), in a 0600 file.
	bak := filepath.Join(t.TempDir(), "amp.ampbak")
	bcmd := exec.Command(testenv.Binary(t), "backup", bak)
	bcmd.Env = append(os.Environ(), env...)
	if out, err := bcmd.CombinedOutput(); err != nil {
		t.Fatalf("amp backup: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(bak)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(bak); st.Mode().Perm() != 0o600 || bytes.Count(raw, []byte("seal-key/edge-s/")) != 2 || !bytes.Contains(raw, []byte("RSA PRIVATE KEY")) {
		t.Fatalf("the backup (mode %v) holds %d sealing keys of edge-s, want both", st.Mode().Perm(), bytes.Count(raw, []byte("seal-key/edge-s/")))
	}
	if strings.Contains(s.Log(), "PRIVATE KEY") {
		t.Fatal("the server logged a private key")
	}
	if strings.Contains(site.agent.logs(), "PRIVATE KEY") || strings.Contains(site.agent.logs(), "first") {
		t.Fatal("the agent logged a key or a value")
	}
}
