// Package kube runs a real Kubernetes API for tests: one etcd (Debian's,
// through internal/testenv/etcd) and one kube-apiserver per simulated site,
// on loopback ports chosen at run time, with a throwaway PKI and an admin
// kubeconfig in the test's temporary directory. No kubelet runs: tests
// register Node objects as a kubelet would (AddNode, SetNodeReady), or
// start internal/testenv/kubelet, which also runs pods as a kubelet would
// report them. A test that needs workloads (Deployments turned into
// ReplicaSets and pods, Jobs, garbage collection) calls StartControllers
// for a real kube-controller-manager.
//
// The binaries are built from the Go module proxy by scripts/test-deps.sh
// into the user's cache; $AMP_KUBE_APISERVER and
// $AMP_KUBE_CONTROLLER_MANAGER name other ones. It is imported only by
// tests.
package kube

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"

	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/internal/testenv/toolcache"
)

// Version is the Kubernetes release scripts/test-deps.sh builds.
const Version = "1.35.4"

// Cluster is one running kube-apiserver with its etcd.
type Cluster struct {
	URL        string // https://127.0.0.1:port
	Kubeconfig string // admin kubeconfig (a client certificate in system:masters), mode 0600
	CAFile     string // the CA that signed the serving and client certificates

	certFile, keyFile string // the admin client certificate
	dir               string
	client            kubernetes.Interface
}

// Binary returns the kube-apiserver the tests run: $AMP_KUBE_APISERVER, else
// the one scripts/test-deps.sh builds into the user's cache.
func Binary() string {
	if b := os.Getenv("AMP_KUBE_APISERVER"); b != "" {
		return b
	}
	return filepath.Join(toolcache.Dir("kube-v"+Version), "kube-apiserver")
}

// ControllerManagerBinary returns the kube-controller-manager the tests
// run: $AMP_KUBE_CONTROLLER_MANAGER, else the one scripts/test-deps.sh
// builds next to kube-apiserver.
func ControllerManagerBinary() string {
	if b := os.Getenv("AMP_KUBE_CONTROLLER_MANAGER"); b != "" {
		return b
	}
	return filepath.Join(filepath.Dir(Binary()), "kube-controller-manager")
}

// Controllers are the kube-controller-manager's controllers a site runs:
// those that turn workloads into pods and clean up after them, and no
// more (each costs CPU the machine's other tests share). No node
// lifecycle controller: the kubelet stand-in's nodes have no kubelet
// lease to renew, and nothing is evicted.
var Controllers = []string{
	"deployment-controller", "replicaset-controller", "statefulset-controller",
	"daemonset-controller", "job-controller", "garbage-collector-controller",
	"namespace-controller", "serviceaccount-controller",
}

// StartControllers runs a kube-controller-manager against the cluster
// (the admin's kubeconfig, no leader election, no serving port) with
// Controllers, until the test ends. A missing binary fails the test.
func (c *Cluster) StartControllers(t testing.TB) {
	t.Helper()
	bin := ControllerManagerBinary()
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("kube-controller-manager v%s not found at %q (run scripts/test-deps.sh, which builds it from the Go module proxy, or set AMP_KUBE_CONTROLLER_MANAGER)", Version, bin)
	}
	logFile := filepath.Join(c.dir, "kube-controller-manager.log")
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers="+strings.Join(Controllers, ","),
		"--use-service-account-credentials=false",
		// Tests wait on what the controllers do: react at once.
		"--concurrent-deployment-syncs=2", "--concurrent-replicaset-syncs=2")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start kube-controller-manager: %v", err)
	}
	p := &process{cmd: cmd, logFile: logFile, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-controller-manager log tail:\n%s", p.logTail())
		}
		p.stop()
	})
}

// Start runs etcd and kube-apiserver and waits until the API server answers
// /readyz; both stop when the test ends, and their logs' tails are printed if
// the test failed. A missing binary fails the test: it never skips.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := Binary()
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("kube-apiserver v%s not found at %q (run scripts/test-deps.sh, which builds it from the Go module proxy, or set AMP_KUBE_APISERVER)", Version, bin)
	}
	store := etcd.Start(t, 1)
	c := &Cluster{dir: t.TempDir()}
	pki := c.writePKI(t)

	var (
		srv *process
		err error
	)
	// The port is free when chosen but another process may take it before
	// kube-apiserver binds it: then it exits at once, and we pick another.
	for attempt := 0; ; attempt++ {
		port := etcd.FreePort(t)
		c.URL = "https://127.0.0.1:" + port
		srv, err = startAPIServer(bin, c.dir, port, store.Members[0].ClientURL, pki)
		if err != nil {
			t.Fatal(err)
		}
		err = c.waitReady(srv, 2*time.Minute)
		if err == nil {
			break
		}
		srv.stop()
		if attempt == 2 || !strings.Contains(srv.log(), "address already in use") {
			t.Fatalf("%v; kube-apiserver's log:\n%s", err, srv.logTail())
		}
	}
	// Cleanups run last-in first-out: the API server stops before its etcd.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver %s, log tail:\n%s", c.URL, srv.logTail())
			for _, m := range store.Members {
				t.Logf("etcd %s, log tail:\n%s", m.ClientURL, m.LogTail(4000))
			}
		}
		srv.stop()
	})

	c.Kubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
	if err := c.writeKubeconfig(); err != nil {
		t.Fatal(err)
	}
	c.client, err = kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RESTConfig returns a fresh client configuration of the admin: callers may
