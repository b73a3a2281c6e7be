package dashboards_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

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
// exports as a Grafana dashboard whose panels hold their queries (PromQL,
// or LogQL in a logs panel) on the data source picked at import, each
// using the dashboard's variables, which offer the values reported.
func TestPredefinedExportAsGrafanaDashboards(t *testing.T) {
	if ids := dashboards.PredefinedIDs(); strings.Join(ids, ",") != "cluster,device-group,edge-summary,site,slice" {
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
		first := want.Variables[0]
		v := vars[first.Name]
		if v.Type != dashboard.VariableTypeQuery || v.Query == nil || v.Query.String == nil ||
			*v.Query.String != "label_values(amp_edge_probe_ok, "+first.LabelName+")" || v.IncludeAll == nil || !*v.IncludeAll {
			t.Fatalf("%s: the %s variable: %+v", id, first.Name, v)
		}
		if len(d.Panels) != len(want.Panels) {
			t.Fatalf("%s: %d panels, want %d", id, len(d.Panels), len(want.Panels))
		}
		for i, p := range d.Panels {
			w := want.Panels[i]
			if p.Panel == nil || *p.Panel.Title != w.Title || p.Panel.Type != w.Kind || len(p.Panel.Targets) != 1 {
				t.Fatalf("%s: panel %d: %+v", id, i, p.Panel)
			}
			var expr, source string
			switch q := p.Panel.Targets[0].(type) {
			case *prometheus.Dataquery:
				expr, source = q.Expr, "${amp_prometheus}"
			case *loki.Dataquery:
				expr, source = q.Expr, "${amp_loki}"
			}
			if expr != w.Query || !strings.Contains(expr, "$"+first.Name) || (source == "${amp_loki}") != (w.Kind == dashboards.KindLogs) {
				t.Fatalf("%s: panel %q's target %#v, want %q on $%s", id, w.Title, p.Panel.Targets[0], w.Query, first.Name)
			}
			if p.Panel.Datasource == nil || *p.Panel.Datasource.Uid != source {
				t.Fatalf("%s: panel %q's data source %+v", id, w.Title, p.Panel.Datasource)
			}
		}
	}
	// a variable without a metric offers the label's values on every series
	b, err := dashboards.Grafana(dashboards.Predefined["device-group"])
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range decode(t, b).Templating.List {
		if v.Name == "device_group" {
			found = v.Query != nil && v.Query.String != nil && *v.Query.String == "label_values(device_group)"
		}
	}
	if !found {
		t.Fatal("the device group dashboard offers no label_values(device_group)")
	}
}

// TestFill: variables are filled in as Grafana fills them — a given value
// escaped for a regular expression inside a quoted string (so a value
// cannot close the string or widen the match), one not given at All, the
// interval variables from the range and the step.
func TestFill(t *testing.T) {
	v := dashboards.Values{Vars: map[string]string{"site": "acme-chicago", "dg": `a.b"}or{x="`}, Range: 24 * time.Hour, Step: 30 * time.Second}
	for in, want := range map[string]string{
		`up{site=~"$site"}`:                       `up{site=~"acme-chicago"}`,
		`up{site=~"${site}",cluster=~"$cluster"}`: `up{site=~"acme-chicago",cluster=~".*"}`,
		`up{device_group=~"$dg"}`:                 `up{device_group=~"a\\.b\"\\}or\\{x=\""}`,
		`avg_over_time(up[$__range])`:             `avg_over_time(up[86400s])`,
		`rate(x[$__rate_interval]) / $__interval`: `rate(x[60s]) / 30s`,
		`{site="$site"} |= "$nothing"`:            `{site="acme-chicago"} |= ".*"`,
	} {
		if got := v.Fill(in); got != want {
			t.Errorf("Fill(%s) = %s, want %s", in, got, want)
		}
	}
	if got := dashboards.Sample(`avg_over_time(up{site=~"$site"}[$__range])`); got != `avg_over_time(up{site=~".*"}[300s])` {
		t.Errorf("Sample = %s", got)
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
