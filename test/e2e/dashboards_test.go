package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	sdkprom "github.com/grafana/grafana-foundation-sdk/go/prometheus"

	"github.com/amp-edge/amp/internal/monitor/dashboards"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/prometheus"
)

// probeSeries are end-to-end probe results of a site of each enterprise,
// as AMP exposes them: acme's site passes both probes, starbucks' fails
// its user plane (so a leak shows as a seattle site or a 0 uptime).
const probeSeries = `# TYPE amp_edge_probe_ok gauge
amp_edge_probe_ok{enterprise="acme",site="acme-chicago",cluster="ace-x",probe="user-plane"} 1
amp_edge_probe_ok{enterprise="acme",site="acme-chicago",cluster="ace-x",probe="control-plane"} 1
amp_edge_probe_ok{enterprise="starbucks",site="starbucks-seattle",cluster="sb-1",probe="user-plane"} 0
amp_edge_probe_ok{enterprise="starbucks",site="starbucks-seattle",cluster="sb-1",probe="control-plane"} 1
# TYPE amp_edge_probe_duration_seconds gauge
amp_edge_probe_duration_seconds{enterprise="acme",site="acme-chicago",cluster="ace-x",probe="user-plane"} 0.02
amp_edge_probe_duration_seconds{enterprise="starbucks",site="starbucks-seattle",cluster="sb-1",probe="user-plane"} 1000
# TYPE amp_edge_last_update_timestamp_seconds gauge
amp_edge_last_update_timestamp_seconds{enterprise="acme",site="acme-chicago",cluster="ace-x"} %d
amp_edge_last_update_timestamp_seconds{enterprise="starbucks",site="starbucks-seattle",cluster="sb-1"} %d
`

