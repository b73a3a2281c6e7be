package e2e

import (
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
	"k8s.io/client-go/kubernetes"

	"github.com/amp-edge/amp/internal/testenv"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

// edgeClusters are two sites' clusters with declared node labels, a
// taint and namespaces.
const edgeClusters = `{"cluster":[
 {"cluster-id":"edge-a","kubernetes-version":"v1.35.4","namespace":["apps","monitoring"],
  "node":[{"name":"a-1","host":"10.9.0.1","role":["controlplane","worker"],"node-label":["env=prod","rack=r1"]},
          {"name":"a-2","host":"10.9.0.2","role":["worker"],"taint":["gpu=true:NoSchedule"]}]},
 {"cluster-id":"edge-b","kubernetes-version":"v1.35.4","namespace":["apps"],
  "node":[{"name":"b-1","host":"10.9.1.1","role":["worker"],"node-label":["env=lab"]}]}]}`

// edgeSite is one simulated site: its Kubernetes API and its agent's state
// directory.
type edgeSite struct {
	cluster string
	kube    *kubeenv.Cluster
	dir     string
	agent   *agentProc
}

func (st *edgeSite) client() kubernetes.Interface { return st.kube.Client() }

func (st *edgeSite) hasNamespace(name string) bool {
	ns, err := st.client().CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	return err == nil && ns.Labels["app.kubernetes.io/managed-by"] == "amp"
}

func (st *edgeSite) taints(t *testing.T, node string) []corev1.Taint {
	n, err := st.client().CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Spec.Taints
}

// enrol mints a token for the site's cluster (amp cluster token) and
// enrols its agent with it (amp agent register); it returns the token's
// file.
func (st *edgeSite) enrol(t *testing.T, s *testenv.Server) string {
	t.Helper()
	bin := testenv.Binary(t)
	tok := exec.Command(bin, "cluster", "token", st.cluster)
	tok.Env = append(os.Environ(), s.Env()...)
	secret, err := tok.Output()
	if err != nil {
		t.Fatalf("amp cluster token %s: %v", st.cluster, err)
	}
	tf := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tf, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := exec.Command(bin, "agent", "register", "--server", s.URL, "--token-file", tf, "--cluster", st.cluster, "--server-ca", s.CA, "--dir", st.dir)
	out, err := reg.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "enrolled as cluster "+st.cluster) {
		t.Fatalf("amp agent register %s: %v\n%s", st.cluster, err, out)
	}
	if strings.Contains(string(out), strings.TrimSpace(string(secret))) {
		t.Fatalf("amp agent register printed the token:\n%s", out)
	}
	return tf
}

// clusterStatus is `amp cluster status NAME -o json`.
func clusterStatus(t *testing.T, env []string, name string) map[string]any {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), "cluster", "status", name, "-o", "json")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("amp cluster status %s: %v\n%s", name, err, out)
	}
	var st map[string]any
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return st
}

