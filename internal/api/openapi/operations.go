package openapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/schema"
)

// The routes documented here sit beside the model paths: the whole tree of
// an enterprise, operational state reports and controller sync status. The
// document also names its server: relative to where it is served.

// serversAndOperations adds servers and these routes.
func (b *builder) serversAndOperations() {
	b.doc.Servers = openapi3.Servers{{URL: "/", Description: "This AMP server (paths are relative to where the document was fetched)."}}
	for _, set := range b.sch.Sets {
		b.rootTree(set)
		base, _ := b.setRoot(set)
		b.statePaths(set.Root, base)
	}
	b.syncStatus()
}

func (b *builder) ok(desc string, s *openapi3.Schema) *openapi3.ResponseRef {
	return &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(desc).WithJSONSchema(s)}
}

// rootTree documents GET of a set's root: every top-level list of an
// enterprise (tenant set, /{set}/v{version}/{tenant}) or of the
// operator (global set, /{set}/v{version}) in one object.
func (b *builder) rootTree(set *schema.ModelSet) {
	props := map[string]*openapi3.Schema{}
	for _, c := range set.Root.Children {
		if c.Kind != schema.List || b.full[c] == "" {
			continue
		}
		a := openapi3.NewArraySchema()
		a.Items = b.ref(b.full[c])
		props[c.Name] = a
	}
	tree := obj(props)
	base, params := b.setRoot(set)
	op := &openapi3.Operation{Responses: openapi3.NewResponses(),
		Parameters: openapi3.Parameters{b.paramRef(ParamAt), b.paramRef(ParamWithDefaults)}}
	if set.Global() {
		op.Tags = []string{b.tag("model-sets", "")}
		op.OperationID = b.opID("getTree" + pascal(set.Name))
		op.Summary = "Read the whole " + set.Name + " " + set.Version + " configuration (global: the operator's)"
		op.Responses.Set("200", b.ok("Every top-level list of the set, with state merged in.", tree))
	} else {
		op.Tags = []string{b.tag("enterprises", "")}
		op.OperationID = b.opID("getEnterpriseTree" + pascal(set.Name))
		op.Summary = "Read an enterprise's whole " + set.Name + " " + set.Version + " configuration"
		op.Responses.Set("200", b.ok("Every top-level list of the enterprise, with state merged in.", tree))
	}
	b.errors(op, false, true)
	b.doc.Paths.Set(base, &openapi3.PathItem{Parameters: cloneParams(params), Get: op})
}

// statePaths documents PUT|PATCH|DELETE /state/… for every operational
// state subtree (a config false container under configuration): how
// controllers and agents report state, read back through the model path.
func (b *builder) statePaths(n *schema.Node, path string) {
	for _, c := range n.Children {
		switch {
		case c.Kind == schema.Container && !c.Config && n.Config && b.full[c] != "":
			b.statePath(c, path+"/"+c.Name)
		case c.Kind == schema.Container && c.Config:
			b.statePaths(c, path+"/"+c.Name)
		case c.Kind == schema.List && c.Config:
			entry := path + "/" + c.Name
			for _, k := range c.Keys {
				entry += "/{" + k + "}"
			}
			b.statePaths(c, entry)
		}
	}
}

func (b *builder) statePath(n *schema.Node, path string) {
	modelPath := b.doc.Paths.Value(path)
	if modelPath == nil {
		return // not reachable through the model paths (a key renamed there)
	}
	tag := b.tag("state", "Operational state reports from AMP's controllers, backends and agents (operators only; not versioned).")
	// The model schema marks state readOnly (clients never write it
	// through the model paths); a report writes exactly those members.
	report := b.objectSchema(n, false)
	writable(report)
	report.Description = "A state report for " + n.SchemaPath() + ": the members of " + b.full[n] + ", written here."
	b.addSchema(b.full[n]+"_Report", report)
	write := func(method, summary string) *openapi3.Operation {
		op := &openapi3.Operation{Tags: []string{tag}, OperationID: b.opID(method + "State" + b.full[n]), Summary: summary + " " + n.SchemaPath(),
			Responses: openapi3.NewResponses()}
		if method != "delete" {
			op.RequestBody = b.jsonBody(b.full[n]+"_Report", "The state, as read back through "+path[len("/state"):]+".")
		}
		op.Responses.Set("204", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("Recorded.")})
		b.errors(op, true, false)
		return op
	}
	b.doc.Paths.Set("/state"+path, &openapi3.PathItem{Parameters: cloneParams(modelPath.Parameters),
		Put: write("put", "Replace the reported state"), Patch: write("patch", "Merge into the reported state"), Delete: write("delete", "Forget the reported state")})
}

