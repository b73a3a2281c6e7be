package monitorapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
)

// logPaths documents GET /logs and the agents' log pushes.
func logPaths(b compat.SpecBuilder) {
	str := compat.Str
	query := func(name, desc string, required bool) *openapi3.ParameterRef {
		p := openapi3.NewQueryParameter(name).WithSchema(openapi3.NewStringSchema())
		p.Description, p.Required = desc, required
		return &openapi3.ParameterRef{Value: p}
	}
	stream := compat.Obj(map[string]*openapi3.Schema{
		"stream": compat.Described(openapi3.NewObjectSchema().WithAdditionalProperties(openapi3.NewStringSchema()), "The stream's labels: component, cluster, site, enterprise."),
		"values": compat.Described(openapi3.NewArraySchema().WithItems(openapi3.NewArraySchema().WithItems(openapi3.NewStringSchema())),
			"Its lines, newest first, each [Unix nanoseconds as a string, the line]."),
	}, "stream", "values")
	answerSchema := &openapi3.SchemaRef{Value: compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"status": str("success."),
		"data": compat.Obj(map[string]*openapi3.Schema{
			"resultType": str("streams."),
			"result":     openapi3.NewArraySchema().WithItems(stream),
		}, "resultType", "result"),
	}, "status", "data"), "Loki's query_range answer for a log query.")}
	o := operation(b, "queryLogs", "Log lines of AMP and its agents, by a LogQL stream selector and line filters",
		"The LogQL subset: {label op \"value\", ...} with labels component, cluster, site, enterprise and ops = != =~ !~, then line filters |= != |~ !~ \"text\" "+
			"(docs/logging.md). Operators read every stream; an enterprise's admins and members their sites' streams only: the selector gets enterprise=\"<id>\", and a matcher naming the enterprise otherwise is refused (403). "+
			"A selector that matches every stream, a range over 24h or a limit over 5000 is refused (400) with the reason.")
	o.Parameters = openapi3.Parameters{
		query("query", "The LogQL subset, at most 4 KiB.", true),
		query("start", "Unix nanoseconds or seconds, or RFC 3339 (default: an hour before end).", false),
		query("end", "Unix nanoseconds or seconds, or RFC 3339 (default: now); at most 24h after start.", false),
		query("limit", "At most this many lines, newest first: 1 to 5000 (default 100).", false),
		query("enterprise", "Whose streams: an enterprise the caller reads (default: the caller's one enterprise; none for an operator: every stream).", false),
	}
	answer(o, "200", "The lines, in streams.", answerSchema)
	b.Errors(o, false, false)
	b.Doc().Paths.Set("/logs", &openapi3.PathItem{Get: o})

	push := operation(b, "pushAgentLogs", "An agent pushes its log lines",
		"The cluster's agent only (its certificate). A Loki push body (JSON) whose streams carry a component label only; AMP adds cluster, site and enterprise "+
			"from the inventory and relays it to the log store. 503 while the store is away or not configured: the agent keeps the lines on disk and resends them.")
	push.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription("Loki's push body, at most 8 MiB.").
		WithJSONSchema(compat.Obj(map[string]*openapi3.Schema{"streams": openapi3.NewArraySchema().WithItems(stream)}, "streams"))}
	answer(push, "200", "Relayed.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{"accepted": compat.I64("Lines relayed.")}, "accepted")})
	b.Errors(push, true, false)
	cluster := openapi3.NewPathParameter("cluster").WithSchema(openapi3.NewStringSchema())
	cluster.Description = "The cluster's id."
	b.Doc().Paths.Set("/edge/v1/clusters/{cluster}/logs", &openapi3.PathItem{Parameters: openapi3.Parameters{{Value: cluster}}, Post: push})
}
