package monitorapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
)

// queryPaths documents the metric queries in the OpenAPI document (the
// /metrics/api/v1/… aliases for Grafana are left out: the same operations).
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
		{"/metrics/query", "queryMetrics", "A PromQL instant query over the central Prometheus",
			openapi3.Parameters{query("time", "Unix seconds or RFC 3339 (default: now).", false)}},
		{"/metrics/query_range", "queryMetricsRange", "A PromQL range query over the central Prometheus", openapi3.Parameters{
			query("start", "Unix seconds or RFC 3339.", true), query("end", "Unix seconds or RFC 3339, not before start.", true),
			query("step", "Seconds or a Prometheus duration; at most 11,000 points.", true)}},
	} {
		item := &openapi3.PathItem{Parameters: append(append(openapi3.Parameters{}, common...), c.params...)}
		for i, method := range []string{"Get", "Post"} {
			op := operation(b, c.id+[]string{"", "Form"}[i], c.summary,
				"Prometheus's HTTP API shape (docs/monitoring.md, Queries); POST takes the parameters form-encoded. Operators query every series, an enterprise's admins and members their enterprise's only. A refused parameter is a 400 naming it.")
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
}