// syncStatus documents GET /sync-status.
func (b *builder) syncStatus() {
	sources := openapi3.NewArraySchema()
	sources.Items = &openapi3.SchemaRef{Value: openapi3.NewStringSchema()}
	status := obj(map[string]*openapi3.Schema{
		"adapter":       str("The southbound adapter (sdcore, gnmipush, ...)."),
		"id":            str("The backend object's id."),
		"backend":       str("The backend holding it."),
		"sources":       withDesc(sources, "The configuration objects (REST paths) it derives from."),
		"status":        str("in-sync, pending or error (docs/controllers.md)."),
		"applied-index": i64("The newest index the backend took."),
		"wanted-index":  i64("The index it should reach."),
		"changed-index": i64("The index whose configuration last changed what the backend should hold."),
		"message":       str("The last error, if any."),
		"attempts":      withDesc(openapi3.NewIntegerSchema(), "Failed attempts since the last success."),
		"last-attempt":  withDesc(openapi3.NewDateTimeSchema(), "When it was last tried."),
		"deleting":      withDesc(openapi3.NewBoolSchema(), "The object is being removed from the backend."),
	}, "adapter", "id", "status")
	status.AdditionalProperties = openapi3.AdditionalProperties{Has: ptr(true)} // adapters may report more
	objs := openapi3.NewArraySchema()
	objs.Items = &openapi3.SchemaRef{Value: status}
	counts := openapi3.NewObjectSchema()
	counts.AdditionalProperties = openapi3.AdditionalProperties{Schema: &openapi3.SchemaRef{Value: openapi3.NewIntegerSchema()}}
	strMap := openapi3.NewObjectSchema()
	strMap.AdditionalProperties = openapi3.AdditionalProperties{Schema: &openapi3.SchemaRef{Value: openapi3.NewStringSchema()}}
	boolMap := openapi3.NewObjectSchema()
	boolMap.AdditionalProperties = openapi3.AdditionalProperties{Schema: &openapi3.SchemaRef{Value: openapi3.NewBoolSchema()}}
	res := obj(map[string]*openapi3.Schema{
		"index":               i64("The current transaction index."),
		"summary":             withDesc(counts, "How many objects are in each status."),
		"objects":             withDesc(objs, "Per backend object: its status, the configuration it derives from, the index applied, the last error."),
		"controllers-here":    withDesc(boolMap, "Per adapter: whether its controller runs on this replica."),
		"controller-replicas": withDesc(strMap, "Per adapter: the replica running its controller."),
	}, "index", "summary", "objects")
	q := func(name, desc string) *openapi3.ParameterRef {
		p := openapi3.NewQueryParameter(name).WithSchema(openapi3.NewStringSchema())
		p.Description = desc
		return &openapi3.ParameterRef{Value: p}
	}
	op := &openapi3.Operation{Tags: []string{b.tag("admin", "")}, OperationID: b.opID("getSyncStatus"), Summary: "What the southbound adapters applied",
		Parameters: openapi3.Parameters{q("adapter", "Only this adapter."), q("status", "Only objects in this status."),
			q("path", "Only objects derived from this configuration path or below it (/{set}/v{version}/{tenant}/site/s1).")},
		Responses: openapi3.NewResponses()}
	op.Responses.Set("200", b.ok("The status of every backend object the caller may see.", res))
	b.errors(op, false, false)
	b.doc.Paths.Set("/sync-status", &openapi3.PathItem{Get: op})
}

// writable clears readOnly in a schema and the inline schemas below it.
func writable(s *openapi3.Schema) {
	s.ReadOnly = false
	for _, p := range s.Properties {
		if p.Ref == "" && p.Value != nil {
			writable(p.Value)
		}
	}
	if s.Items != nil && s.Items.Ref == "" && s.Items.Value != nil {
		writable(s.Items.Value)
	}
}