// TestAgentEndToEnd is the newcomer's tour of the edge agent, through the
// binary: two declared clusters, a token minted for each, `amp agent
// register` and `amp agent` at each site against its own kube-apiserver;
// the declared labels, taint and namespaces applied, the clusters
// connected with their facts in `amp cluster status`; a declared label
// changed in AMP reaches its site; AMP stopped, the agent killed and
// restarted while a label is changed by hand: the site is restored from
// the cache; AMP back, the status converges and reports the outage; a
// revoked certificate is refused (the site kept as declared) until the
// agent is enrolled again.
func TestAgentEndToEnd(t *testing.T) {
	bin := testenv.Binary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	dataDir := t.TempDir()
	serve := []string{"--demo", "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "1s"}
	s := testenv.Start(t, dataDir, serve...)
	s.Must(t, 201, "POST", "/inventory/v1.0.0", edgeClusters)
	env := s.Env()

	a := &edgeSite{cluster: "edge-a", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-a")}
	a.kube.AddNode(t, "a-1", map[string]string{"by-hand": "keep"}, nil, true)
	a.kube.AddNode(t, "a-2", nil, nil, false)
	b := &edgeSite{cluster: "edge-b", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-b")}
	b.kube.AddNode(t, "b-1", nil, nil, true)

	for _, st := range []*edgeSite{a, b} {
		tf := st.enrol(t, s)
		// Used once: a second enrolment with it is refused with the reason.
		again := exec.Command(bin, "agent", "register", "--server", s.URL, "--token-file", tf, "--server-ca", s.CA, "--dir", filepath.Join(t.TempDir(), "other"))
		if out, err := again.CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
			t.Fatalf("a used token: %v\n%s", err, out)
		}
		st.agent = startAgent(t, "--dir", st.dir, "--kubeconfig", st.kube.Kubeconfig)
	}

	waitWithin(t, time.Minute, func() bool {
		return nodeLabel(t, a.client(), "a-1", "env") == "prod" && nodeLabel(t, a.client(), "a-1", "rack") == "r1" &&
			len(a.taints(t, "a-2")) == 1 && a.hasNamespace("apps") && a.hasNamespace("monitoring") &&
			nodeLabel(t, b.client(), "b-1", "env") == "lab" && b.hasNamespace("apps") && !b.hasNamespace("monitoring")
	}, "each site holds its cluster's declaration")
	if tt := a.taints(t, "a-2")[0]; tt.Key != "gpu" || tt.Value != "true" || tt.Effect != corev1.TaintEffectNoSchedule {
		t.Fatalf("a-2's taint: %+v", tt)
	}
	if nodeLabel(t, a.client(), "a-1", "by-hand") != "keep" {
		t.Fatal("a label AMP never managed was touched")
	}
	inSync := func(name string, nodes int) func() bool {
		return func() bool {
			st := clusterStatus(t, env, name)
			rep, _ := st["report"].(map[string]any)
			ns, _ := rep["node"].([]any)
			return st["connected"] == true && st["in-sync"] == true && len(ns) == nodes
		}
	}
	waitWithin(t, time.Minute, inSync("edge-a", 2), "edge-a connected, in sync, with its two nodes as facts")
	waitWithin(t, time.Minute, inSync("edge-b", 1), "edge-b connected, in sync, with its node as facts")
	// Each agent's long-poll waits parked: its connection held with no
	// goroutine (internal/park), which is what lets AMP hold 10,000.
	waitWithin(t, time.Minute, func() bool {
		m := string(s.Must(t, 200, "GET", "/metrics", ""))
		return strings.Contains(m, "\namp_http_parked_connections 2\n") && strings.Contains(m, "\namp_edge_waiting_agents 2\n")
	}, "both agents' long-polls parked")

	// A declared label changed in AMP reaches the site (the long-poll).
	committed := time.Now()
	code, body, _, err := s.Do(context.Background(), "PUT", "/inventory/v1.0.0/cluster/edge-a/node/a-1",
		`{"name":"a-1","host":"10.9.0.1","role":["controlplane","worker"],"node-label":["env=staging","rack=r1"]}`)
	if err != nil || code/100 != 2 {
		t.Fatalf("PUT a-1: %d %s %v", code, body, err)
	}
	waitWithin(t, time.Minute, func() bool { return nodeLabel(t, a.client(), "a-1", "env") == "staging" }, "the changed label applied at site A")
	t.Logf("the declared label was at the site %v after the request that changed it (a figure, not a bound)", time.Since(committed).Round(time.Millisecond))
	waitWithin(t, time.Minute, inSync("edge-a", 2), "edge-a in sync with the change")

	// AMP stopped; agent A, cut off, killed; a declared label changed by
	// hand while it is down; the agent restarted, still cut off, restores
	// it.
	s.Stop()
	waitWithin(t, time.Minute, func() bool {
		out, _ := exec.Command(bin, "agent", "status", "--dir", a.dir).Output()
		return strings.Contains(string(out), "OUTAGE since")
	}, "agent A notices AMP is gone")
	a.agent.kill()
	setNodeLabel(t, a.client(), "a-1", "env", "by-hand")
	a.agent = startAgent(t, "--dir", a.dir, "--kubeconfig", a.kube.Kubeconfig)
	waitWithin(t, time.Minute, func() bool { return nodeLabel(t, a.client(), "a-1", "env") == "staging" }, "site A restored from the cache with AMP down")
	waitWithin(t, time.Minute, func() bool {
		out, _ := exec.Command(bin, "agent", "status", "--dir", a.dir).CombinedOutput()
		return strings.Contains(string(out), "OUTAGE since") && strings.Contains(string(out), "drift corrected: label env: by-hand -> staging")
	}, "amp agent status shows the outage and the correction")

	// AMP back on the same address: both clusters converge, and A reports
	// its outage (one restart, the correction made offline).
	s = testenv.Start(t, dataDir, serve...)
	env = s.Env()
	waitWithin(t, time.Minute, inSync("edge-a", 2), "edge-a in sync again")
	waitWithin(t, time.Minute, inSync("edge-b", 1), "edge-b in sync again")
	waitWithin(t, time.Minute, func() bool {
		o, _ := clusterStatus(t, env, "edge-a")["last-outage"].(map[string]any)
		return fmt.Sprint(o["restarts"]) == "1" && fmt.Sprint(o["corrections"]) != "0" && o["lost-at"] != nil
	}, "edge-a's outage reported")

	// edge-b's certificate revoked: AMP refuses its agent, which keeps its
	// site as declared and says why; enrolled again with a new token, the
	// running agent takes the new certificate and converges.
	rev := exec.Command(bin, "cluster", "revoke", "edge-b")
	rev.Env = append(os.Environ(), env...)
	if out, err := rev.CombinedOutput(); err != nil || !strings.Contains(string(out), "revoked") {
		t.Fatalf("amp cluster revoke edge-b: %v\n%s", err, out)
	}
	waitWithin(t, time.Minute, func() bool {
		out, _ := exec.Command(bin, "agent", "status", "--dir", b.dir).CombinedOutput()
		return strings.Contains(string(out), "OUTAGE since") && strings.Contains(string(out), "AMP answered 40")
	}, "agent B refused, the refusal in its status")
	setNodeLabel(t, b.client(), "b-1", "env", "by-hand")
	waitWithin(t, time.Minute, func() bool { return nodeLabel(t, b.client(), "b-1", "env") == "lab" }, "site B kept as declared while refused")
	b.enrol(t, s)
	waitWithin(t, time.Minute, inSync("edge-b", 1), "edge-b in sync with its new certificate")
	waitWithin(t, time.Minute, func() bool {
		o, _ := clusterStatus(t, env, "edge-b")["last-outage"].(map[string]any)
		return fmt.Sprint(o["corrections"]) == "1" && strings.Contains(fmt.Sprint(o["last-error"]), "AMP answered 40")
	}, "edge-b's outage reported with the refusal")
}
