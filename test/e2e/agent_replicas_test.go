package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

// replicaCluster is one site's cluster, declared once for both replicas.
const replicaCluster = `{"cluster":[{"cluster-id":"edge-r","kubernetes-version":"v1.35.4","namespace":["apps"],
 "node":[{"name":"r-1","host":"10.9.2.1","role":["worker"],"node-label":["env=prod"]}]}]}`

// linkView is a cluster's link as one replica shows it.
type linkView struct {
	Connected bool   `json:"connected"`
	LastSeen  string `json:"last-seen"`
	InSync    bool   `json:"in-sync"`
}

func (v linkView) seen(t *testing.T) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, v.LastSeen)
	if err != nil {
		t.Fatalf("last-seen %q: %v", v.LastSeen, err)
	}
	return ts
}

// viewCLI is `amp cluster status edge-r -o json` against s; viewREST is
// GET /clusters/edge-r/status.
func viewCLI(t *testing.T, s *testenv.Server) linkView {
	t.Helper()
	st := clusterStatus(t, s.Env(), "edge-r")
	v := linkView{}
	v.Connected, _ = st["connected"].(bool)
	v.LastSeen, _ = st["last-seen"].(string)
	v.InSync, _ = st["in-sync"].(bool)
	return v
}

func viewREST(t *testing.T, s *testenv.Server) linkView {
	t.Helper()
	return linkOf(t, s, "edge-r")
}

