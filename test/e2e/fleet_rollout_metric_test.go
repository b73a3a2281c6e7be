package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// startPrometheus runs Debian's prometheus (scripts/test-deps.sh installs
// it; the test fails without it) scraping target every second, and
// returns its base URL once it has scraped it.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed (scripts/test-deps.sh installs Debian's): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: sites
    static_configs: [{targets: ['%s']}]
`, target)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + etcd.FreePort(t)
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, _, err := queryOnce(base, "site_error_ratio")
		if err == nil && ok {
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not scrape %s within a minute: %v\n%s", target, err, log.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// queryOnce asks whether a query has a non-empty result.
func queryOnce(base, q string) (bool, string, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + q)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return resp.StatusCode == 200 && strings.Contains(b.String(), `"value"`), b.String(), nil
}

// TestFleetRolloutMetricGate: a stage's metric gate, a PromQL query asked
// of a real Prometheus that scrapes an exporter the test controls, holds
// when the bake starts; when the sites' error ratio rises during the bake
// the query stops holding, and the rollout halts and rolls back by itself
// with the query and what it found; production is never touched.
func TestFleetRolloutMetricGate(t *testing.T) {
	var ratio atomic.Value
	ratio.Store("0.01")
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE site_error_ratio gauge\nsite_error_ratio{site=\"staging-1\"} %s\n", ratio.Load())
	}))
	defer exporter.Close()
	prom := startPrometheus(t, strings.TrimPrefix(exporter.URL, "http://"))

	s := testenv.Start(t, t.TempDir(), "--agent-checkin-interval", "1s")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"cluster":[
 {"cluster-id":"staging-1","label":[{"name":"env","value":"staging"}]},
 {"cluster-id":"prod-1","label":[{"name":"env","value":"production"}]}]}`)
	sites := newRolloutSites(t, s, "staging-1", "prod-1")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go sites.run(ctx)

	noProm := `{"rollout":[{"rollout-id":"bad","bundle":"upf","version":"1.0.0","stage":[{"group":"staging","metric-gate":{"query":"up"}}]}]}`
	s.Must(t, 201, "POST", "/fleet/v1.0.0", `{"bundle":[{"bundle-id":"upf","chart":{"repository":"https://charts.example.com/aether","name":"bess-upf","version":"1.4.2"}}],
 "cluster-group":[{"group-id":"staging","match-label":[{"name":"env","value":"staging"}]},
                  {"group-id":"production","match-label":[{"name":"env","value":"production"}]}]}`)
	if code, b, _, _ := s.Do(ctx, "POST", "/fleet/v1.0.0", noProm); code != 409 || !strings.Contains(string(b), "metric-gate/prometheus") {
		t.Errorf("a metric gate without its Prometheus: %d %s, want 409 at metric-gate/prometheus", code, b)
	}
	query := "max(site_error_ratio) < 0.05"
	s.Must(t, 201, "POST", "/fleet/v1.0.0", fmt.Sprintf(`{"rollout":[{"rollout-id":"upf-r","bundle":"upf","version":"1.1.0","stage":[
   {"group":"staging","order":1,"bake-time":120,"helm-test":true,"metric-gate":{"prometheus":%q,"query":%q,"interval":1}},
   {"group":"production","order":2,"bake-time":1}]}]}`, prom, query))
	waitRollout(t, s, "upf-r", "the bake with the gate holding", func(st rolloutStatusDoc) bool { return st.Phase == "baking" })
	time.Sleep(2 * time.Second) // the gate keeps holding: evaluated every second
	if st := rolloutStatus(t, s, "upf-r"); st.Phase != "baking" {
		t.Fatalf("the gate held, the rollout should still bake: %+v", st)
	}

	ratio.Store("0.5") // the sites' errors rise during the bake
	st := waitRollout(t, s, "upf-r", "the halt by the metric gate", func(st rolloutStatusDoc) bool { return st.Phase == "rolled-back" })
	if !strings.Contains(st.Halted, query) || !strings.Contains(st.Halted, "did not hold") {
		t.Errorf("halted-reason %q should name the query and say it did not hold", st.Halted)
	}
	if _, ok := sites.firstStaged("staging-1", "1.1.0"); !ok {
		t.Fatalf("staging-1 never got 1.1.0")
	}
	waitStaged(t, sites, "staging-1", "") // back to no release: it had none before
	if _, ok := sites.firstStaged("prod-1", "1.1.0"); ok {
		t.Errorf("prod-1 got 1.1.0 although the gate failed at staging")
	}
	if m := string(s.Must(t, 200, "GET", "/metrics", "")); !strings.Contains(m, `amp_fleet_rollout_halts_total{cause="metric"} 1`) {
		t.Errorf("/metrics should count the halt by the metric gate")
	}

	// The stage asks for Helm tests: the deployment says so (the
	// helm-release carries it), and a version whose test fails halts.
	ratio.Store("0.01")
	setVersion(t, s, "1.2.0-testfail")
	st = waitRollout(t, s, "upf-r", "the halt by the failed Helm test", func(st rolloutStatusDoc) bool {
		return st.Version == "1.2.0-testfail" && st.Phase == "rolled-back"
	})
	if !strings.Contains(st.Halted, "helm test") {
		t.Errorf("halted-reason %q should carry the agent's test failure", st.Halted)
	}
	if b := string(s.Must(t, 200, "GET", "/fleet/v1.0.0/bundle/upf", "")); !strings.Contains(b, `"helm-test":true`) {
		t.Errorf("the staging cluster's deployment should ask for Helm tests: %s", b)
	}

	// Workflows and rollouts are the operators': an enterprise's admin
	// neither sees the runs nor approves, cancels or rolls back.
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	admin, _ := apiToken(t, s, "ann", "enterprise-admin", "acme")
	for _, r := range []struct{ method, path string }{
		{"GET", "/workflows"}, {"GET", "/workflows/" + st.Workflow}, {"POST", "/workflows/" + st.Workflow + "/cancel"},
		{"POST", "/fleet/rollouts/upf-r/approve"}, {"POST", "/fleet/rollouts/upf-r/rollback"},
	} {
		if code, b, _, _ := s.Do(ctx, r.method, r.path, "{}", "Authorization", "Bearer "+admin); code != 403 {
			t.Errorf("%s %s by an enterprise admin: %d %s, want 403", r.method, r.path, code, b)
		}
	}
}
