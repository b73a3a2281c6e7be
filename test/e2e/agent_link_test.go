package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv"
)

// linkAgent speaks the agent link's wire protocol to a server as a
// cluster's agent does: enrolled with a registration token, it presents
// its certificate and no API token.
type linkAgent struct {
	t       *testing.T
	s       *testenv.Server
	cluster string
	hc      *http.Client // presents the cluster's certificate
	creds   wire.Credentials
}

func newLinkAgent(t *testing.T, s *testenv.Server, cluster string) *linkAgent {
	t.Helper()
	a := enrol(t, s, cluster)
	return &linkAgent{t: t, s: s, cluster: cluster, hc: a.client(t, a.creds.Certificate, s.CA), creds: a.creds}
}

// do sends a request with the agent's certificate.
func (a *linkAgent) do(method, path, body string, hdr ...string) (int, []byte, http.Header) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.s.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// desired asks for the cluster's desired state holding held (nil: none),
// waiting up to wait; nil answer: 304.
func (a *linkAgent) desired(held *wire.Desired, wait string) (*wire.Desired, int) {
	a.t.Helper()
	path := "/edge/v1/clusters/" + a.cluster + "/desired?wait=" + wait
	var hdr []string
	if held != nil {
		path += "&since=" + strconv.FormatUint(held.Index, 10)
		hdr = []string{"If-None-Match", `"` + held.Digest + `"`}
	}
	code, b, h := a.do("GET", path, "", hdr...)
	switch code {
	case 304:
		if len(b) != 0 || h.Get("ETag") != `"`+held.Digest+`"` {
			a.t.Fatalf("304 with a body %q or ETag %q", b, h.Get("ETag"))
		}
		return nil, code
	case 200:
		var d wire.Desired
		if err := json.Unmarshal(b, &d); err != nil {
			a.t.Fatal(err)
		}
		if h.Get("ETag") != `"`+d.Digest+`"` {
			a.t.Fatalf("ETag %q, digest %s", h.Get("ETag"), d.Digest)
		}
		return &d, code
	}
	a.t.Fatalf("GET %s: %d %s", path, code, b)
	return nil, code
}

func (a *linkAgent) checkin(c *wire.Checkin) *wire.CheckinAnswer {
	a.t.Helper()
	body, _ := json.Marshal(c)
	code, b, _ := a.do("PUT", "/edge/v1/clusters/"+a.cluster+"/status", string(body), "Content-Type", "application/json")
	if code != 200 {
		a.t.Fatalf("check-in: %d %s", code, b)
	}
	var ans wire.CheckinAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		a.t.Fatal(err)
	}
	return &ans
}