// change it.
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{
		Host: c.URL,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: c.CAFile, CertFile: c.certFile, KeyFile: c.keyFile,
		},
		// Tests create objects in bursts; the default 5 requests per second
		// would make them wait on the client, not on the server.
		QPS: 100, Burst: 200,
	}
}

// Client returns a clientset of the admin.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// AddNode registers a Node as a kubelet does: the object with its labels
// and taints, then its Ready condition through the status subresource.
func (c *Cluster) AddNode(t testing.TB, name string, labels map[string]string, taints []corev1.Taint, ready bool) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: taints},
	}
	if _, err := c.client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	return c.SetNodeReady(t, name, ready)
}

// SetNodeReady sets a node's Ready condition (and, as a kubelet reports it,
// its heartbeat and version) through the status subresource, retrying when
// someone else (the agent under test) changed the node meanwhile.
func (c *Cluster) SetNodeReady(t testing.TB, name string, ready bool) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	var out *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		status, reason := corev1.ConditionFalse, "KubeletNotReady"
		if ready {
			status, reason = corev1.ConditionTrue, "KubeletReady"
		}
		now := metav1.Now()
		cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: status, Reason: reason,
			LastHeartbeatTime: now, LastTransitionTime: now}
		replaced := false
		for i, old := range n.Status.Conditions {
			if old.Type == corev1.NodeReady {
				if old.Status == status {
					cond.LastTransitionTime = old.LastTransitionTime
				}
				n.Status.Conditions[i], replaced = cond, true
			}
		}
		if !replaced {
			n.Status.Conditions = append(n.Status.Conditions, cond)
		}
		n.Status.NodeInfo.KubeletVersion = "v" + Version
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}}
		out, err = c.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set node %s ready=%v: %v", name, ready, err)
	}
	return out
}

// pkiFiles are the paths of the cluster's certificates and keys.
type pkiFiles struct {
	ca, serverCert, serverKey, saKey string
}

// writePKI creates the cluster's CA, the API server's serving certificate
// (127.0.0.1, localhost), the admin's client certificate (organisation
// system:masters, the group RBAC lets do everything) and the service
// account signing key, each cluster its own.
func (c *Cluster) writePKI(t testing.TB) pkiFiles {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "amp test kube CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, subject pkix.Name, server bool) (*ecdsa.PrivateKey, []byte) {
		k := newKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: subject,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return k, der
	}
	srvKey, srvDER := issue(2, pkix.Name{CommonName: "kube-apiserver"}, true)
	admKey, admDER := issue(3, pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, false)
	saKey := newKey(t)

	c.CAFile = c.writePEM(t, "ca.crt", "CERTIFICATE", caDER)
	p := pkiFiles{ca: c.CAFile}
	p.serverCert = c.writePEM(t, "apiserver.crt", "CERTIFICATE", srvDER)
	p.serverKey = c.writeKey(t, "apiserver.key", srvKey)
	c.certFile = c.writePEM(t, "admin.crt", "CERTIFICATE", admDER)
	c.keyFile = c.writeKey(t, "admin.key", admKey)
	p.saKey = c.writeKey(t, "sa.key", saKey)
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (c *Cluster) writeKey(t testing.TB, name string, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return c.writePEM(t, name, "EC PRIVATE KEY", der)
}

func (c *Cluster) writePEM(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKubeconfig writes the admin's kubeconfig, for tools and for code
// under test that takes a --kubeconfig.
func (c *Cluster) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["amp-test"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthority: c.CAFile}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: c.certFile, ClientKey: c.keyFile}
	cfg.Contexts["amp-test"] = &clientcmdapi.Context{Cluster: "amp-test", AuthInfo: "admin"}
	cfg.CurrentContext = "amp-test"
	return clientcmd.WriteToFile(*cfg, c.Kubeconfig)
}

// waitReady polls /readyz as the admin until it answers 200, the process
// exits, or the timeout passes.
func (c *Cluster) waitReady(p *process, timeout time.Duration) error {
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("kube-apiserver exited before it was ready: %v", p.err)
		default:
		}
		resp, err := hc.Get(c.URL + "/readyz")
		if err == nil {
			body := new(bytes.Buffer)
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, tail(body.String(), 500))
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver %s not ready after %s: %s", c.URL, timeout, last)
}

// process is the running kube-apiserver.
type process struct {
	cmd     *exec.Cmd
	logFile string
	exited  chan struct{}
	err     error
}

func startAPIServer(bin, dir, port, etcdURL string, p pkiFiles) (*process, error) {
	logFile := filepath.Join(dir, "kube-apiserver-"+port+".log")
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+port,
		"--tls-cert-file="+p.serverCert, "--tls-private-key-file="+p.serverKey,
		"--client-ca-file="+p.ca,
		"--service-account-key-file="+p.saKey, "--service-account-signing-key-file="+p.saKey,
		"--service-account-issuer=https://127.0.0.1:"+port,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		// No controller-manager runs: nothing would create the namespaces'
		// "default" service accounts, which ServiceAccount demands of every
		// pod, nor lift the node.kubernetes.io/not-ready taint that
		// TaintNodesByCondition puts on every new node. Without them a
		// node has exactly the taints a test gives it.
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--profiling=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	pr := &process{cmd: cmd, logFile: logFile, exited: make(chan struct{})}
	go func() {
		pr.err = cmd.Wait()
		logf.Close()
		close(pr.exited)
	}()
	return pr, nil
}

// stop asks the server to shut down (SIGTERM), kills it if it lingers,
// and waits for it to exit.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *process) log() string {
	b, err := os.ReadFile(p.logFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err.Error()
	}
	return string(b)
}

func (p *process) logTail() string { return tail(p.log(), 4000) }

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
