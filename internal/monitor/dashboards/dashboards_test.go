package dashboards_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/loki"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	"github.com/amp-edge/amp/internal/monitor/dashboards"
)

// decode reads an export back with the SDK's own types, as Grafana's
// schema has them.
func decode(t *testing.T, b []byte) *dashboard.Dashboard {
	t.Helper()
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the export is not a Grafana dashboard: %v\n%s", err, b)
	}
	return &d
}

// TestPredefinedExportAsGrafanaDashboards: every predefined dashboard
// exports as a Grafana dashboard whose panels hold their PromQL queries on
// the data source picked at import, with the $site variable offering the
// sites reporting probe results.
func TestPredefinedExportAsGrafanaDashboards(t *testing.T) {
	if ids := dashboards.PredefinedIDs(); strings.Join(ids, ",") != "device-group,edge-summary" {
		t.Fatalf("predefined: %v", ids)
	}
	for _, id := range dashboards.PredefinedIDs() {
		want := dashboards.Predefined[id]
		b, err := dashboards.Grafana(want)
		if err != nil {
			t.Fatal(err)
		}
		d := decode(t, b)
		if *d.Uid != "amp-"+id || *d.Title != want.Title {
			t.Fatalf("%s: uid %v title %v", id, *d.Uid, *d.Title)
		}
		vars := map[string]dashboard.VariableModel{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v
		}
		if ds := vars["amp_prometheus"]; ds.Type != dashboard.VariableTypeDatasource {
			t.Fatalf("%s: no data source variable: %+v", id, d.Templating.List)
		}
		site := vars["site"]
		if site.Type != dashboard.VariableTypeQuery || site.Query == nil || site.Query.String == nil ||
			*site.Query.String != "label_values(amp_edge_probe_ok, site)" || site.IncludeAll == nil || !*site.IncludeAll {
			t.Fatalf("%s: the site variable: %+v", id, site)
		}
		if len(d.Panels) != len(want.Panels) {
			t.Fatalf("%s: %d panels, want %d", id, len(d.Panels), len(want.Panels))
		}
		for i, p := range d.Panels {
			if p.Panel == nil || *p.Panel.Title != want.Panels[i].Title || p.Panel.Type != want.Panels[i].Kind || len(p.Panel.Targets) != 1 {
				t.Fatalf("%s: panel %d: %+v", id, i, p.Panel)
			}
			q, ok := p.Panel.Targets[0].(*prometheus.Dataquery)
			if !ok || q.Expr != want.Panels[i].Query || !strings.Contains(q.Expr, "$site") {
				t.Fatalf("%s: panel %q's target %#v, want the PromQL %q on $site", id, want.Panels[i].Title, p.Panel.Targets[0], want.Panels[i].Query)
			}
			if p.Panel.Datasource == nil || *p.Panel.Datasource.Uid != "${amp_prometheus}" {
				t.Fatalf("%s: panel %q's data source %+v", id, want.Panels[i].Title, p.Panel.Datasource)
			}
		}
	}
}

// TestLogsPanels: a LogQL panel exports as a logs panel on the Loki data
// source picked at import; a PromQL query in a logs panel, or a LogQL
// one in a graph, is refused naming the panel.
func TestLogsPanels(t *testing.T) {
	d := dashboards.Dashboard{ID: "site-logs", Title: "Site logs", Panels: []dashboards.Panel{
		{Title: "Agent errors", Kind: dashboards.KindLogs, Language: dashboards.LogQL, Query: `{component="agent", site=~"$site"} | json | level="ERROR"`},
	}}
	b, err := dashboards.Grafana(d)
	if err != nil {
		t.Fatal(err)
	}
	g := decode(t, b)
	q, ok := g.Panels[0].Panel.Targets[0].(*loki.Dataquery)
	if !ok || q.Expr != d.Panels[0].Query || g.Panels[0].Panel.Type != "logs" || *g.Panels[0].Panel.Datasource.Uid != "${amp_loki}" {
		t.Fatalf("the logs panel: %+v %#v", g.Panels[0].Panel, g.Panels[0].Panel.Targets[0])
	}
	for _, bad := range []dashboards.Panel{
		{Title: "mixed", Kind: dashboards.KindLogs, Language: dashboards.PromQL, Query: "up"},
		{Title: "mixed", Kind: dashboards.KindTimeseries, Language: dashboards.LogQL, Query: `{a="b"}`},
		{Title: "mixed", Kind: "piechart", Language: dashboards.PromQL, Query: "up"},
	} {
		if _, err := dashboards.Grafana(dashboards.Dashboard{ID: "x", Title: "x", Panels: []dashboards.Panel{bad}}); err == nil || !strings.Contains(err.Error(), `panel 1 (mixed)`) {
			t.Errorf("%+v: %v, want a refusal naming the panel", bad, err)
		}
	}
}
