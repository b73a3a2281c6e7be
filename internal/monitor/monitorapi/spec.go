package monitorapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/schema"
)

// The layer's part of the OpenAPI document (GET /spec).

const (
	schemaSilence = "MonitorSilence"
	tagMonitor    = "monitor"
)

var spec = &compat.Spec{
	Reserve: []string{schemaSilence},
	Paths:   paths,
	TagDescriptions: map[string]string{
		tagMonitor: "Monitoring: an enterprise's silences, kept in Alertmanager, its receivers' secrets, tenant-safe PromQL queries and dashboards exported for Grafana (docs/monitoring.md).",
	},
}

func paths(b compat.SpecBuilder, sets []*schema.ModelSet) {
	if len(sets) == 0 {
		return
	}
	str := compat.Str
	matcher := compat.Obj(map[string]*openapi3.Schema{
		"name":    str("The label."),
		"value":   str("The value, or a regular expression when isRegex."),
		"isRegex": openapi3.NewBoolSchema(),
		"isEqual": openapi3.NewBoolSchema(),
	}, "name", "value")
	b.AddSchema(schemaSilence, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"id":        str("Alertmanager's id of the silence."),
		"matchers":  openapi3.NewArraySchema().WithItems(matcher),
		"startsAt":  openapi3.NewDateTimeSchema(),
		"endsAt":    openapi3.NewDateTimeSchema(),
		"createdBy": str("Who made it (the AMP caller)."),
		"comment":   str("Why."),
		"status":    openapi3.NewObjectSchema(),
	}, "matchers", "startsAt", "endsAt", "comment"), "A silence in Alertmanager's API v2 shape; an enterprise's always matches enterprise=\"<id>\"."))

	list := operation(b, "listMonitorSilences", "An enterprise's silences", "The silences Alertmanager holds that match the enterprise's label (active, pending and expired).")
	answer(list, "200", "The silences.", &openapi3.SchemaRef{Value: openapi3.NewArraySchema().WithItems(b.Ref(schemaSilence).Value)})
	b.Errors(list, false, false)
	create := operation(b, "createMonitorSilence", "Silence some of an enterprise's alerts",
		"Matchers as amtool's (AMP adds enterprise=\"<id>\"; a matcher on enterprise is refused), a comment, and endsAt or a duration (at most 30 days). Audited.")
	create.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription("The silence.").
		WithJSONSchema(compat.Obj(map[string]*openapi3.Schema{
			"matchers": openapi3.NewArraySchema().WithItems(matcher),
			"startsAt": openapi3.NewDateTimeSchema(),
			"endsAt":   openapi3.NewDateTimeSchema(),
			"duration": str("Instead of endsAt: how long from startsAt, e.g. 2h."),
			"comment":  str("Why."),
		}, "comment"))}
	answer(create, "201", "Created in Alertmanager.", b.Ref(schemaSilence))
	b.Errors(create, false, false)
	b.Doc().Paths.Set("/monitor/silences/{enterprise}", &openapi3.PathItem{
		Parameters: openapi3.Parameters{pathParam("enterprise", "The enterprise's id.")}, Get: list, Post: create})

	expire := operation(b, "expireMonitorSilence", "Expire an enterprise's silence", "Only a silence matching the enterprise's label; any other answers 404. Audited.")
	answer(expire, "200", "Expired.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{"expired": str("The id.")}, "expired")})
	b.Errors(expire, false, false)
	b.Doc().Paths.Set("/monitor/silences/{enterprise}/{id}", &openapi3.PathItem{
		Parameters: openapi3.Parameters{pathParam("enterprise", "The enterprise's id."), pathParam("id", "Alertmanager's id of the silence.")}, Delete: expire})

	put := operation(b, "putMonitorSecret", "Set a receiver secret",
		"The URL of a Slack-compatible webhook that the enterprise's receivers name by id (slack/url-secret); kept in the store's metadata, never answered back. Audited.")
	put.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription("The secret.").
		WithJSONSchema(compat.Obj(map[string]*openapi3.Schema{"secret": str("An http:// or https:// URL of at most 2048 bytes.")}, "secret"))}
	answer(put, "200", "Set.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{"id": str("The id."), "note": str("A reminder.")}, "id")})
	b.Errors(put, false, false)
	del := operation(b, "deleteMonitorSecret", "Delete a receiver secret", "The receivers naming it drop their notifications until it is set again.")
	answer(del, "200", "Deleted.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{"deleted": str("The id.")}, "deleted")})
	b.Errors(del, false, false)
	b.Doc().Paths.Set("/monitor/secrets/{enterprise}/{id}", &openapi3.PathItem{
		Parameters: openapi3.Parameters{pathParam("enterprise", "The enterprise's id."), pathParam("id", "The secret's id, as a receiver's url-secret names it.")}, Put: put, Delete: del})
	queryPaths(b)
	logPaths(b)
	dashboardPaths(b)
	panelPaths(b)
}

func dashboardPaths(b compat.SpecBuilder) {
	str := compat.Str
	list := operation(b, "listMonitorDashboards", "The dashboards an enterprise can export",
		"The predefined dashboards the enterprise does not shadow (the edge sites' summary, the device group's monitoring frame, a site's, a slice's, a cluster's), then the enterprise's own (the monitor set's dashboard list; one stored as a Grafana model counts no panels).")
	answer(list, "200", "The dashboards.", &openapi3.SchemaRef{Value: openapi3.NewArraySchema().WithItems(compat.Obj(map[string]*openapi3.Schema{
		"id": str("The dashboard's id."), "title": str("Its title."), "description": str("What it shows."),
		"panels": openapi3.NewIntegerSchema(),
	}, "id", "title", "panels"))})
	b.Errors(list, false, false)
	b.Doc().Paths.Set("/monitor/dashboards/{enterprise}", &openapi3.PathItem{
		Parameters: openapi3.Parameters{pathParam("enterprise", "The enterprise's id.")}, Get: list})
	export := operation(b, "exportMonitorDashboard", "Export a dashboard as Grafana dashboard JSON",
		"Built with grafana-foundation-sdk; its panels query the data source chosen at import (${amp_prometheus}: AMP's /metrics, which answers with the caller's enterprise's series only).")
	answer(export, "200", "The Grafana dashboard.", &openapi3.SchemaRef{Value: openapi3.NewObjectSchema()})
	b.Errors(export, false, false)
	b.Doc().Paths.Set("/monitor/dashboards/{enterprise}/{id}/grafana", &openapi3.PathItem{
		Parameters: openapi3.Parameters{pathParam("enterprise", "The enterprise's id."), pathParam("id", "The dashboard's id.")}, Get: export})
}

func operation(b compat.SpecBuilder, id, summary, desc string) *openapi3.Operation {
	return &openapi3.Operation{Tags: []string{b.Tag(tagMonitor, "")}, OperationID: b.OpID(id), Summary: summary,
		Description: desc, Responses: openapi3.NewResponses()}
}

func answer(o *openapi3.Operation, status, desc string, s *openapi3.SchemaRef) {
	o.Responses.Set(status, &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(desc).WithJSONSchemaRef(s)})
}

func pathParam(name, desc string) *openapi3.ParameterRef {
	p := openapi3.NewPathParameter(name).WithSchema(openapi3.NewStringSchema())
	p.Description = desc
	return &openapi3.ParameterRef{Value: p}
}
