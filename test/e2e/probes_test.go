package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/probes"
	"github.com/amp-edge/amp/internal/testenv"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

// probeSites: acme's site-a with cluster edge-a, starbucks' site-b with
// cluster edge-b.
const probeSites = `{"organization":[{"org-id":"acme-org","tenant":"acme"},{"org-id":"sb-org","tenant":"starbucks"}],
 "site":[{"site-id":"site-a","organization":"acme-org","tenant":"acme"},{"site-id":"site-b","organization":"sb-org","tenant":"starbucks"}],
 "cluster":[{"cluster-id":"edge-a","site":"site-a","node":[{"name":"a-1","host":"10.9.0.1","role":["worker"]}]},
            {"cluster-id":"edge-b","site":"site-b","node":[{"name":"b-1","host":"10.9.1.1","role":["worker"]}]}]}`

// probeTarget is an Internet target on loopback that can go down (its
// listener closed: connections refused) and come back on the same port.
type probeTarget struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func newTarget(t *testing.T) *probeTarget {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &probeTarget{t: t, addr: ln.Addr().String()}
	tg.serve(ln)
	t.Cleanup(tg.down)
	return tg
}

func (tg *probeTarget) url() string { return "http://" + tg.addr + "/generate_204" }

func (tg *probeTarget) serve(ln net.Listener) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })}
	go tg.srv.Serve(ln) //nolint:errcheck // ends with Close
}

func (tg *probeTarget) down() {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.srv != nil {
		tg.srv.Close()
		tg.srv = nil
	}
}

func (tg *probeTarget) up() {
	ln, err := net.Listen("tcp", tg.addr)
	if err != nil {
		tg.t.Fatal(err)
	}
	tg.serve(ln)
}

// probeOK is amp_edge_probe_ok of a probe at a cluster (-1: no series).
func probeOK(t *testing.T, s *testenv.Server, probe, cluster, site, ent string) float64 {
	t.Helper()
	return metricValue(t, s, fmt.Sprintf(`amp_edge_probe_ok{cluster=%q,enterprise=%q,probe=%q,site=%q}`, cluster, ent, probe, site))
}