// metricValue reads one series of the server's /metrics (-1: absent).
func metricValue(t *testing.T, s *testenv.Server, series string) float64 {
	t.Helper()
	for _, l := range strings.Split(string(s.Must(t, 200, "GET", "/metrics", "")), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return -1
}

// TestAgentLink drives the central end of the agent link through the
// binary: a declared cluster's full desired state; a node label changed
// through REST answers a waiting request with the delta at once; the
// current digest with a short wait is 304; a check-in is recorded and
// readable through REST, gNMI, `amp cluster status` and the metrics, and
// `amp cluster plan` compares against it; unchanged check-ins write
// nothing; a malformed check-in is 400 naming the field, a desired state
// asked for by an operator 403, a wait beyond the bound 400.
func TestAgentLink(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--adapters", "none", "--gnmi-listen", "127.0.0.1:0")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"cluster":[{"cluster-id":"ace-x","namespace":["ran"],
	  "node":[{"name":"server-1","host":"10.0.1.1","role":["worker"],"node-label":["zone=east"]}]}]}`)
	agent := newLinkAgent(t, s, "ace-x")

	full, _ := agent.desired(nil, "0s")
	// The declaration's namespace and node, and the two built-in probes
	// every cluster runs (docs/monitoring.md).
	if !full.Full || len(full.Objects) != 4 || full.Objects[0].Kind != "namespace" || string(full.Objects[1].Spec) != `{"labels":{"zone":"east"},"taints":[]}` ||
		full.Objects[2].Kind != wire.KindProbe || full.Objects[2].Name != "control-plane" || full.Objects[3].Name != "user-plane" ||
		full.Digest != wire.StateDigest(full.Objects) {
		t.Fatalf("full state: %+v", full)
	}

	// A waiting request answers the change as soon as it commits.
	type answer struct {
		d    *wire.Desired
		code int
	}
	waited := make(chan answer, 1)
	go func() {
		d, code := agent.desired(full, "30s")
		waited <- answer{d, code}
	}()
	for deadline := time.Now().Add(10 * time.Second); metricValue(t, s, "amp_edge_waiting_agents") != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the desired-state request never waited")
		}
	}
	s.Must(t, 200, "PUT", "/inventory/v1.0.0/cluster/ace-x/node/server-1/node-label", `["zone=west"]`)
	w := <-waited
	if w.code != 200 || w.d.Full || len(w.d.Objects) != 1 || string(w.d.Objects[0].Spec) != `{"labels":{"zone":"west"},"taints":[]}` ||
		len(w.d.Removed) != 0 || w.d.Index <= full.Index {
		t.Fatalf("the waiting request: %d %+v", w.code, w.d)
	}
	if n := metricValue(t, s, "amp_edge_desired_delivery_seconds_count"); n != 1 {
		t.Fatalf("deliveries observed: %v", n)
	}
	held := *w.d
	held.Objects = []wire.Object{full.Objects[0], w.d.Objects[0], full.Objects[2], full.Objects[3]}
	if wire.StateDigest(held.Objects) != held.Digest {
		t.Fatal("the delta applied does not give the state's digest")
	}
	if d, code := agent.desired(&held, "1s"); code != 304 || d != nil {
		t.Fatalf("the current digest: %d %+v", code, d)
	}

	// Check-ins.
	checkin := func(ready bool) *wire.Checkin {
		c := &wire.Checkin{AgentVersion: "v9.9.9-test", AgentTime: time.Now(),
			Facts:   wire.Facts{KubernetesVersion: "v1.35.4", Nodes: []wire.Node{{Name: "server-1", Labels: map[string]string{"zone": "west", "kubernetes.io/hostname": "server-1"}, Ready: ready}}},
			Applied: wire.Applied{Index: held.Index, Digest: held.Digest}}
		for _, o := range held.Objects {
			c.Objects = append(c.Objects, wire.ObjectStatus{Kind: o.Kind, Name: o.Name, Digest: o.Digest, State: wire.StateApplied, At: time.Now()})
		}
		return c
	}
	ans := agent.checkin(checkin(true))
	if ans.Desired.Digest != held.Digest || time.Duration(ans.Interval) != 30*time.Second {
		t.Fatalf("check-in answer: %+v", ans)
	}
	var c map[string]any
	getJSON(t, s, "/inventory/v1.0.0/cluster/ace-x", &c)
	a, _ := c["agent"].(map[string]any)
	rep, _ := c["report"].(map[string]any)
	if a["connected"] != true || a["agent-version"] != "v9.9.9-test" || a["applied-digest"] != held.Digest || rep["kubernetes-version"] != "v1.35.4" ||
		a["certificate-serial"] != agent.creds.Serial || a["certificate-not-after"] != agent.creds.NotAfter.UTC().Format(time.RFC3339) {
		t.Fatalf("the cluster's state through REST: %v (certificate %s, %s)", c, agent.creds.Serial, agent.creds.NotAfter)
	}
	// gNMI reads the same state.
	got, err := gpb.NewGNMIClient(gnmiConn(t, s)).Get(bearer(context.Background(), s.Token), &gpb.GetRequest{Encoding: gpb.Encoding_JSON,
		Path: []*gpb.Path{{Origin: "inventory", Elem: []*gpb.PathElem{{Name: "cluster", Key: map[string]string{"cluster-id": "ace-x"}}, {Name: "agent"}, {Name: "agent-version"}}}}})
	if err != nil || len(got.Notification) != 1 || len(got.Notification[0].Update) != 1 || string(got.Notification[0].Update[0].Val.GetJsonVal()) != `"v9.9.9-test"` {
		t.Fatalf("gNMI Get of the agent state: %v %v", got, err)
	}
	env := s.Env()
	out, err := ampCLI(t, env, "cluster", "status")
	if err != nil || !regexp.MustCompile(`(?m)^ace-x\s+yes\s+\S+\s+v9\.9\.9-test\s+in-sync\s+0\s*$`).MatchString(out) {
		t.Fatalf("amp cluster status: %v\n%s", err, out)
	}
	out, err = ampCLI(t, env, "cluster", "status", "ace-x")
	for _, want := range []string{"connected: yes", "agent v9.9.9-test", "sync: in-sync (4 objects, 0 failed)", "facts reported at", "kubernetes v1.35.4",
		"node server-1: ready; labels [kubernetes.io/hostname=server-1, zone=west]", "node server-1: applied", "namespace ran: applied"} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("amp cluster status ace-x lacks %q: %v\n%s", want, err, out)
		}
	}
	// The plan compares the declaration with what the agent reported: the
	// declared label is there (the site's own labels are not the plan's).
	out, err = ampCLI(t, env, "cluster", "plan", "ace-x")
	if err != nil || !strings.Contains(out, "No changes") {
		t.Fatalf("amp cluster plan after the report: %v\n%s", err, out)
	}

	// Unchanged check-ins write nothing.
	writes := metricValue(t, s, "amp_state_updates_total")
	for range 3 {
		agent.checkin(checkin(true))
	}
	if metricValue(t, s, "amp_state_updates_total") != writes || metricValue(t, s, `amp_edge_checkins_total{outcome="unchanged"}`) != 3 {
		t.Fatalf("unchanged check-ins wrote state: %v -> %v", writes, metricValue(t, s, "amp_state_updates_total"))
	}
	if metricValue(t, s, `amp_edge_connected{cluster="ace-x",site=""}`) != 1 || metricValue(t, s, `amp_edge_last_checkin_timestamp_seconds{cluster="ace-x",site=""}`) < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatal("the link metrics")
	}
	// A node no longer ready: recorded.
	agent.checkin(checkin(false))
	if metricValue(t, s, "amp_state_updates_total") == writes {
		t.Fatal("a changed check-in wrote nothing")
	}

	// Refusals.
	refused(t, s, 400, "PUT", "/edge/v1/clusters/ace-x/status", `{"agent-version":"v1","agent-time":"2026-12-07T12:00:00Z","facts":{"nodes":[{"name":"n","taints":["gpu"]}]}}`,
		"/facts/nodes/0/taints/0", "key[=value]:Effect")
	// A desired state carries the cluster's sealing keys (sealed-secret
	// objects): its agent alone reads it, not even an operator.
	refused(t, s, 403, "GET", "/edge/v1/clusters/ace-x/desired", "", "/edge/v1/clusters/ace-x/desired", "only the cluster's agent reads it")
	if code, b, _ := agent.do("GET", "/edge/v1/clusters/ace-x/desired?wait=10m", ""); code != 400 || !strings.Contains(string(b), "?wait") || !strings.Contains(string(b), "5m0s") {
		t.Fatalf("a wait beyond the bound: %d %s", code, b)
	}

}

// TestAgentLinkDisconnected: an agent that stops checking in is
// disconnected after two intervals (--agent-checkin-interval), in its
// state, in `amp cluster status` and in the metrics.
func TestAgentLinkDisconnected(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--adapters", "none", "--agent-checkin-interval", "1s")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"cluster":[{"cluster-id":"ace-x","namespace":["ran"]}]}`)
	agent := newLinkAgent(t, s, "ace-x")
	full, _ := agent.desired(nil, "0s")
	ans := agent.checkin(&wire.Checkin{AgentVersion: "v9.9.9-test", AgentTime: time.Now(), Applied: wire.Applied{Index: full.Index, Digest: full.Digest},
		Objects: []wire.ObjectStatus{{Kind: "namespace", Name: "ran", State: wire.StateFailed, Message: "forbidden\x1b]0;owned\x07\x1b[2J", At: time.Now()}}})
	if time.Duration(ans.Interval) != time.Second {
		t.Fatalf("check-in answer: %+v", ans)
	}
	env := s.Env()
	// What the agent reports is its free text: printed terminal-safe.
	for _, args := range [][]string{{"cluster", "status"}, {"cluster", "status", "ace-x"}} {
		out, err := ampCLI(t, env, args...)
		if err != nil || strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, "ace-x") {
			t.Fatalf("amp %s: %v %q", strings.Join(args, " "), err, out)
		}
		if len(args) == 3 && !strings.Contains(out, "namespace ran: failed: forbidden") {
			t.Fatalf("amp cluster status ace-x does not name the failure: %q", out)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := ampCLI(t, env, "cluster", "status", "ace-x", "-o", "json")
		var st struct {
			Connected bool
			InSync    bool `json:"in-sync"`
			Failed    []string
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil || st.InSync || len(st.Failed) != 1 || !strings.Contains(st.Failed[0], "forbidden") {
			t.Fatalf("amp cluster status ace-x: %v %s", err, out)
		}
		if !st.Connected && metricValue(t, s, `amp_edge_connected{cluster="ace-x",site=""}`) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ace-x never disconnected: %s", out)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var c map[string]any
		getJSON(t, s, "/inventory/v1.0.0/cluster/ace-x", &c)
		if a, _ := c["agent"].(map[string]any); a["connected"] == false {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stored state never said disconnected: %v", c)
		}
	}
}
