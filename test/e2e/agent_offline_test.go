package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

// agentProc is a running `amp agent`.
type agentProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

func (p *agentProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *agentProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	p := &agentProc{done: make(chan struct{})}
	p.cmd = exec.Command(testenv.Binary(t), append([]string{"agent"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("amp agent log:\n%s", p.logs())
		}
	})
	return p
}

// metricsURL is where the agent serves its metrics, as it logged.
func (p *agentProc) metricsURL(t *testing.T) string {
	t.Helper()
	var addr string
	waitWithin(t, time.Minute, func() bool {
		for _, line := range strings.Split(p.logs(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "metrics listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	}, "the agent's metrics address in its log")
	return "http://" + addr + "/metrics"
}

// kill is a kill -9, whatever the agent was doing.
func (p *agentProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// enrolCutOff writes credentials of cluster ace-x signed by a CA of the
// test, and an agent.json naming an AMP that is not there (a closed
// port): the agent is enrolled, its certificate valid, AMP unreachable.
func enrolCutOff(t *testing.T, d *state.Dir) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agent CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	csrPEM, err := d.CSR("ace-x")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(csrPEM))
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(0x5eed), Subject: pkix.Name{CommonName: "ace-x"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, csr.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err := d.SaveConfig(&state.Config{Server: "https://" + addr, Cluster: "ace-x"}); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveCredentials(&wire.Credentials{Cluster: "ace-x", Certificate: cert, CA: caPEM, ServerCA: caPEM}, ""); err != nil {
		t.Fatal(err)
	}
}

func nodeLabel(t *testing.T, c kubernetes.Interface, node, key string) string {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Labels[key]
}

func setNodeLabel(t *testing.T, c kubernetes.Interface, node, key, value string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Labels[key] = value
		_, err = c.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAgentOfflineAutonomy drives `amp agent` against a real
// kube-apiserver with AMP out of reach: it enforces its cached desired
// state from the start, restores a declared label changed by hand, is
// killed -9 and, restarted still cut off, restores a label changed while
// it was down; `amp agent status` shows the outage, the restart and the
// drift it corrected, and names a corrupt journal.
func TestAgentOfflineAutonomy(t *testing.T) {
	kenv := kubeenv.Start(t)
	kc := kenv.Client()
	kenv.AddNode(t, "server-1", map[string]string{"by-hand": "keep"}, nil, true)
	dir := filepath.Join(t.TempDir(), "amp-agent")
	d, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	enrolCutOff(t, d)
	nodeSpec := json.RawMessage(`{"labels":{"env":"prod"},"taints":["dedicated=edge:NoSchedule"]}`)
	objs := []wire.Object{
		{Kind: "namespace", Name: "apps", Spec: json.RawMessage(`{}`), Digest: wire.ObjectDigest(json.RawMessage(`{}`)), Index: 7},
		{Kind: "node", Name: "server-1", Spec: nodeSpec, Digest: wire.ObjectDigest(nodeSpec), Index: 7},
	}
	if err := d.SaveDesired(&wire.Desired{Cluster: "ace-x", Index: 7, Digest: wire.StateDigest(objs), Full: true, Objects: objs}); err != nil {
		t.Fatal(err)
	}
	args := []string{"--dir", dir, "--kubeconfig", kenv.Kubeconfig, "--interval", "1s"}

	p := startAgent(t, args...)
	waitWithin(t, time.Minute, func() bool {
		_, err := kc.CoreV1().Namespaces().Get(context.Background(), "apps", metav1.GetOptions{})
		return err == nil && nodeLabel(t, kc, "server-1", "env") == "prod"
	}, "the cached state applied")
	n, err := kc.CoreV1().Nodes().Get(context.Background(), "server-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels["by-hand"] != "keep" || len(n.Spec.Taints) != 1 || n.Spec.Taints[0] != (corev1.Taint{Key: "dedicated", Value: "edge", Effect: corev1.TaintEffectNoSchedule}) {
		t.Fatalf("node: labels %v, taints %v", n.Labels, n.Spec.Taints)
	}
	waitWithin(t, time.Minute, func() bool {
		j, err := d.Journal()
		return err == nil && len(j.Objects) == 2 && j.Objects[1].State == wire.StateApplied
	}, "the node journalled applied")
	waitWithin(t, time.Minute, func() bool { j, err := d.Journal(); return err == nil && j.Outage != nil }, "the outage journalled")
	setNodeLabel(t, kc, "server-1", "env", "staging")
	waitWithin(t, time.Minute, func() bool { return nodeLabel(t, kc, "server-1", "env") == "prod" }, "the hand change restored")
	waitWithin(t, time.Minute, func() bool { j, err := d.Journal(); return err == nil && j.Corrections == 1 }, "the correction journalled")

	p.kill()
	setNodeLabel(t, kc, "server-1", "env", "lab")
	p = startAgent(t, append(args, "--metrics-listen", "127.0.0.1:0")...)
	waitWithin(t, time.Minute, func() bool { return nodeLabel(t, kc, "server-1", "env") == "prod" }, "the change made while the agent was down restored")
	waitWithin(t, time.Minute, func() bool {
		j, err := d.Journal()
		return err == nil && j.Outage != nil && j.Outage.Restarts == 1 && j.Outage.Corrections == 2
	}, "the restart and the correction in the outage")

	// Its metrics: the correction counted, the link down, the state held.
	metrics := p.metricsURL(t)
	for _, want := range []string{`amp_agent_drift_corrections_total{kind="node"} 1`, "amp_agent_link_up 0", "amp_agent_desired_index 7", `amp_agent_applies_total{kind="namespace",result="applied"}`} {
		waitWithin(t, time.Minute, func() bool {
			resp, err := http.Get(metrics)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return strings.Contains(string(b), want)
		}, "the agent's metrics show "+want)
	}

	out, err := exec.Command(testenv.Binary(t), "agent", "status", "--dir", dir, "-o", "json").Output()
	if err != nil {
		t.Fatalf("amp agent status: %v", err)
	}
	var st struct {
		Cluster string              `json:"cluster"`
		Desired wire.Applied        `json:"desired"`
		Objects []wire.ObjectStatus `json:"objects"`
		Outage  *state.Outage       `json:"outage"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if st.Cluster != "ace-x" || st.Desired.Index != 7 || st.Outage == nil || st.Outage.Restarts != 1 || len(st.Objects) != 2 {
		t.Fatalf("status: %s", out)
	}
	if node := st.Objects[1]; node.Name != "server-1" || !node.Drift || !strings.Contains(node.Message, "label env: lab -> prod") {
		t.Fatalf("node status %+v", node)
	}
	text, err := exec.Command(testenv.Binary(t), "agent", "status", "--dir", dir).Output()
	if err != nil || !strings.Contains(string(text), "OUTAGE since") || !strings.Contains(string(text), "drift corrected: label env: lab -> prod") {
		t.Fatalf("amp agent status: %v\n%s", err, text)
	}

	// A journal cut short is named, and the status exits 1.
	jf := filepath.Join(dir, state.JournalFile)
	b, err := os.ReadFile(jf)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(bad, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, state.JournalFile), b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Binary(t), "agent", "status", "--dir", bad)
	text, err = cmd.Output()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(text), filepath.Join(bad, state.JournalFile)+" is corrupt") {
		t.Fatalf("a truncated journal: exit %d (%v)\n%s", cmd.ProcessState.ExitCode(), err, text)
	}
}

// TestAgentCLIRefusals: `amp agent register` without a token or with two
// is a usage error (exit 2) that says where a token comes from, and so
// is a server URL that is not HTTPS (the token is not shown); `amp agent status` of an empty directory says it is not
// enrolled and exits 1.
func TestAgentCLIRefusals(t *testing.T) {
	bin := testenv.Binary(t)
	dir := filepath.Join(t.TempDir(), "agent")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "AMP_REGISTRATION_TOKEN=", "AMP_SERVER=", "AMP_AGENT_DIR=")
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := run("agent", "register", "--server", "https://127.0.0.1:1", "--dir", dir); code != 2 || !strings.Contains(out, "amp cluster token") {
		t.Fatalf("no token: exit %d\n%s", code, out)
	}
	tf := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tf, []byte("ampreg_x\n"), 0o600)
	if code, out := run("agent", "register", "--server", "https://127.0.0.1:1", "--token", "ampreg_x", "--token-file", tf, "--dir", dir); code != 2 || !strings.Contains(out, "not both") {
		t.Fatalf("two tokens: exit %d\n%s", code, out)
	}
	if code, out := run("agent", "register", "--server", "http://127.0.0.1:1", "--token-file", tf, "--dir", dir); code != 2 || !strings.Contains(out, "HTTPS only") || strings.Contains(out, "ampreg_x") {
		t.Fatalf("plain HTTP: exit %d\n%s", code, out)
	}
	code, out := run("agent", "status", "--dir", dir)
	if code != 1 || !strings.Contains(out, "not enrolled") {
		t.Fatalf("status of an empty directory: exit %d\n%s", code, out)
	}
}
