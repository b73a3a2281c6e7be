package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

// TestSiteQueriesAcrossReplicas: two `amp serve` replicas on one etcd;
// both sites' agents, each with its own real Prometheus, long-poll B.
// Queries and a lookup made at A — as acme's admin and as the operator —
// are relayed through etcd to B, which holds the agents' links: answered
// with the sites' series and no warning, acme's never holding starbucks'
// data. Site-a's agent stopped: A's answer names site-a in a warning.
// Site-a's agent moved to A: answered again, by A itself.
func TestSiteQueriesAcrossReplicas(t *testing.T) {
	bin := testenv.Binary(t)
	c := etcd.Start(t, 1)
	// One central Prometheus for both replicas, as behind one address.
	central := scrapedPrometheus(t, tenantSeries, "amp_test_secret", "")
	serve := []string{"--store", "etcd://" + c.Endpoints() + "/amp-replica-queries/", "--adapters", "none", "--agent-checkin-interval", "1s",
		"--prometheus-url", central.URL}
	dirA, dirB := t.TempDir(), t.TempDir()
	start := func(dir string, args ...string) *testenv.Server {
		s, err := testenv.StartErr(bin, dir, append(serve, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		return s
	}
	// The demo's enterprises (acme, starbucks) are committed once, by A.
	a := start(dirA, "--replica-name", "r1", "--demo", "--demo-backends=false")
	shareReplicaSecrets(t, dirA, dirB)
	b := start(dirB, "--replica-name", "r2")
	_, _, hdr, err := a.Do(context.Background(), "POST", "/inventory/v1.0.0", probeSites)
	if err != nil {
		t.Fatal(err)
	}
	b.Must(t, 200, "GET", "/inventory/v1.0.0/cluster/edge-a?min-index="+hdr.Get("X-AMP-Transaction-Index"), "")
	acme, _ := apiToken(t, a, "acme-admin", "enterprise-admin", "acme")

	sa := &edgeSite{cluster: "edge-a", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-a")}
	sb := &edgeSite{cluster: "edge-b", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-b")}
	promA := scrapedPrometheus(t, siteASeries, "amp_test_info", "")
	promB := scrapedPrometheus(t, siteBSeries, "amp_test_secret", "")
	agentArgs := func(s *edgeSite, prom string) []string {
		return []string{"--dir", s.dir, "--kubeconfig", s.kube.Kubeconfig, "--prometheus-url", prom, "--poll-wait", "2s"}
	}
	for _, st := range []struct {
		site *edgeSite
		prom string
	}{{sa, promA.URL}, {sb, promB.URL}} {
		st.site.enrol(t, a)
		st.site.agent = startAgent(t, append(agentArgs(st.site, st.prom), "--server", b.URL)...)
	}
	waitWithin(t, time.Minute, func() bool {
		return linkOf(t, a, "edge-a").Connected && linkOf(t, a, "edge-b").Connected
	}, "A seeing both agents connected (to B)")

	// The operator at A: both sites' series, relayed, no warning.
	var got siteAnswer
	waitWithin(t, time.Minute, func() bool {
		got = askAs(t, a, a.Token, "amp_test_value")
		ss := got.samples(t)
		return fromCluster(ss, "edge-a") == 2 && fromCluster(ss, "edge-b") == 2 && len(got.Warnings) == 0
	}, "both sites' series at A, with no warning")

	// Acme's admin at A: site-a's series, nothing of starbucks, no warning.
	got = askAs(t, a, acme, "amp_test_value")
	if ss := got.samples(t); len(ss) != 4 || fromCluster(ss, "edge-a") != 2 || starbucksIn(ss) != "" || len(got.Warnings) != 0 {
		t.Fatalf("acme's amp_test_value at A: %s %q", got.Data.Result, got.Warnings)
	}
	// A hostile one: a regex over every metric name.
	got = askAs(t, a, acme, `{__name__=~"amp_test_.*"}`)
	if ss := got.samples(t); fromCluster(ss, "edge-a") != 3 || starbucksIn(ss) != "" || len(got.Warnings) != 0 {
		t.Fatalf("acme's regex over every metric at A: %s %q", got.Data.Result, got.Warnings)
	}
	// A lookup, relayed too: acme sees site-a's series only.
	code, data, warnings := lookupAs(t, a, acme, "/metrics/api/v1/series", url.Values{"match[]": {`{__name__=~"amp_test_.*"}`}})
	if code != 200 || !strings.Contains(data, `"cluster":"edge-a"`) || strings.Contains(data, "starbucks") || strings.Contains(data, "seattle") || len(warnings) != 0 {
		t.Fatalf("acme's series lookup at A: %d %s %q", code, data, warnings)
	}
	code, data, warnings = lookupAs(t, a, a.Token, "/metrics/api/v1/label/seattle_roast/values", nil)
	if code != 200 || !strings.Contains(data, "dark") || len(warnings) != 0 {
		t.Fatalf("the operator's label values lookup at A: %d %s %q", code, data, warnings)
	}
	// B answered them for A: it counts the queries it took.
	if n := metricValue(t, b, `amp_edge_relayed_queries_total{result="ok",role="taken"}`); n < 5 {
		t.Errorf("B took %v relayed queries, want at least 5", n)
	}
	if n := metricValue(t, a, `amp_edge_relayed_queries_total{result="ok",role="asked"}`); n < 5 {
		t.Errorf("A relayed %v queries, want at least 5", n)
	}

	// Site-a's agent stopped: once the store says so, A's answer holds
	// site-b's series and a warning naming site-a.
	sa.agent.kill()
	waitWithin(t, time.Minute, func() bool {
		got = askAs(t, a, a.Token, "amp_test_value")
		ss := got.samples(t)
		return fromCluster(ss, "edge-a") == 0 && fromCluster(ss, "edge-b") == 2 &&
			len(got.Warnings) == 1 && strings.Contains(got.Warnings[0], "site site-a (cluster edge-a)")
	}, "A's answer naming site-a, whose agent stopped")

	// Site-a's agent back, at A: A asks it itself.
	sa.agent = startAgent(t, append(agentArgs(sa, promA.URL), "--server", a.URL)...)
	waitWithin(t, time.Minute, func() bool {
		got = askAs(t, a, acme, "amp_test_value")
		return fromCluster(got.samples(t), "edge-a") == 2 && len(got.Warnings) == 0
	}, "site-a's series at A once its agent moved to A")
}

// linkOf is cluster's link as replica s shows it (GET
// /clusters/{cluster}/status).
func linkOf(t *testing.T, s *testenv.Server, cluster string) linkView {
	t.Helper()
	var v linkView
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/clusters/"+cluster+"/status", ""), &v); err != nil {
		t.Fatal(err)
	}
	return v
}