// probeResults reads an enterprise's probe-results state through REST
// with tok: result by cluster/probe.
func probeResults(t *testing.T, s *testenv.Server, ent, tok string) (int, map[string]map[string]any) {
	t.Helper()
	code, b, _, err := s.Do(context.Background(), "GET", "/monitor/v1.0.0/"+ent+"/probe-results", "", "Authorization", "Bearer "+tok)
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 {
		return code, nil
	}
	var got struct {
		Result []map[string]any `json:"result"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	out := map[string]map[string]any{}
	for _, r := range got.Result {
		out[fmt.Sprint(r["cluster"], "/", r["probe"])] = r
	}
	return code, out
}

// agentClient is an HTTPS client presenting the certificate of the agent
// whose state directory is dir.
func agentClient(t *testing.T, s *testenv.Server, dir string) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, state.CertFile), filepath.Join(dir, state.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(s.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
}

// TestProbesEndToEnd: AMP and two sites' agents (each with its
// kube-apiserver), acme's at site-a and starbucks' at site-b, each site's
// user-plane probe declared (acme's and starbucks' own) against a target
// on loopback. Both report ok centrally; site-a's target goes down: its
// probe_ok is 0 centrally while site-b's stays 1, and back: 1. The last
// results are readable through REST (each enterprise its own only) and
// gNMI, and still after AMP restarts. An agent cut off from AMP buffers
// its results on disk and pushes them when AMP is back. A stolen
// certificate cannot push another cluster's results; malformed pushes
// are refused naming the member and the reason, and change nothing.
func TestProbesEndToEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	dataDir := t.TempDir()
	serve := []string{"--demo", "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "1s", "--gnmi-listen", "127.0.0.1:0"}
	s := testenv.Start(t, dataDir, serve...)
	s.Must(t, 201, "POST", "/inventory/v1.0.0", probeSites)
	ta, tb := newTarget(t), newTarget(t)
	// Each enterprise declares its site's user-plane target (interval 1 s).
	s.Must(t, 201, "POST", "/monitor/v1.0.0/acme", `{"probe":[{"name":"internet","kind":"user-plane","target":"`+ta.url()+`","expect-status":204,"interval":1,"timeout":1,"site":["site-a"]}]}`)
	s.Must(t, 201, "POST", "/monitor/v1.0.0/starbucks", `{"probe":[{"name":"internet","kind":"user-plane","target":"`+tb.url()+`","interval":1,"timeout":1}]}`)

	// What an agent would not run, and a probe at another enterprise's
	// site, are refused at commit naming the leaf.
	for body, path := range map[string]string{
		`{"probe":[{"name":"bad","kind":"tcp","target":"no-port"}]}`:                      "/monitor/v1.0.0/acme/probe/bad/target",
		`{"probe":[{"name":"spy","kind":"tcp","target":"10.0.0.1:1","site":["site-b"]}]}`: "/monitor/v1.0.0/acme/probe/spy/site",
	} {
		if b := s.Must(t, 400, "POST", "/monitor/v1.0.0/acme", body); !strings.Contains(string(b), `"path":"`+path+`"`) {
			t.Fatalf("%s: %s", body, b)
		}
	}

	a := &edgeSite{cluster: "edge-a", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-a")}
	a.kube.AddNode(t, "a-1", nil, nil, true)
	b := &edgeSite{cluster: "edge-b", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-b")}
	b.kube.AddNode(t, "b-1", nil, nil, true)
	for _, st := range []*edgeSite{a, b} {
		st.enrol(t, s)
		st.agent = startAgent(t, "--dir", st.dir, "--kubeconfig", st.kube.Kubeconfig)
	}

	okA := func() float64 { return probeOK(t, s, "user-plane", "edge-a", "site-a", "acme") }
	okB := func() float64 { return probeOK(t, s, "user-plane", "edge-b", "site-b", "starbucks") }
	waitWithin(t, time.Minute, func() bool {
		return okA() == 1 && okB() == 1 && probeOK(t, s, "control-plane", "edge-a", "site-a", "acme") == 1 &&
			probeOK(t, s, "control-plane", "edge-b", "site-b", "starbucks") == 1
	}, "both sites' user-plane and control-plane probes ok centrally")
	if v := metricValue(t, s, `amp_edge_last_update_timestamp_seconds{cluster="edge-a",enterprise="acme",site="site-a"}`); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("amp_edge_last_update_timestamp_seconds of edge-a: %v", v)
	}

	// Site A's target goes down: its probe fails centrally, B's does not.
	ta.down()
	waitWithin(t, time.Minute, func() bool { return okA() == 0 }, "edge-a's user-plane probe_ok 0 centrally")
	if okB() != 1 {
		t.Fatalf("edge-b's user-plane probe_ok is %v while only site-a's target is down", okB())
	}
	// The state follows within a second (writes are coalesced).
	waitWithin(t, time.Minute, func() bool {
		_, acmeRes := probeResults(t, s, "acme", s.Token)
		r := acmeRes["edge-a/user-plane"]
		return r["ok"] == false && strings.Contains(fmt.Sprint(r["message"]), ta.addr) && r["site"] == "site-a"
	}, "edge-a's failed user-plane result through REST")
	ta.up()
	waitWithin(t, time.Minute, func() bool { return okA() == 1 }, "edge-a's user-plane probe_ok back to 1")
	waitWithin(t, time.Minute, func() bool {
		_, acmeRes := probeResults(t, s, "acme", s.Token)
		return acmeRes["edge-a/user-plane"]["ok"] == true
	}, "edge-a's user-plane result back to ok through REST")

	// Tenant isolation: acme's admin reads acme's results, not starbucks'.
	acmeTok, _ := apiToken(t, s, "acme-admin", "enterprise-admin", "acme")
	code, own := probeResults(t, s, "acme", acmeTok)
	if code != 200 || own["edge-a/user-plane"] == nil || own["edge-a/control-plane"] == nil || len(own) != 2 {
		t.Fatalf("acme's admin reading acme's probe results: %d %v", code, own)
	}
	if code, other := probeResults(t, s, "starbucks", acmeTok); code == 200 {
		t.Fatalf("acme's admin read starbucks' probe results: %v", other)
	}
	_, sb := probeResults(t, s, "starbucks", s.Token)
	if sb["edge-b/user-plane"]["ok"] != true || sb["edge-a/user-plane"] != nil {
		t.Fatalf("starbucks' probe results: %v", sb)
	}
	// gNMI reads the same state.
	got, err := gpb.NewGNMIClient(gnmiConn(t, s)).Get(bearer(context.Background(), s.Token), &gpb.GetRequest{Encoding: gpb.Encoding_JSON,
		Path: []*gpb.Path{{Origin: "monitor", Target: "acme", Elem: []*gpb.PathElem{{Name: "probe-results"}}}}})
	if err != nil || len(got.Notification) != 1 || len(got.Notification[0].Update) != 1 {
		t.Fatalf("gNMI Get of acme's probe results: %v %v", got, err)
	}
	var viaGNMI struct {
		Result []map[string]any `json:"result"`
	}
	if err := json.Unmarshal(got.Notification[0].Update[0].Val.GetJsonVal(), &viaGNMI); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range viaGNMI.Result {
		found = found || (r["cluster"] == "edge-a" && r["probe"] == "user-plane" && r["ok"] == true)
	}
	if !found || len(viaGNMI.Result) != 2 {
		t.Fatalf("gNMI's acme probe results: %v", viaGNMI.Result)
	}

	// A stolen certificate (B's) cannot push A's results; B's own
	// malformed pushes are refused naming the member, and change nothing.
	hcB := agentClient(t, s, b.dir)
	push := func(cluster, body string) (int, string) {
		return call(t, hcB, "POST", s.URL+"/edge/v1/clusters/"+cluster+"/probes", body)
	}
	good := `{"results":[{"probe":"user-plane","kind":"user-plane","ok":false,"duration-seconds":0.1,"at":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}]}`
	if code, body := push("edge-a", good); code != 403 {
		t.Fatalf("edge-b's certificate pushing edge-a's results: %d %s", code, body)
	}
	for body, paths := range map[string][]string{
		`{"results":[{"probe":"","kind":"bogus","ok":true,"duration-seconds":-1}]}`:                {"/results/0/probe", "/results/0/kind", "/results/0/duration-seconds", "/results/0/at"},
		`{"results":[{"probe":"x","kind":"tcp","ok":true,"at":"2026-12-07T10:00:00Z","extra":1}]}`: {"/"},
		`{}`: {"/results"},
		`{"results":[` + strings.Repeat(`{"probe":"x","kind":"tcp","ok":true,"at":"2026-12-07T10:00:00Z"},`, 600) + `{"probe":"x","kind":"tcp","ok":true,"at":"2026-12-07T10:00:00Z"}]}`: {"/results"},
	} {
		code, resp := push("edge-b", body)
		if code != 400 {
			t.Fatalf("a malformed push: %d %s", code, resp)
		}
		for _, p := range paths {
			if !strings.Contains(resp, `"path":"`+p+`"`) {
				t.Errorf("the refusal of %.80s… does not name %s: %s", body, p, resp)
			}
		}
	}
	if code, resp := push("edge-b", `{"results":[{"probe":"user-plane","kind":"user-plane","ok":true,"at":"`+strings.Repeat("9", 40)+`"}]}`); code != 400 {
		t.Fatalf("a push with a bad time: %d %s", code, resp)
	}
	if okB() != 1 {
		t.Fatalf("edge-b's probe_ok after refused pushes: %v", okB())
	}

	// AMP restarted with the agents stopped: the last results are still
	// readable, and their metrics served.
	for _, st := range []*edgeSite{a, b} {
		st.agent.kill()
	}
	_, before := probeResults(t, s, "acme", s.Token)
	s.Stop()
	s = testenv.Start(t, dataDir, serve...)
	_, after := probeResults(t, s, "acme", s.Token)
	// A clean stop stores the newest result, which may be newer than the
	// one last written (an unchanged outcome is written once a minute).
	atOf := func(r map[string]any) time.Time {
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["at"]))
		if err != nil {
			t.Fatalf("the result's time: %v (%v)", err, r)
		}
		return at
	}
	if r := after["edge-a/user-plane"]; r == nil || r["ok"] != true || atOf(r).Before(atOf(before["edge-a/user-plane"])) {
		t.Fatalf("edge-a's user-plane result after the restart: %v (before: %v)", r, before["edge-a/user-plane"])
	}
	if okA() != 1 {
		t.Fatalf("amp_edge_probe_ok of edge-a after the restart: %v", okA())
	}

	// Agent A cut off (AMP stopped) while its target goes down: the
	// results wait on disk, and reach AMP when it is back.
	s.Stop()
	ta.down()
	a.agent = startAgent(t, "--dir", a.dir, "--kubeconfig", a.kube.Kubeconfig, "--metrics-listen", "127.0.0.1:0")
	dir := &state.Dir{Path: a.dir}
	waitWithin(t, time.Minute, func() bool {
		rs, err := dir.PendingProbes()
		failed := 0
		for _, r := range rs {
			if r.Probe == "user-plane" && !r.OK {
				failed++
			}
		}
		return err == nil && failed >= 3
	}, "agent A buffers its failing results while AMP is down")
	// The agent's metrics say so too.
	agentMetrics := a.agent.metricsURL(t)
	waitWithin(t, time.Minute, func() bool {
		resp, err := http.Get(agentMetrics)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var pending, failed float64 = -1, -1
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			fmt.Sscanf(sc.Text(), "amp_agent_probe_results_pending %g", &pending)
			fmt.Sscanf(sc.Text(), `amp_agent_probe_pushes_total{result="failed"} %g`, &failed)
		}
		return pending >= 3 && failed >= 1
	}, "amp_agent_probe_results_pending and the failed pushes in the agent's metrics")
	cutOff := time.Now()
	s = testenv.Start(t, dataDir, serve...)
	waitWithin(t, time.Minute, func() bool { return okA() == 0 }, "the buffered failure reaches AMP")
	waitWithin(t, time.Minute, func() bool {
		rs, err := dir.PendingProbes()
		return err == nil && len(rs) < 3
	}, "agent A's buffer drained")
	_, res := probeResults(t, s, "acme", s.Token)
	since, err := time.Parse(time.RFC3339Nano, fmt.Sprint(res["edge-a/user-plane"]["since"]))
	if err != nil || res["edge-a/user-plane"]["ok"] != false {
		t.Fatalf("edge-a's result after the outage: %v", res["edge-a/user-plane"])
	}
	if accepted := metricValue(t, s, `amp_edge_probe_results_total{outcome="accepted"}`); accepted < 3 {
		t.Fatalf("AMP took %v results after the outage, want the buffered ones", accepted)
	}
	t.Logf("edge-a's failure known centrally since %s; the agent was cut off until %s", since.Format(time.RFC3339Nano), cutOff.Format(time.RFC3339Nano))

	// Site A down (its agent stopped) for over a minute: nothing runs, the
	// last update stands still; when it is back its results resume and
	// the silence stays visible as the result's gap.
	lastUpdateA := func() float64 {
		return metricValue(t, s, `amp_edge_last_update_timestamp_seconds{cluster="edge-a",enterprise="acme",site="site-a"}`)
	}
	a.agent.kill()
	stoodStill := lastUpdateA()
	waitWithin(t, 3*time.Minute, func() bool {
		return time.Since(time.Unix(int64(stoodStill), 0)) > probes.GapAfter+5*time.Second
	}, "site A silent for longer than a gap")
	if v := lastUpdateA(); v != stoodStill {
		t.Fatalf("amp_edge_last_update_timestamp_seconds of edge-a moved while its agent was down: %v, then %v", stoodStill, v)
	}
	_, res = probeResults(t, s, "acme", s.Token)
	lastRun := atOf(res["edge-a/user-plane"])
	a.agent = startAgent(t, "--dir", a.dir, "--kubeconfig", a.kube.Kubeconfig)
	waitWithin(t, time.Minute, func() bool { return lastUpdateA() > stoodStill }, "site A's results resume")
	var gap map[string]any
	waitWithin(t, time.Minute, func() bool {
		_, res = probeResults(t, s, "acme", s.Token)
		gap, _ = res["edge-a/user-plane"]["gap"].(map[string]any)
		return gap != nil
	}, "edge-a's probe-results show the gap")
	from, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(gap["from"]))
	to, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(gap["to"]))
	if err1 != nil || err2 != nil || !from.Equal(lastRun) || to.Sub(from) < probes.GapAfter {
		t.Fatalf("edge-a's gap %v: want from its last run before, %s, at least %v long", gap, lastRun.Format(time.RFC3339Nano), probes.GapAfter)
	}
}
