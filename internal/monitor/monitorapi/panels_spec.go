package monitorapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
)

// panelPaths documents GET /monitor/panels and /monitor/panels/{id}.
func panelPaths(b compat.SpecBuilder) {
	str := compat.Str
	query := func(name, desc string) *openapi3.ParameterRef {
		p := openapi3.NewQueryParameter(name).WithSchema(openapi3.NewStringSchema())
		p.Description = desc
		return &openapi3.ParameterRef{Value: p}
	}
	enterprise := query("enterprise", "Whose dashboards, and whose series their queries see: an enterprise the caller reads "+
		"(default: the caller's one enterprise; none for an operator: the predefined dashboards over every enterprise's series).")
	list := operation(b, "listMonitorPanelDashboards", "The dashboards the portal may show",
		"In the scope of the metric queries: the predefined dashboards the enterprise does not shadow, then the enterprise's own (one kept as a Grafana model counts no panels).")
	list.Parameters = openapi3.Parameters{enterprise}
	answer(list, "200", "The dashboards.", &openapi3.SchemaRef{Value: openapi3.NewArraySchema().WithItems(compat.Obj(map[string]*openapi3.Schema{
		"id": str("The dashboard's id."), "title": str("Its title."), "description": str("What it shows."),
		"panels": openapi3.NewIntegerSchema(),
	}, "id", "panels"))})
	b.Errors(list, false, false)
	b.Doc().Paths.Set(panelsPath, &openapi3.PathItem{Get: list})

	get := operation(b, "getMonitorPanels", "A dashboard's panels with its variables filled in",
		"The enterprise's dashboard of that id, else the predefined one; each panel's query as declared and as expr, its variables filled in as Grafana fills them: "+
			"var-NAME=value (repeatable, one per variable) escaped for a regular expression in a quoted string, a variable not given at All (.*), "+
			"$__range as range, $__interval as step, $__rate_interval as max(step + 15s, 60s). Send expr to GET /metrics/query_range (timeseries), "+
			"/metrics/query (stat) or /logs (logs) with the same enterprise. An unknown parameter is refused (400).")
	get.Parameters = openapi3.Parameters{enterprise,
		query("range", "The period shown, in seconds ($__range): 1 to 31622400 (default 3600)."),
		query("step", "A graph's step, in seconds ($__interval): 1 to range (default range/120, rounded up)."),
	}
	panel := compat.Obj(map[string]*openapi3.Schema{
		"name": str("The panel's id within the dashboard."), "title": str("Its title."),
		"kind": str("timeseries, stat or logs."), "language": str("promql or logql."),
		"query": str("As declared, variables as $name."), "expr": str("With the variables filled in: what to send."),
		"unit": str("Grafana's unit id: percent, s, short."), "legend": str("Each series' legend, e.g. {{site}}."),
	}, "title", "kind", "language", "query", "expr")
	variable := compat.Obj(map[string]*openapi3.Schema{
		"name": str("As queries use it: $name."), "label": str("Shown to users."), "metric": str("The metric whose series list its values."),
		"label-name": str("The label whose values it offers."), "value": str("The value the request gave; absent: All."),
	}, "name", "label-name")
	answer(get, "200", "The dashboard.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{
		"id": str("The dashboard's id."), "title": str("Its title."), "description": str("What it shows."),
		"source": str("predefined, or enterprise for one the enterprise declares."), "enterprise": str("The scope's enterprise; absent: every enterprise's series."),
		"range": compat.I64("$__range in seconds."), "step": compat.I64("$__interval in seconds."),
		"variables": openapi3.NewArraySchema().WithItems(variable), "panels": openapi3.NewArraySchema().WithItems(panel),
	}, "id", "title", "source", "range", "step", "variables", "panels")})
	b.Errors(get, false, false)
	b.Doc().Paths.Set(panelsPath+"/{id}", &openapi3.PathItem{Parameters: openapi3.Parameters{pathParam("id", "The dashboard's id.")}, Get: get})
}