// splitKubeconfig writes the site's kubeconfig as two files, the cluster
// and user in one, the context in the other, and returns them as a
// $KUBECONFIG list: neither file works alone.
func splitKubeconfig(t *testing.T, site *kubeenv.Cluster) string {
	t.Helper()
	full, err := clientcmd.LoadFromFile(site.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	creds, ctxs := clientcmdapi.NewConfig(), clientcmdapi.NewConfig()
	creds.Clusters, creds.AuthInfos = full.Clusters, full.AuthInfos
	ctxs.Contexts, ctxs.CurrentContext = full.Contexts, full.CurrentContext
	dir := t.TempDir()
	a, b := filepath.Join(dir, "credentials.yaml"), filepath.Join(dir, "context.yaml")
	for f, c := range map[string]*clientcmdapi.Config{a: creds, b: ctxs} {
		if err := clientcmd.WriteToFile(*c, f); err != nil {
			t.Fatal(err)
		}
	}
	return a + string(filepath.ListSeparator) + b
}

// TestAgentReplicas: two `amp serve` replicas on one etcd, a real `amp
// agent` against a real kube-apiserver.
//
//   - The agent talks to replica A; B shows it connected, with a
//     last-seen that A writes every --agent-last-seen-every: B's advances
//     while the agent's check-ins change nothing, and is never ahead of
//     A's.
//   - The agent stopped: A's sweeper writes connected=false; B shows it.
//   - The agent restarted with --server B: B records it; A, whose memory
//     says disconnected, shows the store's later record: both converge,
//     and a change committed through A reaches the site through B.
//   - The agent moved straight back to A, with no pause: both converge
//     again (B's sweeper does not leave its stale "disconnected" in
//     anyone's view).
//   - B restarted while the agent talks to A: B takes the stored link,
//     waits for A's next last-seen write rather than disconnecting the
//     agent after two intervals, and shows it connected.
//
// The agent's kubeconfig is $KUBECONFIG=credentials:context, two files
// merged as kubectl merges them.
func TestAgentReplicas(t *testing.T) {
	bin := testenv.Binary(t)
	c := etcd.Start(t, 1)
	serve := []string{"--store", "etcd://" + c.Endpoints() + "/amp-agent-replicas/", "--adapters", "none",
		"--agent-checkin-interval", "1s", "--agent-last-seen-every", "3s"}
	// The replicas share the admin token and the local CA, as replicas
	// behind one address share their serving certificate's CA: the
	// agent pins that CA, so it may talk to either.
	dirA, dirB := t.TempDir(), t.TempDir()
	startReplica := func(dir, name string) *testenv.Server {
		s, err := testenv.StartErr(bin, dir, append(serve, "--replica-name", name)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		return s
	}
	a := startReplica(dirA, "r1")
	shareReplicaSecrets(t, dirA, dirB)
	b := startReplica(dirB, "r2")
	_, _, hdr, err := a.Do(context.Background(), "POST", "/inventory/v1.0.0", replicaCluster)
	if err != nil {
		t.Fatal(err)
	}
	b.Must(t, 200, "GET", "/inventory/v1.0.0/cluster/edge-r?min-index="+hdr.Get("X-AMP-Transaction-Index"), "")

	site := &edgeSite{cluster: "edge-r", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent")}
	site.kube.AddNode(t, "r-1", nil, nil, true)
	site.enrol(t, a)
	t.Setenv("KUBECONFIG", splitKubeconfig(t, site.kube)) // the agents started below inherit it
	agentArgs := []string{"--dir", site.dir, "--poll-wait", "2s"}
	site.agent = startAgent(t, agentArgs...)

	both := func(what string, cond func(v linkView) bool) {
		t.Helper()
		for _, s := range []*testenv.Server{a, b} {
			waitWithin(t, time.Minute, func() bool { return cond(viewCLI(t, s)) }, what+" at "+s.URL)
		}
	}
	waitWithin(t, time.Minute, func() bool { return nodeLabel(t, site.client(), "r-1", "env") == "prod" && site.hasNamespace("apps") },
		"the site holds its declaration")
	both("connected and in sync", func(v linkView) bool { return v.Connected && v.InSync })

	// B knows the link from the store only: A writes the last-seen of an
	// agent whose check-ins say nothing new every 3 s. B's advances, and
	// is never ahead of A's memory.
	first := viewREST(t, b)
	unchanged := `amp_edge_checkins_total{outcome="unchanged"}`
	before := edgeMetrics(t, a)[unchanged]
	waitWithin(t, time.Minute, func() bool {
		v := viewREST(t, b)
		return v.Connected && v.seen(t).After(first.seen(t))
	}, "B's last-seen advancing while the agent says nothing new")
	if after := edgeMetrics(t, a)[unchanged]; after <= before {
		t.Fatalf("A recorded no unchanged check-in (%v, then %v): B's last-seen moved for another reason", before, after)
	}
	if vb, va := viewREST(t, b), viewREST(t, a); vb.seen(t).After(va.seen(t)) {
		t.Fatalf("B's last-seen %s is ahead of A's %s, which it is read from", vb.LastSeen, va.LastSeen)
	}

	// The agent stopped: A's sweeper writes the disconnection, B shows it
	// with the same last-seen.
	site.agent.kill()
	both("disconnected", func(v linkView) bool { return !v.Connected })
	if va, vb := viewCLI(t, a), viewCLI(t, b); va.LastSeen != vb.LastSeen {
		t.Fatalf("after the disconnection A says last seen %s, B %s", va.LastSeen, vb.LastSeen)
	}

	// The agent restarted against B: both converge on B's record, and a
	// change committed through A reaches the site through B's long-poll.
	site.agent = startAgent(t, append(agentArgs, "--server", b.URL)...)
	both("connected through B", func(v linkView) bool { return v.Connected && v.InSync })
	code, body, _, err := a.Do(context.Background(), "PUT", "/inventory/v1.0.0/cluster/edge-r/node/r-1",
		`{"name":"r-1","host":"10.9.2.1","role":["worker"],"node-label":["env=staging"]}`)
	if err != nil || code/100 != 2 {
		t.Fatalf("PUT r-1 through A: %d %s %v", code, body, err)
	}
	waitWithin(t, time.Minute, func() bool { return nodeLabel(t, site.client(), "r-1", "env") == "staging" }, "a change committed through A applied through B")
	both("in sync with the change", func(v linkView) bool { return v.Connected && v.InSync })
	if !strings.Contains(site.agent.logs(), b.URL) {
		t.Fatalf("the agent did not talk to B (%s):\n%s", b.URL, site.agent.logs())
	}

	// Straight back to A, no pause: B's memory still holds the link while
	// its parked wait runs out; both converge on A.
	site.agent.kill()
	site.agent = startAgent(t, append(agentArgs, "--server", a.URL)...)
	moved := time.Now().Add(-time.Second).Truncate(time.Second)
	both("connected through A again", func(v linkView) bool { return v.Connected && !v.seen(t).Before(moved) })
	// Long after B's sweeper judged the link (its wait ended, two
	// intervals passed: B exports no connected series for it any more,
	// or a 0), both still show it connected, and B's last-seen keeps up.
	waitWithin(t, time.Minute, func() bool {
		return edgeMetrics(t, b)[`amp_edge_connected{cluster="edge-r",site=""}`] == 0
	}, "B's sweeper let go of the link")
	mark := viewREST(t, a).seen(t)
	both("connected through A, last-seen past B's sweep", func(v linkView) bool { return v.Connected && v.seen(t).After(mark) })

	// B restarted while the agent talks to A: B takes the stored link as
	// connected and waits for A's next write instead of disconnecting it.
	b.Stop()
	b = startReplica(dirB, "r2")
	mark = viewREST(t, b).seen(t)
	waitWithin(t, time.Minute, func() bool { return viewREST(t, b).seen(t).After(mark.Add(3 * time.Second)) },
		"B, restarted, following A's last-seen writes")
	if v := viewCLI(t, b); !v.Connected {
		t.Fatalf("B, restarted, shows the agent connected to A as %+v", v)
	}
	if va := viewCLI(t, a); !va.Connected || !va.InSync {
		t.Fatalf("A after B's restart: %+v", va)
	}
}

// shareReplicaSecrets gives the replica of data dir to the admin token
// and the local CA of the replica of data dir from, as replicas behind one
// address share their serving certificate's CA: an agent pins that CA, so
// it may talk to either.
func shareReplicaSecrets(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(to, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"admin.token", "tls/ca.crt", "tls/ca.key"} {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAgentLinkFlagRefusals: `amp agent --server` and `--poll-wait` are
// checked before the agent starts (a typo would leave an agent that
// enforces its cache and never reaches AMP): exit 2, naming the flag.
func TestAgentLinkFlagRefusals(t *testing.T) {
	bin := testenv.Binary(t)
	for _, tc := range []struct{ args, want []string }{
		{[]string{"--server", "http://amp.example.com:8181"}, []string{"--server", "HTTPS only"}},
		{[]string{"--poll-wait", "0s"}, []string{"--poll-wait 0s is not from 1s to 5m"}},
		{[]string{"--poll-wait", "6m"}, []string{"--poll-wait 6m0s is not from 1s to 5m"}},
	} {
		cmd := exec.Command(bin, append([]string{"agent", "--dir", filepath.Join(t.TempDir(), "agent")}, tc.args...)...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 {
			t.Errorf("amp agent %q: exit %d, want 2\n%s", tc.args, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("amp agent %q: %s, want %q", tc.args, out, w)
			}
		}
	}
}
