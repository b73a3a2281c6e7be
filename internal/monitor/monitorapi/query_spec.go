package monitorapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
)

// queryPaths documents the metric queries and lookups in the OpenAPI
// document (the /metrics/api/v1/query… aliases for Grafana are left out:
// the same operations).
func queryPaths(b compat.SpecBuilder) {
	str := compat.Str
	answerSchema := &openapi3.SchemaRef{Value: compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"status":    str("success or error."),
		"data":      compat.Described(openapi3.NewObjectSchema(), "resultType (vector, matrix, scalar, string) and result, as Prometheus answers."),
		"errorType": str("Prometheus's error type, on error."),
		"error":     str("Prometheus's error, on error."),
	}, "status"), "Prometheus's HTTP API answer, passed on as Prometheus wrote it.")}
	query := func(name, desc string, required bool) *openapi3.ParameterRef {
		p := openapi3.NewQueryParameter(name).WithSchema(openapi3.NewStringSchema())
		p.Description, p.Required = desc, required
		return &openapi3.ParameterRef{Value: p}
	}
	common := openapi3.Parameters{
		query("query", "PromQL, at most 16 KiB. For an enterprise's caller every selector gets enterprise=\"<id>\"; a selector naming the enterprise label otherwise is refused (403).", true),
		query("enterprise", "Whose series: an enterprise the caller reads (default: the caller's one enterprise; none for an operator: every series).", false),
		query("timeout", "At most 2m (default 30s); seconds or a Prometheus duration.", false),
	}
	for _, c := range []struct {
		path, id, summary string
		params            openapi3.Parameters
	}{
		{"/metrics/query", "queryMetrics", "A PromQL instant query over the central and the sites' Prometheus",
			openapi3.Parameters{query("time", "Unix seconds or RFC 3339 (default: now).", false)}},
		{"/metrics/query_range", "queryMetricsRange", "A PromQL range query over the central and the sites' Prometheus", openapi3.Parameters{
			query("start", "Unix seconds or RFC 3339.", true), query("end", "Unix seconds or RFC 3339, not before start.", true),
			query("step", "Seconds or a Prometheus duration; at most 11,000 points.", true)}},
	} {
		item := &openapi3.PathItem{Parameters: append(append(openapi3.Parameters{}, common...), c.params...)}
		for i, method := range []string{"Get", "Post"} {
			op := operation(b, c.id+[]string{"", "Form"}[i], c.summary,
				"Prometheus's HTTP API shape (docs/monitoring.md, Queries); POST takes the parameters form-encoded. Operators query every series, an enterprise's admins and members their enterprise's only. "+
					"The sites' Prometheus servers the caller may see are asked through their agents (narrowed by cluster= and site= in the query) and their series merged, labelled with their cluster; a site that did not answer is named in warnings. A refused parameter is a 400 naming it.")
			answer(op, "200", "Prometheus's answer (its own error answers keep its status and shape).", answerSchema)
			b.Errors(op, false, false)
			if method == "Get" {
				item.Get = op
			} else {
				item.Post = op
			}
		}
		b.Doc().Paths.Set(c.path, item)
	}

	// The lookups Grafana's query editor makes.
	match := query("match[]", "A series selector (repeatable, at most 32), restricted as a query is; for an enterprise's caller none means {enterprise=\"<id>\"}.", false)
	lookup := openapi3.Parameters{match, common[1], query("start", "Unix seconds or RFC 3339.", false), query("end", "Unix seconds or RFC 3339.", false), query("limit", "At most this many answers.", false)}
	for _, c := range []struct {
		path, id, summary string
		post              bool
		extra             openapi3.Parameters
	}{
		{"/metrics/api/v1/series", "metricsSeries", "The series matching selectors (at least one match[])", true, nil},
		{"/metrics/api/v1/labels", "metricsLabels", "Label names", true, nil},
		{"/metrics/api/v1/label/{name}/values", "metricsLabelValues", "A label's values (__name__: metric names)", false, openapi3.Parameters{pathParam("name", "The label.")}},
	} {
		item := &openapi3.PathItem{Parameters: append(append(openapi3.Parameters{}, lookup...), c.extra...)}
		for i, method := range []string{"Get", "Post"} {
			if method == "Post" && !c.post {
				continue
			}
			op := operation(b, c.id+[]string{"", "Form"}[i], c.summary,
				"Prometheus's HTTP API shape (docs/monitoring.md, Queries), over the central and the sites' Prometheus, merged (Site queries); an enterprise's caller sees its enterprise's series only.")
			answer(op, "200", "Prometheus's answer.", answerSchema)
			b.Errors(op, false, false)
			if method == "Get" {
				item.Get = op
			} else {
				item.Post = op
			}
		}
		b.Doc().Paths.Set(c.path, item)
	}
}
