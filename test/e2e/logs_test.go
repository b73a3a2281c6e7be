package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
	"github.com/amp-edge/amp/internal/testenv/victorialogs"
)

// logAnswer is GET /logs's answer (Loki's query_range shape).
type logAnswer struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Stream map[string]string `json:"stream"`
			Values [][2]string       `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// queryLogs asks GET /logs as the holder of token, over the last 10 minutes.
func queryLogs(t *testing.T, s *testenv.Server, token string, want int, query string) logAnswer {
	t.Helper()
	q := url.Values{"query": {query}, "limit": {"5000"}, "start": {time.Now().Add(-10 * time.Minute).Format(time.RFC3339)}}
	code, b, _, err := s.Do(context.Background(), "GET", "/logs?"+q.Encode(), "", "Authorization", "Bearer "+token)
	if err != nil || code != want {
		t.Fatalf("GET /logs %s: %d %v %s, want %d", query, code, err, b, want)
	}
	var a logAnswer
	if want == 200 {
		if err := json.Unmarshal(b, &a); err != nil || a.Status != "success" || a.Data.ResultType != "streams" {
			t.Fatalf("GET /logs %s: %s (%v)", query, b, err)
		}
	}
	return a
}

func (a logAnswer) lines() int {
	n := 0
	for _, r := range a.Data.Result {
		n += len(r.Values)
	}
	return n
}

// TestLogsEndToEnd: two sites' agents ship their logs through AMP to a
// real VictoriaLogs; acme's admin finds its site's lines through GET
// /logs and none of starbucks'; a level changed with amp log-level
// --cluster makes the agent's debug lines appear, and --reset makes them
// stop; lines logged while the store is down wait on the site's disk and
// all arrive after.
func TestLogsEndToEnd(t *testing.T) {
	vl := victorialogs.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--listen", listen, "--agent-checkin-interval", "1s",
		"--gnmi-listen", "127.0.0.1:0", "--log-push-url", vl.PushURL, "--log-query-url", vl.URL)
	s.Must(t, 201, "POST", "/inventory/v1.0.0", probeSites)
	ta, tb := newTarget(t), newTarget(t)
	// Probes every second: each run logs a debug line at the site.
	s.Must(t, 201, "POST", "/monitor/v1.0.0/acme", `{"probe":[{"name":"internet","kind":"user-plane","target":"`+ta.url()+`","expect-status":204,"interval":1,"timeout":1}]}`)
	s.Must(t, 201, "POST", "/monitor/v1.0.0/starbucks", `{"probe":[{"name":"internet","kind":"user-plane","target":"`+tb.url()+`","interval":1,"timeout":1}]}`)
	acme, _ := apiToken(t, s, "acme-boss", "enterprise-admin", "acme")
	sb, _ := apiToken(t, s, "sb-boss", "enterprise-admin", "starbucks")

	a := &edgeSite{cluster: "edge-a", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-a")}
	a.kube.AddNode(t, "a-1", nil, nil, true)
	b := &edgeSite{cluster: "edge-b", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-b")}
	b.kube.AddNode(t, "b-1", nil, nil, true)
	for _, st := range []*edgeSite{a, b} {
		st.enrol(t, s)
		st.agent = startAgent(t, "--dir", st.dir, "--kubeconfig", st.kube.Kubeconfig, "--ship-logs")
	}

	// Each enterprise's admin finds its own site's lines, labelled by
	// AMP with cluster, site and enterprise, and not the other's.
	waitWithin(t, 2*time.Minute, func() bool {
		return queryLogs(t, s, acme, 200, `{cluster="edge-a", component="agent"}`).lines() > 0 &&
			queryLogs(t, s, sb, 200, `{cluster="edge-b", component="agent"}`).lines() > 0
	}, "each site's agent lines through GET /logs for its enterprise's admin")
	for _, r := range queryLogs(t, s, acme, 200, `{cluster="edge-a"}`).Data.Result {
		if r.Stream["site"] != "site-a" || r.Stream["enterprise"] != "acme" || r.Stream["cluster"] != "edge-a" {
			t.Fatalf("a stream of edge-a labelled %v", r.Stream)
		}
	}
	if n := queryLogs(t, s, sb, 200, `{cluster="edge-a"}`).lines(); n != 0 {
		t.Fatalf("starbucks' admin sees %d lines of acme's cluster", n)
	}
	if n := queryLogs(t, s, acme, 200, `{cluster=~"edge-.+"} |= "edge-b"`).lines(); n != 0 {
		t.Fatalf("acme's admin sees %d lines mentioning edge-b", n)
	}
	for _, hostile := range []string{`{enterprise="starbucks"}`, `{enterprise=~"acme|starbucks"}`, `{enterprise!="acme"}`} {
		queryLogs(t, s, acme, 403, hostile)
	}
	queryLogs(t, s, s.Token, 400, `{cluster=~".*"}`)                // every stream: refused
	queryLogs(t, s, acme, 400, `sum(rate({cluster="edge-a"}[1m]))`) // beyond the subset
	// The operator reads every stream, AMP's own included.
	if n := queryLogs(t, s, s.Token, 200, `{cluster="edge-b"}`).lines(); n == 0 {
		t.Fatal("the operator sees no line of edge-b")
	}

	// Debug lines of the agent's probes appear once the level is
	// changed through AMP at run time.
	debug := `{cluster="edge-a", component="agent-probe"} |= "\"level\":\"DEBUG\""`
	if n := queryLogs(t, s, acme, 200, debug).lines(); n != 0 {
		t.Fatalf("%d debug lines at the info level", n)
	}
	cli := exec.Command(testenv.Binary(t), "log-level", "--cluster", "edge-a", "agent-probe", "debug")
	cli.Env = append(os.Environ(), s.Env()...)
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("amp log-level --cluster edge-a agent-probe debug: %v\n%s", err, out)
	}
	waitWithin(t, time.Minute, func() bool { return queryLogs(t, s, acme, 200, debug).lines() > 0 }, "edge-a's probe debug lines through GET /logs")
	if n := queryLogs(t, s, sb, 200, `{cluster="edge-b", component="agent-probe"} |= "\"level\":\"DEBUG\""`).lines(); n != 0 {
		t.Fatalf("edge-b logs %d debug lines: the level reached the wrong agent", n)
	}

	// The store goes away; the agent keeps logging (a debug line a
	// second), its lines wait on disk, and all arrive once it is back.
	vl.Stop()
	spool := filepath.Join(a.dir, "log-spool")
	waitWithin(t, time.Minute, func() bool {
		des, _ := os.ReadDir(spool)
		return len(des) >= 3
	}, "edge-a's lines spooled on disk while the store is down")
	vl.Restart()

	// The level goes back: once the agent has removed it, the probes
	// keep running and log no debug line.
	reset := exec.Command(testenv.Binary(t), "log-level", "--cluster", "edge-a", "agent-probe", "--reset")
	reset.Env = append(os.Environ(), s.Env()...)
	if out, err := reset.CombinedOutput(); err != nil {
		t.Fatalf("amp log-level --cluster edge-a agent-probe --reset: %v\n%s", err, out)
	}
	var removedAt time.Time
	waitWithin(t, time.Minute, func() bool {
		for _, line := range strings.Split(a.agent.logs(), "\n") {
			var rec struct {
				Time   time.Time
				Object string
			}
			if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(rec.Object, "log level agent-probe: back to info") {
				removedAt = rec.Time
				return true
			}
		}
		return false
	}, "edge-a's agent removing the level")
	waitWithin(t, time.Minute, func() bool {
		return metricValue(t, s, `amp_edge_last_update_timestamp_seconds{cluster="edge-a",enterprise="acme",site="site-a"}`) > float64(removedAt.Unix()+2)
	}, "edge-a's probes running on after the removal")
	after := a.agent.logs()[strings.Index(a.agent.logs(), "back to info"):]
	if strings.Contains(after, `"level":"DEBUG"`) {
		t.Fatalf("edge-a logged debug lines after its level went back to info:\n%.2000s", after)
	}

	// Stopped as an operator stops it: what it holds goes out first.
	a.agent.cmd.Process.Signal(syscall.SIGTERM)
	<-a.agent.done
	logged := 0
	for _, line := range strings.Split(a.agent.logs(), "\n") {
		if strings.Contains(line, `"component":"agent-probe"`) && strings.Contains(line, `"level":"DEBUG"`) {
			logged++
		}
	}
	waitWithin(t, time.Minute, func() bool { return queryLogs(t, s, acme, 200, debug).lines() == logged },
		"every debug line edge-a logged, the outage's included, in the store")
	if des, _ := os.ReadDir(spool); len(des) != 0 {
		t.Fatalf("%d batches left in the spool", len(des))
	}
}
