// Package dashboards holds AMP's dashboards as code: a dashboard is a list
// of panels, each bound to a PromQL (or LogQL) query, and variables such as
// $site; Grafana renders one as Grafana dashboard JSON, built with
// grafana-foundation-sdk, for operators who run Grafana with AMP as its
// Prometheus data source (GET /metrics/query answers in Prometheus's
// shapes, restricted to the caller's enterprise). Predefined holds the
// dashboards AMP ships: the central summary of the book's Figure 8.1 and
// the per-device-group panel set of Figures 8.6 and 8.7.
//
// It imports the standard library and grafana-foundation-sdk only.
package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/logs"
	"github.com/grafana/grafana-foundation-sdk/go/loki"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Dashboard is a dashboard as AMP keeps it.
type Dashboard struct {
	ID, Title   string
	Description string
	Variables   []Variable
	Panels      []Panel
}

// Variable is a dashboard variable offering the values a label takes
// ($site: the sites reporting), "All" included.
type Variable struct {
	Name  string // as panels use it: $Name
	Label string // shown in Grafana
	// Metric and LabelName: the values of LabelName on Metric's series
	// (Grafana's label_values(Metric, LabelName)).
	Metric, LabelName string
}

// The kinds of panel.
const (
	KindTimeseries = "timeseries"
	KindStat       = "stat"
	KindLogs       = "logs"
)

// The query languages of a panel.
const (
	PromQL = "promql"
	LogQL  = "logql"
)

// Panel is one panel bound to one query.
type Panel struct {
	Title    string
	Kind     string // KindTimeseries, KindStat, KindLogs
	Language string // PromQL or LogQL (a logs panel)
	Query    string
	Unit     string // Grafana's unit id: percent, s, short
	Legend   string // PromQL legend format, e.g. {{site}}
}

// The data sources an export refers to, by Grafana's variable syntax, so
// that the importer picks them (docs/monitoring.md, "Dashboards").
const (
	promSource = "${amp_prometheus}"
	lokiSource = "${amp_loki}"
)

// Grafana is d as Grafana dashboard JSON.
func Grafana(d Dashboard) ([]byte, error) {
	b := dashboard.NewDashboardBuilder(d.Title).
		Uid("amp-"+d.ID).
		Description(d.Description).
		Tags([]string{"amp"}).
		Time("now-6h", "now").
		Refresh("1m").
		Timezone(common.TimeZoneUtc).
		WithVariable(dashboard.NewDatasourceVariableBuilder("amp_prometheus").Label("AMP (Prometheus)").Type("prometheus"))
	if d.usesLogQL() {
		b = b.WithVariable(dashboard.NewDatasourceVariableBuilder("amp_loki").Label("AMP logs (Loki)").Type("loki"))
	}
	for _, v := range d.Variables {
		b = b.WithVariable(dashboard.NewQueryVariableBuilder(v.Name).
			Label(v.Label).
			Datasource(ref("prometheus", promSource)).
			Query(dashboard.StringOrMap{String: cog.ToPtr(fmt.Sprintf("label_values(%s, %s)", v.Metric, v.LabelName))}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).
			IncludeAll(true).
			AllValue(".*"))
	}
	for i, p := range d.Panels {
		pb, err := panel(p)
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: panel %d (%s): %w", d.ID, i+1, p.Title, err)
		}
		b = b.WithPanel(pb)
	}
	out, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.ID, err)
	}
	return json.MarshalIndent(out, "", "  ")
}

func (d Dashboard) usesLogQL() bool {
	for _, p := range d.Panels {
		if p.Language == LogQL {
			return true
		}
	}
	return false
}

func ref(typ, uid string) common.DataSourceRef {
	return common.DataSourceRef{Type: &typ, Uid: &uid}
}

// panel builds one panel; its width is half the grid (two to a row).
func panel(p Panel) (cog.Builder[dashboard.Panel], error) {
	const width, height = 12, 8
	switch {
	case p.Language == LogQL && p.Kind == KindLogs:
		return logs.NewPanelBuilder().Title(p.Title).Span(width).Height(height).
			Datasource(ref("loki", lokiSource)).
			WithTarget(loki.NewDataqueryBuilder().Expr(p.Query)), nil
	case p.Language == LogQL || p.Kind == KindLogs:
		return nil, fmt.Errorf("a %s panel cannot show a %s query (logs panels show LogQL)", p.Kind, p.Language)
	}
	q := prometheus.NewDataqueryBuilder().Expr(p.Query).LegendFormat(p.Legend)
	switch p.Kind {
	case KindStat:
		return stat.NewPanelBuilder().Title(p.Title).Span(width).Height(height).Unit(p.Unit).
			Datasource(ref("prometheus", promSource)).WithTarget(q.Instant()), nil
	case KindTimeseries:
		return timeseries.NewPanelBuilder().Title(p.Title).Span(width).Height(height).Unit(p.Unit).
			Datasource(ref("prometheus", promSource)).WithTarget(q.Range()), nil
	}
	return nil, fmt.Errorf("kind %q: want %s, %s or %s", p.Kind, KindTimeseries, KindStat, KindLogs)
}

