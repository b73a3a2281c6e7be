// Package dashboards holds AMP's dashboards as code: a dashboard is a list
// of panels, each bound to a PromQL (or LogQL) query, and variables such as
// $site; Grafana renders one as Grafana dashboard JSON, built with
// grafana-foundation-sdk, for operators who run Grafana with AMP as its
// Prometheus data source (GET /metrics/query answers in Prometheus's
// shapes, restricted to the caller's enterprise); Values.Fill fills its
// variables in for the portal, which draws the same panels natively.
// Predefined holds the dashboards AMP ships: the central summary of the
// book's Figure 8.1, the per-device-group panel set of Figures 8.6 and
// 8.7, and one per kind of object the portal shows a monitor for.
//
// It imports the standard library and grafana-foundation-sdk only.
package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

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
	// (Grafana's label_values(Metric, LabelName)); without Metric, on
	// every series (label_values(LabelName)).
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
	Name     string // its id within the dashboard
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
		values := fmt.Sprintf("label_values(%s, %s)", v.Metric, v.LabelName)
		if v.Metric == "" {
			values = fmt.Sprintf("label_values(%s)", v.LabelName)
		}
		b = b.WithVariable(dashboard.NewQueryVariableBuilder(v.Name).
			Label(v.Label).
			Datasource(ref("prometheus", promSource)).
			Query(dashboard.StringOrMap{String: cog.ToPtr(values)}).
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

// siteVar is the $site variable: the sites reporting probe results.
var siteVar = Variable{Name: "site", Label: "Site", Metric: "amp_edge_probe_ok", LabelName: "site"}

// Predefined are the dashboards AMP ships, by id: the book's two, and one
// per kind of object the portal shows a monitor for (site, device-group,
// slice, cluster), whose variables it fills in with the object's names.
var Predefined = map[string]Dashboard{
	"edge-summary": {
		ID: "edge-summary", Title: "AMP: edge sites",
		Description: "The status of every edge site from its end-to-end probes (the book's Figure 8.1): uptime of the control and user planes, " +
			"how long since each site last reported, probe round trips and the alerts firing.",
		Variables: []Variable{siteVar},
		Panels: []Panel{
			{Name: "user-plane-uptime", Title: "User plane uptime", Kind: KindStat, Language: PromQL, Unit: "percent", Legend: "{{site}}",
				Query: `avg by (site) (avg_over_time(amp_edge_probe_ok{probe="user-plane",site=~"$site"}[$__range])) * 100`},
			{Name: "control-plane-uptime", Title: "Control plane uptime", Kind: KindStat, Language: PromQL, Unit: "percent", Legend: "{{site}}",
				Query: `avg by (site) (avg_over_time(amp_edge_probe_ok{probe="control-plane",site=~"$site"}[$__range])) * 100`},
			{Name: "since-last-report", Title: "Since the last report", Kind: KindStat, Language: PromQL, Unit: "s", Legend: "{{site}}",
				Query: `time() - max by (site) (amp_edge_last_update_timestamp_seconds{site=~"$site"})`},
			{Name: "round-trip", Title: "Probe round trip", Kind: KindTimeseries, Language: PromQL, Unit: "s", Legend: "{{site}} {{probe}}",
				Query: `avg by (site, probe) (amp_edge_probe_duration_seconds{site=~"$site"})`},
			{Name: "probes-failing", Title: "Probes failing", Kind: KindTimeseries, Language: PromQL, Unit: "short", Legend: "{{site}}",
				Query: `count by (site) (amp_edge_probe_ok{site=~"$site"} == 0)`},
			{Name: "alerts", Title: "Alerts firing", Kind: KindStat, Language: PromQL, Unit: "short", Legend: "{{alertname}}",
				Query: `count by (alertname) (ALERTS{alertstate="firing",site=~"$site"})`},
		},
	},
	"device-group": {
		ID: "device-group", Title: "AMP: device group",
		Description: "The monitoring frame of one device group (the book's Figures 8.6 and 8.7): the reachability its UEs have through " +
			"its site's user plane, the round trip of that path, the control plane the group registers with, its site's alerts, " +
			"the series its site's exporters label with it, and its site's log lines.",
		Variables: []Variable{
			{Name: "site", Label: "Site of the device group", Metric: "amp_edge_probe_ok", LabelName: "site"},
			{Name: "device_group", Label: "Device group", LabelName: "device_group"},
		},
		Panels: []Panel{
			{Name: "reachability", Title: "UE-side reachability (user plane)", Kind: KindTimeseries, Language: PromQL, Unit: "percent", Legend: "{{site}}",
				Query: `avg by (site) (avg_over_time(amp_edge_probe_ok{probe="user-plane",site=~"$site"}[5m])) * 100`},
			{Name: "round-trip", Title: "User plane round trip", Kind: KindTimeseries, Language: PromQL, Unit: "s", Legend: "{{site}}",
				Query: `max by (site) (amp_edge_probe_duration_seconds{probe="user-plane",site=~"$site"})`},
			{Name: "control-plane", Title: "Control plane reachable", Kind: KindStat, Language: PromQL, Unit: "short", Legend: "{{site}}",
				Query: `min by (site) (amp_edge_probe_ok{probe="control-plane",site=~"$site"})`},
			{Name: "alerts", Title: "Alerts firing at the site", Kind: KindStat, Language: PromQL, Unit: "short", Legend: "{{alertname}}",
				Query: `count by (alertname) (ALERTS{alertstate="firing",site=~"$site"})`},
			// SD-Core's and the UPF's series, federated with their site's
			// labels, whatever their name; Prometheus's own ALERTS are the
			// panel above. device_group=~".+" keeps the selector bounded
			// with $device_group at All.
			{Name: "series", Title: "Series of the device group", Kind: KindTimeseries, Language: PromQL, Legend: "{{__name__}}",
				Query: `{site=~"$site",device_group=~"$device_group",device_group=~".+",__name__!~"ALERTS.*"}`},
			// log streams are labelled by site at most (docs/logging.md)
			{Name: "logs", Title: "Log lines of the site", Kind: KindLogs, Language: LogQL, Query: `{site="$site"}`},
		},
	},
	"site": {
		ID: "site", Title: "AMP: site",
		Description: "One edge site: its end-to-end probes, their round trips and its log lines.",
		Variables:   []Variable{siteVar},
		Panels: []Panel{
			{Name: "probes", Title: "End-to-end probes (1 = passing)", Kind: KindTimeseries, Language: PromQL, Unit: "short", Legend: "{{probe}} {{cluster}}",
				Query: `amp_edge_probe_ok{site=~"$site"}`},
			{Name: "duration", Title: "Probe duration", Kind: KindTimeseries, Language: PromQL, Unit: "s", Legend: "{{probe}} {{cluster}}",
				Query: `amp_edge_probe_duration_seconds{site=~"$site"}`},
			{Name: "logs", Title: "Log lines", Kind: KindLogs, Language: LogQL, Query: `{site="$site"}`},
		},
	},
	"slice": {
		ID: "slice", Title: "AMP: slice",
		Description: "One slice: the series its site's exporters label with it, and its site's log lines.",
		Variables: []Variable{
			{Name: "site", Label: "Site of the slice", Metric: "amp_edge_probe_ok", LabelName: "site"},
			{Name: "slice", Label: "Slice", LabelName: "slice"},
		},
		Panels: []Panel{
			{Name: "series", Title: "Series of the slice", Kind: KindTimeseries, Language: PromQL, Legend: "{{__name__}}",
				Query: `{site=~"$site",slice=~"$slice",slice=~".+",__name__!~"ALERTS.*"}`},
			{Name: "logs", Title: "Log lines of the site", Kind: KindLogs, Language: LogQL, Query: `{site="$site"}`},
		},
	},
	"cluster": {
		ID: "cluster", Title: "AMP: edge cluster",
		Description: "One edge cluster: its agent's link, its end-to-end probes and its log lines.",
		Variables:   []Variable{{Name: "cluster", Label: "Cluster", Metric: "amp_edge_probe_ok", LabelName: "cluster"}},
		Panels: []Panel{
			{Name: "connected", Title: "Agent connected (1 = yes)", Kind: KindTimeseries, Language: PromQL, Unit: "short", Legend: "{{cluster}}",
				Query: `amp_edge_connected{cluster=~"$cluster"}`},
			{Name: "probes", Title: "End-to-end probes (1 = passing)", Kind: KindTimeseries, Language: PromQL, Unit: "short", Legend: "{{probe}}",
				Query: `amp_edge_probe_ok{cluster=~"$cluster"}`},
			{Name: "logs", Title: "Log lines", Kind: KindLogs, Language: LogQL, Query: `{cluster="$cluster"}`},
		},
	},
}

// variableRef is a Grafana variable in a query: $name or ${name}.
var variableRef = regexp.MustCompile(`\$\{?(\w+)\}?`)

// Values are what a dashboard's variables stand for when it is shown.
type Values struct {
	// Vars holds a value per variable name; a variable not given stands
	// at All (.*), Grafana's All value.
	Vars map[string]string
	// Range is the period shown ($__range); Step the resolution of a
	// graph ($__interval).
	Range, Step time.Duration
}

// scrapeInterval is what $__rate_interval assumes, Prometheus's default.
const scrapeInterval = 15 * time.Second

// Fill is query with its variables filled in as Grafana fills them:
// $__range, $__interval and $__rate_interval (max($__interval + the
// scrape interval, 4 scrape intervals)) as durations in seconds (any other
// of Grafana's built-in $__ variables as the range), a given
// variable's value escaped for a regular expression in a quoted string
// (Grafana's escaping of a multi-value variable; a value read as a
// literal is unchanged but for its metacharacters), any other as .* (All).
func (v Values) Fill(query string) string {
	return variableRef.ReplaceAllStringFunc(query, func(m string) string {
		name := variableRef.FindStringSubmatch(m)[1]
		switch name {
		case "__range":
			return seconds(v.Range)
		case "__interval":
			return seconds(v.Step)
		case "__rate_interval":
			return seconds(max(v.Step+scrapeInterval, 4*scrapeInterval))
		}
		if strings.HasPrefix(name, "__") {
			return seconds(v.Range)
		}
		val, ok := v.Vars[name]
		if !ok {
			return ".*"
		}
		return quoted.Replace(regexp.QuoteMeta(val))
	})
}

// quoted escapes text for a double-quoted PromQL or LogQL string.
var quoted = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func seconds(d time.Duration) string { return fmt.Sprintf("%ds", max(int64(d/time.Second), 1)) }

// Sample is query as Grafana may send it with every variable at All and
// a range and step of 5m — for checking a query before it is stored, and
// for running a panel's query in tests.
func Sample(query string) string {
	return Values{Range: 5 * time.Minute, Step: 5 * time.Minute}.Fill(query)
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