// TestDashboardsExportAndQuery: each predefined dashboard, and one acme
// declares in the monitor set (a bad panel query refused at commit),
// exported through REST (and `amp monitor dashboard export`, byte for byte the
// same) reads back with grafana-foundation-sdk's types; every panel's
// query, with Grafana's variables filled in as Grafana would ($site: All),
// runs as acme's admin through AMP's tenant-safe query API on a real
// Prometheus and answers with acme's series only: the summary shows
// acme's site at 100% user plane uptime, never starbucks' failing one.
func TestDashboardsExportAndQuery(t *testing.T) {
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().Unix()
		fmt.Fprintf(w, probeSeries, now, now)
	}))
	t.Cleanup(exporter.Close)
	prom := prometheus.StartPrometheus(t, prometheus.PrometheusOptions{RulesDir: t.TempDir(), Scrape: []string{strings.TrimPrefix(exporter.URL, "http://")}})
	s := testenv.Start(t, t.TempDir(), "--demo", "--demo-backends=false", "--adapters", "none", "--prometheus-url", prom.URL)
	acme, _ := apiToken(t, s, "acme-admin", "enterprise-admin", "acme")
	waitWithin(t, time.Minute, func() bool {
		b := s.Must(t, 200, "GET", "/metrics/query?"+url.Values{"query": {"count(amp_edge_probe_ok)"}}.Encode(), "")
		return strings.Contains(string(b), `"4"`)
	}, "Prometheus holds the probe results")

	// acme's own dashboard, declared in the monitor set; panels whose
	// PromQL does not parse or names another enterprise are refused at
	// commit with the path and the reason, and nothing is stored.
	auth := []string{"Authorization", "Bearer " + acme}
	s.Must(t, 201, "POST", "/monitor/v1.0.0/acme/dashboard/chicago", `{"title":"Chicago","variable":[{"name":"site","metric":"amp_edge_probe_ok","label":"site"}],`+
		`"panel":[{"name":"uptime","title":"User plane uptime","kind":"stat","unit":"percent","legend":"{{site}}",`+
		`"query":"avg by (site) (avg_over_time(amp_edge_probe_ok{probe=\"user-plane\",site=~\"$site\"}[$__range])) * 100"},`+
		`{"name":"rtt","title":"Round trip","query":"amp_edge_probe_duration_seconds{site=~\"$site\"}","unit":"s"}]}`, auth...)
	for query, reason := range map[string]string{`sum(amp_edge_probe_ok`: "not a valid PromQL query", `amp_edge_probe_ok{enterprise=\"starbucks\"}`: "starbucks"} {
		b := s.Must(t, 400, "POST", "/monitor/v1.0.0/acme/dashboard/bad", `{"title":"Bad","panel":[{"name":"p","title":"P","query":"`+query+`"}]}`, auth...)
		if !strings.Contains(string(b), `/dashboard/bad/panel/p/query`) || !strings.Contains(string(b), reason) {
			t.Fatalf("panel query %s: %s", query, b)
		}
	}
	// a logs panel's LogQL: a selector AMP does not answer, one that reads
	// every stream with its variables at All, one naming starbucks
	for query, reason := range map[string]string{`site=\"x\"`: "starts with a stream selector", `{site=~\"$site\"}`: "unbounded with its variables at All",
		`{site=\"x\",enterprise=\"starbucks\"}`: `your streams are enterprise=\"acme\" only`} {
		b := s.Must(t, 400, "POST", "/monitor/v1.0.0/acme/dashboard/bad", `{"title":"Bad","panel":[{"name":"p","title":"P","kind":"logs","query":"`+query+`"}]}`, auth...)
		if !strings.Contains(string(b), `/dashboard/bad/panel/p/query`) || !strings.Contains(string(b), reason) {
			t.Fatalf("logs panel query %s: %s", query, b)
		}
	}
	s.Must(t, 404, "GET", "/monitor/v1.0.0/acme/dashboard/bad", "", auth...)

	list := s.Must(t, 200, "GET", "/monitor/dashboards/acme", "", "Authorization", "Bearer "+acme)
	var ids []struct{ ID string }
	if err := json.Unmarshal(list, &ids); err != nil || len(ids) != len(dashboards.Predefined)+1 || ids[len(ids)-1].ID != "chicago" {
		t.Fatalf("the dashboards: %v %s", err, list)
	}
	plugins.RegisterDefaultPlugins()
	for _, e := range ids {
		raw := s.Must(t, 200, "GET", "/monitor/dashboards/acme/"+e.ID+"/grafana", "", "Authorization", "Bearer "+acme)
		cli := exec.Command(testenv.Binary(t), "monitor", "dashboard", "export", e.ID, "-e", "acme")
		cli.Env = append(os.Environ(), s.Env()...)
		if out, err := cli.Output(); err != nil || strings.TrimSpace(string(out)) != strings.TrimSpace(string(raw)) {
			t.Fatalf("amp monitor dashboard export %s: %v\n%s", e.ID, err, out)
		}
		var d dashboard.Dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s is not a Grafana dashboard: %v", e.ID, err)
		}
		for _, p := range d.Panels {
			pq, ok := p.Panel.Targets[0].(*sdkprom.Dataquery)
			if !ok {
				continue // a logs panel: LogQL, not a Prometheus query
			}
			q := pq.Expr
			// As Grafana sends it: $site at All (.*), the range picked.
			expr := dashboards.Sample(q)
			b := s.Must(t, 200, "GET", "/metrics/query?"+url.Values{"query": {expr}}.Encode(), "", "Authorization", "Bearer "+acme)
			ss := decodeAnswer(t, b).samples(t)
			if leak := starbucksIn(ss); leak != "" {
				t.Fatalf("%s: panel %q answered starbucks' data to acme: %s", e.ID, *p.Panel.Title, leak)
			}
			if *p.Panel.Title == "User plane uptime" && (len(ss) != 1 || ss[0].Labels["site"] != "acme-chicago" || ss[0].Values[0] != 100) {
				t.Fatalf("%s: the user plane uptime: %+v", e.ID, ss)
			}
		}
	}
	if b := s.Must(t, 404, "GET", "/monitor/dashboards/acme/nope/grafana", "", "Authorization", "Bearer "+acme); !strings.Contains(string(b), "edge-summary") {
		t.Fatalf("an unknown dashboard: %s", b)
	}
	// Another enterprise's dashboards answer as a missing enterprise's.
	s.Must(t, 404, "GET", "/monitor/dashboards/starbucks", "", "Authorization", "Bearer "+acme)
}