// Predefined are the dashboards AMP ships, by id.
var Predefined = map[string]Dashboard{
	"edge-summary": {
		ID: "edge-summary", Title: "AMP: edge sites",
		Description: "The status of every edge site from its end-to-end probes (the book's Figure 8.1): uptime of the control and user planes, " +
			"how long since each site last reported, probe round trips and the alerts firing.",
		Variables: []Variable{{Name: "site", Label: "Site", Metric: "amp_edge_probe_ok", LabelName: "site"}},
		Panels: []Panel{
			{Title: "User plane uptime", Kind: KindStat, Language: PromQL, Unit: "percent", Legend: "{{site}}",
				Query: `avg by (site) (avg_over_time(amp_edge_probe_ok{probe="user-plane",site=~"$site"}[$__range])) * 100`},
			{Title: "Control plane uptime", Kind: KindStat, Language: PromQL, Unit: "percent", Legend: "{{site}}",
				Query: `avg by (site) (avg_over_time(amp_edge_probe_ok{probe="control-plane",site=~"$site"}[$__range])) * 100`},
			{Title: "Since the last report", Kind: KindStat, Language: PromQL, Unit: "s", Legend: "{{site}}",
				Query: `time() - max by (site) (amp_edge_last_update_timestamp_seconds{site=~"$site"})`},
			{Title: "Probe round trip", Kind: KindTimeseries, Language: PromQL, Unit: "s", Legend: "{{site}} {{probe}}",
				Query: `avg by (site, probe) (amp_edge_probe_duration_seconds{site=~"$site"})`},
			{Title: "Probes failing", Kind: KindTimeseries, Language: PromQL, Unit: "short", Legend: "{{site}}",
				Query: `count by (site) (amp_edge_probe_ok{site=~"$site"} == 0)`},
			{Title: "Alerts firing", Kind: KindStat, Language: PromQL, Unit: "short", Legend: "{{alertname}}",
				Query: `count by (alertname) (ALERTS{alertstate="firing",site=~"$site"})`},
		},
	},
	"device-group": {
		ID: "device-group", Title: "AMP: device group",
		Description: "The monitoring frame of one device group (the book's Figures 8.6 and 8.7): the reachability its UEs have through " +
			"its site's user plane, the round trip of that path, the control plane the group registers with, and its site's alerts.",
		Variables: []Variable{{Name: "site", Label: "Site of the device group", Metric: "amp_edge_probe_ok", LabelName: "site"}},
		Panels: []Panel{
			{Title: "UE-side reachability (user plane)", Kind: KindTimeseries, Language: PromQL, Unit: "percent", Legend: "{{site}}",
				Query: `avg by (site) (avg_over_time(amp_edge_probe_ok{probe="user-plane",site=~"$site"}[5m])) * 100`},
			{Title: "User plane round trip", Kind: KindTimeseries, Language: PromQL, Unit: "s", Legend: "{{site}}",
				Query: `max by (site) (amp_edge_probe_duration_seconds{probe="user-plane",site=~"$site"})`},
			{Title: "Control plane reachable", Kind: KindStat, Language: PromQL, Unit: "short", Legend: "{{site}}",
				Query: `min by (site) (amp_edge_probe_ok{probe="control-plane",site=~"$site"})`},
			{Title: "Alerts firing at the site", Kind: KindStat, Language: PromQL, Unit: "short", Legend: "{{alertname}}",
				Query: `count by (alertname) (ALERTS{alertstate="firing",site=~"$site"})`},
		},
	},
}

// variableRef is a Grafana variable in a query: $name or ${name}.
var variableRef = regexp.MustCompile(`\$\{?(\w+)\}?`)

// Sample is query with its variables filled in as Grafana may send it:
// Grafana's interval variables ($__range, $__interval, $__rate_interval)
// as 5m, any other as .* (a variable at All) — for checking a query
// before it is stored, and for running a panel's query in tests.
func Sample(query string) string {
	return variableRef.ReplaceAllStringFunc(query, func(m string) string {
		if strings.HasPrefix(strings.Trim(m, "${"), "__") {
			return "5m"
		}
		return ".*"
	})
}

// PredefinedIDs lists the predefined dashboards' ids, sorted.
func PredefinedIDs() []string {
	ids := make([]string, 0, len(Predefined))
	for id := range Predefined {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
