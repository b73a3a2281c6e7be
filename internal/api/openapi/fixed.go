package openapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/tenant"
)

// Names of the hand-written component schemas. They are reserved before the
// model schemas are named, so a model node never takes one of them.
const (
	schemaProblem         = "Problem"
	schemaTxnID           = "TransactionId"
	schemaTxnInfo         = "TxnInfo"
	schemaTxnDetail       = "TxnDetail"
	schemaTxnResult       = "TxnResult"
	schemaDryRun          = "DryRunResult"
	schemaChange          = "Change"
	schemaDiff            = "Diff"
	schemaTarget          = "Target"
	schemaEnterprise      = "Enterprise"
	schemaLogLevel        = "LogLevel"
	schemaLogLevels       = "LogLevels"
	schemaComponentLevel  = "ComponentLogLevel"
	schemaValues          = "Values"
	schemaModelSet        = "ModelSet"
	schemaWhoami          = "Whoami"
	schemaModelSetVersion = "ModelSetVersion"
	schemaModelTreeNode   = "ModelTreeNode"
)

var problemResponses = map[int]string{
	400: "BadRequest",
	401: "Unauthorized",
	403: "Forbidden",
	404: "NotFound",
	409: "Conflict",
	410: "Gone",
	412: "PreconditionFailed",
	422: "UnprocessableEntity",
	500: "InternalError",
	503: "ServiceUnavailable",
}

var problemText = map[int]string{
	400: "The request is malformed or violates the schema; `errors` lists every problem found.",
	401: "No or invalid bearer token.",
	403: "The authenticated principal may not do this.",
	404: "The addressed object (or enterprise, or transaction) does not exist.",
	409: "The request conflicts with the current state: a reference to something missing, a rule across objects, a rollback over later changes.",
	410: "The requested history index has been compacted away.",
	412: "The If-Match precondition failed: the object changed since it was read.",
	422: "The request is understood but cannot be processed.",
	500: "Internal server error.",
	503: "The server is not ready or is shutting down.",
}

// The schema helpers a compatibility layer uses too.
var (
	obj      = compat.Obj
	str      = compat.Str
	i64      = compat.I64
	withDesc = compat.Described
)

// fixedComponents adds the hand-written schemas, parameters, headers and
// responses, and reserves the names of the schemas built after the model.
func (b *builder) fixedComponents() {
	c := b.doc.Components
	for _, l := range b.layers {
		for _, n := range l.Spec.Reserve {
			b.names[n] = true
		}
	}

	pe := obj(map[string]*openapi3.Schema{
		"path":   str("Data path in REST form (/{set}/v{version}/{tenant}/site/s1/device/d1/imei) or, for request-shape problems, a JSON pointer into the request body."),
		"reason": str("What is wrong there."),
	}, "path", "reason")
	errs := openapi3.NewArraySchema()
	errs.Items = &openapi3.SchemaRef{Value: pe}
	errs.Description = "Every problem found, so a client can fix all of them in one round trip."
	status := openapi3.NewIntegerSchema()
	status.Description = "The HTTP status code."
	b.addSchema(schemaProblem, withDesc(obj(map[string]*openapi3.Schema{
		"type":    str("A URI reference identifying the problem type (RFC 9457)."),
		"title":   str("Short summary of the problem type."),
		"status":  status,
		"detail":  str("Explanation of this occurrence."),
		"message": str(b.layerText(func(s *compat.Spec) string { return s.ProblemMessage }, "The same text as detail.")),
		"errors":  errs,
	}, "title", "status"), "An RFC 9457 problem document."))

	b.addSchema(schemaTxnID, str("The id of the committed transaction (its index is in the "+HeaderTxnIndex+" header)."))

	change := func() *openapi3.Schema {
		op := openapi3.NewStringSchema().WithEnum("create", "update", "delete")
		op.Description = "What happened to the object."
		// Any JSON value; absent rather than null when there is none, so
		// no nullable (which OpenAPI 3.0.3 allows only beside a type).
		old, nw := &openapi3.Schema{}, &openapi3.Schema{}
		old.Description = "The value before (absent for create)."
		nw.Description = "The value after (absent for delete)."
		return withDesc(obj(map[string]*openapi3.Schema{
			"path": str("REST path of the changed object."),
			"op":   op,
			"old":  old,
			"new":  nw,
		}, "path", "op"), "One changed object.")
	}
	b.addSchema(schemaChange, change())
	changes := func() *openapi3.Schema {
		a := openapi3.NewArraySchema()
		a.Items = b.ref(schemaChange)
		a.Description = "The changed objects."
		return a
	}
	timeS := func() *openapi3.Schema { return withDesc(openapi3.NewDateTimeSchema(), "Commit time (RFC 3339).") }
	info := func(withChanges bool) *openapi3.Schema {
		targets := openapi3.NewArraySchema()
		targets.Items = &openapi3.SchemaRef{Value: openapi3.NewStringSchema()}
		targets.Description = "The enterprises (targets) the transaction touched."
		sets := openapi3.NewArraySchema()
		sets.Items = &openapi3.SchemaRef{Value: openapi3.NewStringSchema()}
		sets.Description = "The model set versions (name/version) whose objects the transaction touched."
		count := openapi3.NewIntegerSchema()
		count.Description = "How many objects the transaction changed."
		props := map[string]*openapi3.Schema{
			"index":           i64("Position in the transaction log (1, 2, ...)."),
			"id":              str("Transaction id (the one returned by the write)."),
			"time":            timeS(),
			"username":        str("Who made the change."),
			"source":          str("Interface or tool: api, gnmi, cli, import, rollback, ..."),
			"message":         str("Optional commit message."),
			"rollback-of":     i64("For a rollback: the index of the transaction undone."),
			"replica":         str("The AMP replica that committed it (several replicas on etcd only)."),
			"targets":         targets,
			"sets":            sets,
			"changed-objects": count,
		}
		req := []string{"index", "id", "time", "username", "source", "targets", "changed-objects"}
		if withChanges {
			props["changes"] = changes()
			req = append(req, "changes")
		}
		return obj(props, req...)
	}
	b.addSchema(schemaTxnInfo, withDesc(info(false), "Summary of one committed transaction."))
	b.addSchema(schemaTxnDetail, withDesc(info(true), "One committed transaction with its changes."))
	result := func(desc string) *openapi3.Schema {
		return withDesc(obj(map[string]*openapi3.Schema{
			"index":   i64("Index the transaction has (or, for a dry run, would have)."),
			"id":      str("Transaction id."),
			"time":    timeS(),
			"changes": changes(),
		}, "index", "id", "time", "changes"), desc)
	}
	b.addSchema(schemaTxnResult, result("What a committed transaction did."))
	b.addSchema(schemaDryRun, withDesc(obj(map[string]*openapi3.Schema{
		"dry-run": withDesc(openapi3.NewBoolSchema().WithEnum(true), "Always true: nothing was committed."),
		"changes": changes(),
	}, "dry-run", "changes"), "The answer to a write with dry-run=true: what the transaction would change; nothing was committed."))
	b.addSchema(schemaDiff, withDesc(obj(map[string]*openapi3.Schema{
		"from":    i64("The older index."),
		"to":      i64("The newer index."),
		"changes": changes(),
	}, "from", "to", "changes"), "What changed between two indexes: per object, its value at from and at to."))
	b.addSchema(schemaTarget, withDesc(obj(map[string]*openapi3.Schema{"name": str("Enterprise (target) id.")}, "name"), "A configuration target."))
	b.addSchema(schemaEnterprise, withDesc(obj(map[string]*openapi3.Schema{
		tenant.IDField: withDesc(openapi3.NewStringSchema().WithMinLength(1), "Enterprise (target) id, used in model paths."),
		"display-name": withDesc(openapi3.NewStringSchema().WithMinLength(1).WithMaxLength(80), "Human-readable name."),
		"description":  withDesc(openapi3.NewStringSchema().WithMinLength(1).WithMaxLength(1024), "Free text."),
	}, tenant.IDField), "An enterprise: one configuration target."))
	lvl := openapi3.NewStringSchema().WithEnum("debug", "info", "warn", "error")
	b.addSchema(schemaLogLevel, obj(map[string]*openapi3.Schema{"level": lvl}, "level"))
	b.addSchema(schemaComponentLevel, withDesc(obj(map[string]*openapi3.Schema{
		"component": str("The component, as its log records name it."),
		"level":     lvl,
		"own":       withDesc(openapi3.NewBoolSchema(), "Whether the component has its own level (false: it follows the process-wide one)."),
	}, "component", "level", "own"), "A component's log level."))
	comps := openapi3.NewArraySchema()
	comps.Items = b.ref(schemaComponentLevel)
	b.addSchema(schemaLogLevels, withDesc(obj(map[string]*openapi3.Schema{
		"level":      lvl,
		"components": withDesc(comps, "Every component that has logged in this process, by name."),
	}, "level", "components"), "The process-wide log level and each component's."))
	vals := openapi3.NewArraySchema()
	vals.Items = &openapi3.SchemaRef{Value: openapi3.NewStringSchema()}
	b.addSchema(schemaValues, withDesc(obj(map[string]*openapi3.Schema{"values": vals}, "values"), "The valid choices for a leafref."))
	b.modelSetSchemas()
	for _, l := range b.layers {
		if l.Spec.Components != nil {
			l.Spec.Components(specBuilder{b})
		}
	}

	// Parameters.
	P := func(p *openapi3.Parameter) { c.Parameters[p.Name] = &openapi3.ParameterRef{Value: p} }
	ent := openapi3.NewPathParameter(ParamEnterpriseID).WithSchema(openapi3.NewStringSchema().WithMinLength(1))
	ent.Description = "The enterprise (configuration target)."
	P(ent)
	limit := openapi3.NewQueryParameter(ParamLimit).WithSchema(openapi3.NewIntegerSchema().WithMin(1))
	limit.Description = "At most this many items."
	P(limit)
	cont := openapi3.NewQueryParameter(ParamContinue).WithSchema(openapi3.NewStringSchema())
	cont.Description = "Opaque token from the " + HeaderContinue + " header of the previous page."
	P(cont)
	fs := openapi3.NewArraySchema()
	fs.Items = &openapi3.SchemaRef{Value: openapi3.NewStringSchema().WithPattern(`^[^=^]+\^?=.*$`)}
	filter := openapi3.NewQueryParameter(ParamFilter).WithSchema(fs)
	filter.Style, filter.Explode = "form", ptr(true)
	filter.Description = "Only entries whose leaf equals the value, as `leaf=value` (a path relative to the entry, e.g. `mbr/uplink=1000`), or whose leaf starts with it, as `leaf^=prefix` (e.g. `imsi^=3150100`); repeat for a conjunction."
	P(filter)
	sort := openapi3.NewQueryParameter(ParamSort).WithSchema(openapi3.NewStringSchema().WithPattern(`^-?[^=]+$`))
	sort.Description = "Order the entries by a leaf (a path relative to the entry, e.g. `mbr/uplink`), ascending, or descending with a leading `-`; numbers compare as numbers, entries without the leaf (and no default) come last ascending, first descending, ties in key order. Paging with `continue` follows the order."
	P(sort)
	at := openapi3.NewQueryParameter(ParamAt).WithSchema(openapi3.NewInt64Schema().WithMin(0))
	at.Description = "Point-in-time read: the value as of this transaction index."
	P(at)
	wd := openapi3.NewQueryParameter(ParamWithDefaults).WithSchema(openapi3.NewStringSchema().WithEnum("report-all", "explicit"))
	wd.Description = "report-all: fill in YANG defaults for members not set; explicit (the default): only what was set."
	P(wd)
	dry := openapi3.NewQueryParameter(ParamDryRun).WithSchema(openapi3.NewBoolSchema().WithDefault(false))
	dry.Description = "Validate and report what would change (a DryRunResult, status 200) without committing."
	P(dry)
	im := openapi3.NewHeaderParameter(HeaderIfMatch).WithSchema(openapi3.NewStringSchema())
	im.Description = "Commit only if the addressed object's current ETag matches (else 412)."
	P(im)
	src := openapi3.NewHeaderParameter(HeaderSource).WithSchema(openapi3.NewStringSchema().WithEnum("api", "cli", "import"))
	src.Description = "Recorded as the transaction's source (default api)."
	P(src)
	msg := openapi3.NewHeaderParameter(HeaderMessage).WithSchema(openapi3.NewStringSchema().WithMaxLength(1024))
	msg.Description = "Recorded as the transaction's message (truncated to 1024 bytes)."
	P(msg)

	// Headers.
	H := func(name, desc string, s *openapi3.Schema) {
		c.Headers[name] = &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{Description: desc, Schema: &openapi3.SchemaRef{Value: s}}}}
	}
	H(HeaderETag, "Version of the returned object, for If-Match.", openapi3.NewStringSchema())
	H(HeaderTxnIndex, "Index of the committed transaction.", openapi3.NewInt64Schema())
	H(HeaderTxnID, "Id of the committed transaction.", openapi3.NewStringSchema())
	H(HeaderIndex, "The transaction index the read was served at (operators only: the global index tells how busy other tenants are).", openapi3.NewInt64Schema())
	H(HeaderContinue, "Token for the next page (the continue parameter); absent on the last page.", openapi3.NewStringSchema())

	// Problem responses.
	for st, name := range problemResponses {
		text := problemText[st]
		if st == 422 {
			text = b.layerText(func(s *compat.Spec) string { return s.Unprocessable }, text)
		}
		r := openapi3.NewResponse().WithDescription(text).
			WithContent(openapi3.NewContentWithSchemaRef(b.ref(schemaProblem), []string{mtProblem}))
		c.Responses[name] = &openapi3.ResponseRef{Value: r}
	}
}

// fixedPaths adds the paths that are not derived from the models.
func (b *builder) fixedPaths() {
	tg := b.tag("targets", "Configuration targets (enterprises).")
	te := b.tag("enterprises", "Create, list and delete enterprises (configuration targets).")
	tt := b.tag("transactions", "Transaction history: list, inspect, roll back, diff, watch.")
	ta := b.tag("admin", "Server administration and the API description.")
	th := b.tag("health", "Liveness, readiness and metrics.")

	arrOf := func(name string) *openapi3.SchemaRef {
		a := openapi3.NewArraySchema()
		a.Items = b.ref(name)
		return &openapi3.SchemaRef{Value: a}
	}
	op := func(tag, id, summary string) *openapi3.Operation {
		return &openapi3.Operation{Tags: []string{tag}, OperationID: b.opID(id), Summary: summary, Responses: openapi3.NewResponses()}
	}
	jsonOK := func(o *openapi3.Operation, status, desc string, s *openapi3.SchemaRef, headers ...string) {
		r := openapi3.NewResponse().WithDescription(desc).WithJSONSchemaRef(s)
		for _, h := range headers {
			if r.Headers == nil {
				r.Headers = openapi3.Headers{}
			}
			r.Headers[h] = b.headerRef(h)
		}
		o.Responses.Set(status, &openapi3.ResponseRef{Value: r})
	}
	// A transaction-committing write: dry-run, source and message; 200 with a
	// DryRunResult for a dry run.
	txnWrite := func(o *openapi3.Operation, status string, committed string) {
		o.Parameters = append(append(o.Parameters, b.paramRef(ParamDryRun)), b.txnHeaders()...)
		if status == "200" {
			jsonOK(o, "200", "Committed (with dry-run=true: a DryRunResult).", b.txnOrDryRun(committed), HeaderTxnIndex, HeaderTxnID)
		} else {
			jsonOK(o, status, "Committed: the transaction id.", b.ref(committed), HeaderTxnIndex, HeaderTxnID)
			jsonOK(o, "200", "With dry-run=true: what would change; nothing is committed.", b.ref(schemaDryRun))
		}
		b.errors(o, true, false)
	}
	qp := func(name, desc string, s *openapi3.Schema, required bool) *openapi3.ParameterRef {
		p := openapi3.NewQueryParameter(name).WithSchema(s).WithRequired(required)
		p.Description = desc
		return &openapi3.ParameterRef{Value: p}
	}
	set := func(p string, item *openapi3.PathItem) { b.doc.Paths.Set(p, item) }

	// Targets.
	o := op(tg, "getTargets", "List the configuration targets")
	jsonOK(o, "200", "The targets.", arrOf(schemaTarget))
	b.errors(o, false, false)
	set("/targets", &openapi3.PathItem{Get: o})

	// Enterprises.
	list := op(te, "listEnterprises", "List the enterprises")
	jsonOK(list, "200", "The enterprises.", arrOf(schemaEnterprise))
	b.errors(list, false, false)
	create := op(te, "createEnterprise", "Create an enterprise")
	create.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(b.ref(schemaEnterprise))}
	txnWrite(create, "201", schemaTxnID)
	set("/enterprises", &openapi3.PathItem{Get: list, Post: create})
	get := op(te, "getEnterprise", "Read an enterprise")
	jsonOK(get, "200", "The enterprise.", b.ref(schemaEnterprise), HeaderETag)
	b.errors(get, false, false)
	del := op(te, "deleteEnterprise", "Delete an enterprise and all its configuration")
	txnWrite(del, "200", schemaTxnID)
	set("/enterprises/{"+ParamEnterpriseID+"}", &openapi3.PathItem{
		Parameters: openapi3.Parameters{b.paramRef(ParamEnterpriseID)}, Get: get, Delete: del})

	// Transactions.
	idx := openapi3.NewPathParameter("index").WithSchema(openapi3.NewInt64Schema().WithMin(1))
	idx.Description = "Transaction index."
	idxRef := &openapi3.ParameterRef{Value: idx}
	o = op(tt, "listTransactions", "List committed transactions, newest first (AMP's summaries)")
	o.Parameters = b.transactionPaging()
	jsonOK(o, "200", "The transactions.", arrOf(schemaTxnInfo))
	b.errors(o, false, false)
	set("/amp/transactions", &openapi3.PathItem{Get: o})
	o = op(tt, "getTransaction", "Read one transaction with its changes")
	jsonOK(o, "200", "The transaction.", b.ref(schemaTxnDetail))
	b.errors(o, false, true)
	set("/transactions/{index}", &openapi3.PathItem{Parameters: openapi3.Parameters{idxRef}, Get: o})
	o = op(tt, "rollbackTransaction", "Undo a transaction")
	o.Description = "Commits a new transaction that restores every object the given transaction changed; 409 if a later transaction changed the same objects."
	txnWrite(o, "200", schemaTxnResult)
	o.Responses.Set("410", b.respRef(problemResponses[410]))
	set("/transactions/{index}/rollback", &openapi3.PathItem{Parameters: openapi3.Parameters{idxRef}, Post: o})
	// A basket: edits of several objects as one transaction. GET
	// /transactions is a compatibility layer's (set before these paths).
	o = op(tt, "commitTransaction", "Commit edits of several objects, of any model sets and enterprises, as ONE transaction")
	o.Description = "What a basket commits (the portal's). Each edit is what PATCH (a JSON merge patch), PUT or DELETE of its path would be, authorized as that write; `if-match` is that object's ETag: a stale one refuses the whole transaction with 412 naming the object. A malformed edit is 400 naming its place in the body (/edits/2/op)."
	edit := obj(map[string]*openapi3.Schema{
		"op":       withDesc(openapi3.NewStringSchema().WithEnum("patch", "put", "delete"), "patch: a JSON merge patch (null removes); put: replace; delete: remove with everything below."),
		"path":     str("The REST path of the object (or leaf, container, list) the edit writes."),
		"value":    withDesc(&openapi3.Schema{}, "The body the same write of path would carry (none for delete)."),
		"if-match": str("The object's ETag as read (\"42\"): the edit applies only if the object is still at that version."),
	}, "op", "path")
	edits := openapi3.NewArraySchema().WithMinItems(1).WithMaxItems(1000)
	edits.Items = &openapi3.SchemaRef{Value: edit}
	o.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
		WithJSONSchema(obj(map[string]*openapi3.Schema{"edits": withDesc(edits, "The edits, applied in order.")}, "edits"))}
	txnWrite(o, "200", schemaTxnID)
	item := b.doc.Paths.Value("/transactions")
	if item == nil {
		item = &openapi3.PathItem{}
	}
	item.Post = o
	set("/transactions", item)

	o = op(tt, "getDiff", "What changed between two transaction indexes")
	o.Parameters = openapi3.Parameters{
		qp("from", "The older index.", openapi3.NewInt64Schema().WithMin(0), true),
		qp("to", "The newer index (default: the current one).", openapi3.NewInt64Schema().WithMin(0), false),
	}
	jsonOK(o, "200", "The differences.", b.ref(schemaDiff))
	b.errors(o, false, true)
	set("/diff", &openapi3.PathItem{Get: o})

	o = op(tt, "watch", "Stream committed transactions")
	o.Description = "Sends every transaction with an index greater than `from`, first from the log and then live, one JSON TxnDetail per line. On disconnect, resume from the last index received."
	o.Parameters = openapi3.Parameters{qp("from", "Start after this index (default: the current index, i.e. only new transactions).", openapi3.NewInt64Schema().WithMin(0), false)}
	o.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().
		WithDescription("Newline-delimited JSON: one TxnDetail per line.").
		WithContent(openapi3.NewContentWithSchemaRef(b.ref(schemaTxnDetail), []string{mtNDJSON}))})
	b.errors(o, false, true)
	set("/watch", &openapi3.PathItem{Get: o})

	// The document itself.
	o = op(ta, "getSpec", "This OpenAPI document")
	o.Parameters = openapi3.Parameters{qp("format", "json (default) or yaml.", openapi3.NewStringSchema().WithEnum("json", "yaml").WithDefault("json"), false)}
	spec := openapi3.NewContent()
	spec[mtJSON] = openapi3.NewMediaType().WithSchema(withDesc(openapi3.NewObjectSchema(), "An OpenAPI 3.0.3 document."))
	spec[mtYAML] = openapi3.NewMediaType().WithSchema(withDesc(openapi3.NewStringSchema(), "The same document as YAML (format=yaml)."))
	o.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("The document.").WithContent(spec)})
	b.errors(o, false, false)
	set("/spec", &openapi3.PathItem{Get: o})

	// The loaded model sets.
	o = op(ta, "getModels", "The loaded model sets")
	o.Description = "Every loaded model set with each of its versions: the descriptor (scope, REST prefix, gNMI origin, OpenAPI prefix, CLI name, compatibility rules) and the YANG modules with their revisions. Clients (the CLI) learn the server's sets from it."
	o.Parameters = openapi3.Parameters{qp("tree", "true: add each version's tree (node names, kinds, list keys, types), for clients that do not embed the set's YANG.", openapi3.NewBoolSchema().WithDefault(false), false)}
	jsonOK(o, "200", "The model sets, by name.", arrOf(schemaModelSet))
	b.errors(o, false, false)
	set("/models", &openapi3.PathItem{Get: o})
	// The caller, and what it may do.
	o = op(ta, "whoami", "Who the caller is, and what the policy lets it do to some paths")
	o.Description = "The caller as AMP authenticated it (name, how, rights) and, for each `path` asked about, whether the policy lets it read and write it: what it would learn by trying, without a refused write in the audit trail. Clients (the portal) show edit controls only where a write would be allowed."
	paths := openapi3.NewArraySchema()
	paths.Items = openapi3.NewSchemaRef("", openapi3.NewStringSchema())
	pp := qp("path", "A REST path to ask about (repeat for several, at most 50).", paths, false)
	pp.Value.Explode = openapi3.BoolPtr(true)
	o.Parameters = openapi3.Parameters{pp}
	jsonOK(o, "200", "The caller and its access.", b.ref(schemaWhoami))
	b.errors(o, false, false)
	set("/whoami", &openapi3.PathItem{Get: o})
	// Where an object is used, and what it uses.
	o = op(ta, "getReferences", "What refers to a list entry, and what it refers to")
	o.Description = "From the engine's reference index (leafrefs and ampx:refers-to, across model sets): the referring objects and leaves, and the entries the object's reference leaves name, at most 1000 each (truncated says more exist). The path is refused as a GET of it would be; only objects the caller may read are named."
	o.Parameters = openapi3.Parameters{qp("path", "The REST path of a list entry.", openapi3.NewStringSchema(), true)}
	ref := obj(map[string]*openapi3.Schema{
		"object": str("The REST path of the object holding the reference leaf."),
		"leaf":   str("The REST path of the reference leaf."),
		"value":  str("The value it holds."),
		"target": str("refers-to only: the REST path of the entry it names."),
	}, "object", "leaf", "value")
	refs := openapi3.NewArraySchema()
	refs.Items = &openapi3.SchemaRef{Value: ref}
	jsonOK(o, "200", "The references.", &openapi3.SchemaRef{Value: withDesc(obj(map[string]*openapi3.Schema{
		"path":      str("The entry asked about."),
		"referrers": withDesc(refs, "What refers to it."),
		"refers-to": withDesc(refs, "What it refers to."),
		"truncated": withDesc(openapi3.NewBoolSchema(), "More references exist than are listed."),
	}, "path", "referrers", "refers-to"), "Where an entry is used, and what it uses.")})
	b.errors(o, false, true)
	set("/references", &openapi3.PathItem{Get: o})
	o = op(ta, "migrateModelSet", "Move every object of one version of a model set into another, as one transaction")
	o.Description = "Operators only. Converts every object of version `from` into version `to` (both loaded; `to` must hold no objects) with the migration `to` declares (migrate-from) or Go code registers, deletes the `from` objects and creates the `to` objects in ONE transaction: a conversion that fails, or a reference the move would leave dangling, refuses it whole, naming the object and the reason (docs/models.md, \"Migrations\")."
	setParam := openapi3.NewPathParameter("set").WithSchema(openapi3.NewStringSchema())
	setParam.Description = "The model set's name."
	o.Parameters = openapi3.Parameters{
		&openapi3.ParameterRef{Value: setParam},
		qp("from", "The version whose objects move.", openapi3.NewStringSchema(), true),
		qp("to", "The version they move to.", openapi3.NewStringSchema(), true),
	}
	txnWrite(o, "200", schemaTxnResult)
	set("/models/{set}/migrate", &openapi3.PathItem{Post: o})

	// Log level.
	get = op(ta, "getLogLevel", "Read the log levels")
	get.Description = "Operators only. The process-wide level and each component's (docs/logging.md)."
	jsonOK(get, "200", "The current levels.", b.ref(schemaLogLevels))
	b.errors(get, false, false)
	put := op(ta, "setLogLevel", "Change the process-wide log level")
	put.Description = "Operators only, audited. Every component without its own level follows it at once."
	put.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(b.ref(schemaLogLevel))}
	jsonOK(put, "200", "The new level.", b.ref(schemaLogLevel))
	b.errors(put, true, false)
	set("/admin/log-level", &openapi3.PathItem{Get: get, Put: put})
	comp := openapi3.NewPathParameter("component").WithSchema(openapi3.NewStringSchema().WithMinLength(1))
	comp.Description = "A component, as GET /admin/log-level lists it; 404 for one that has not logged in this process."
	get = op(ta, "getComponentLogLevel", "Read one component's log level")
	jsonOK(get, "200", "Its level.", b.ref(schemaComponentLevel))
	b.errors(get, false, false)
	put = op(ta, "setComponentLogLevel", "Give one component its own log level")
	put.Description = "Operators only, audited. Takes effect at once, for loggers already made."
	put.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(b.ref(schemaLogLevel))}
	jsonOK(put, "200", "Its new level.", b.ref(schemaComponentLevel))
	b.errors(put, true, false)
	del = op(ta, "resetComponentLogLevel", "Make one component follow the process-wide log level again")
	jsonOK(del, "200", "Its level now.", b.ref(schemaComponentLevel))
	b.errors(del, true, false)
	set("/admin/log-level/{component}", &openapi3.PathItem{Parameters: openapi3.Parameters{{Value: comp}}, Get: get, Put: put, Delete: del})

	// Backup (docs/backup.md).
	o = op(ta, "getBackup", "Stream a backup of the whole store")
	o.Description = "Operators only. A consistent backup (objects at one index, the retained history, the metadata) in AMP's backup format; a stream that ends without its end frame is a failed backup. Write it with `amp backup FILE`, restore it with `amp restore FILE`."
	o.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("The backup (format: docs/backup.md).").
		WithContent(openapi3.NewContentWithSchema(openapi3.NewStringSchema().WithFormat("binary"), []string{"application/vnd.amp.backup"}))})
	b.errors(o, false, false)
	set("/admin/backup", &openapi3.PathItem{Get: o})

	// Health and metrics.
	health := func(o *openapi3.Operation, desc string, props map[string]*openapi3.Schema) {
		jsonOK(o, "200", desc, &openapi3.SchemaRef{Value: obj(props, "status")})
	}
	text := func(o *openapi3.Operation, status, desc string) {
		o.Responses.Set(status, &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(desc).
			WithContent(openapi3.NewContentWithSchema(openapi3.NewStringSchema(), []string{mtText}))})
	}
	noAuth := func(o *openapi3.Operation) {
		o.Security = &openapi3.SecurityRequirements{}
		o.Responses.Set("500", b.respRef(problemResponses[500]))
	}
	o = op(th, "healthz", "Liveness: the process is up")
	health(o, "Alive.", map[string]*openapi3.Schema{"status": openapi3.NewStringSchema().WithEnum("ok")})
	noAuth(o)
	set("/healthz", &openapi3.PathItem{Get: o})
	o = op(th, "readyz", "Readiness: the server accepts requests")
	health(o, "Ready.", map[string]*openapi3.Schema{
		"status": openapi3.NewStringSchema().WithEnum("ready"),
	})
	o.Responses.Set("503", b.respRef(problemResponses[503]))
	noAuth(o)
	set("/readyz", &openapi3.PathItem{Get: o})
	o = op(th, "metrics", "Prometheus metrics (operators only)")
	text(o, "200", "Prometheus text exposition format.")
	b.errors(o, false, false)
	set("/metrics", &openapi3.PathItem{Get: o})
}

// modelSetSchemas adds the schemas of GET /models (schema.SetDescription).
func (b *builder) modelSetSchemas() {
	strs := func(desc string) *openapi3.Schema {
		a := openapi3.NewArraySchema()
		a.Items = &openapi3.SchemaRef{Value: openapi3.NewStringSchema()}
		return withDesc(a, desc)
	}
	node := obj(map[string]*openapi3.Schema{
		"name":      str("The node's name (empty for the root)."),
		"kind":      openapi3.NewStringSchema().WithEnum("root", "container", "list", "leaf", "leaf-list"),
		"keys":      strs("A list's keys, in order."),
		"state":     withDesc(openapi3.NewBoolSchema(), "Operational state (config false)."),
		"mandatory": withDesc(openapi3.NewBoolSchema(), "A mandatory leaf."),
		"type":      str("A leaf's built-in YANG type (a leafref's target's): string, int, uint, boolean, enumeration, decimal64, empty, binary, bits, identityref, union, instance-identifier."),
	}, "name", "kind")
	node.Description = "A node of a model set's tree, as much as a client needs to build paths and type values (the server checks every restriction)."
	b.addSchema(schemaModelTreeNode, node)
	children := openapi3.NewArraySchema()
	children.Items = b.ref(schemaModelTreeNode)
	node.Properties["children"] = &openapi3.SchemaRef{Value: children}

	module := obj(map[string]*openapi3.Schema{
		"name": str("Module name."), "revision": str("Newest revision."),
		"namespace": str("XML namespace."), "organization": str("Organization."),
	}, "name")
	modules := openapi3.NewArraySchema()
	modules.Items = &openapi3.SchemaRef{Value: module}
	scope := openapi3.NewStringSchema().WithEnum(string(schema.ScopeTenant), string(schema.ScopeGlobal))
	scope.Description = "tenant: objects live under an enterprise, /{rest-prefix}/v{version}/{" + tenant.IDField + "}/…; global: they are the operator's, /{rest-prefix}/v{version}/…."
	renames := openapi3.NewObjectSchema()
	renames.AdditionalProperties = openapi3.AdditionalProperties{Schema: &openapi3.SchemaRef{Value: openapi3.NewStringSchema()}}
	renames.Description = "Old schema path (e.g. rack/height) to new (rack/units), inside one object."
	migrateFrom := openapi3.NewArraySchema()
	migrateFrom.Items = &openapi3.SchemaRef{Value: obj(map[string]*openapi3.Schema{
		"version": str("The older version migrated from."), "rename": renames,
	}, "version")}
	version := obj(map[string]*openapi3.Schema{
		"name":           str("The set's name."),
		"version":        str("The version (REST paths carry it as v{version})."),
		"scope":          scope,
		"rest-prefix":    str("First segment of the set's REST paths."),
		"gnmi-origin":    str("Origin of the set's gNMI paths."),
		"openapi-prefix": str("Put before the set's schema names in this document (empty: bare names)."),
		"cli-name":       str("The set's name in the CLI's short paths."),
		"compat":         strs("Compatibility rule sets that apply to this set only (" + b.layerNames() + ")."),
		"migrate-from":   withDesc(migrateFrom, "Declared migrations from older versions of the set (POST /models/{set}/migrate)."),
		"modules":        withDesc(modules, "The set's YANG modules."),
	}, "name", "version", "scope", "rest-prefix", "gnmi-origin", "openapi-prefix", "cli-name", "modules")
	version.Properties["tree"] = b.ref(schemaModelTreeNode)
	version.Description = "One loaded version of a model set: its descriptor (modelset.yaml), modules and, with tree=true, its tree."
	b.addSchema(schemaModelSetVersion, version)
	versions := openapi3.NewArraySchema()
	versions.Items = b.ref(schemaModelSetVersion)
	right := obj(map[string]*openapi3.Schema{
		"role":       str("operator, enterprise-admin, enterprise-member, state-writer, suspended or agent."),
		"enterprise": str("The enterprise an enterprise role is held on."),
		"cluster":    str("The cluster the agent role is held on."),
	}, "role")
	rights := openapi3.NewArraySchema()
	rights.Items = &openapi3.SchemaRef{Value: right}
	acc := openapi3.NewArraySchema()
	acc.Items = &openapi3.SchemaRef{Value: obj(map[string]*openapi3.Schema{
		"path":  str("The path asked about."),
		"read":  withDesc(openapi3.NewBoolSchema(), "The policy lets the caller read it."),
		"write": withDesc(openapi3.NewBoolSchema(), "The policy lets the caller write it."),
	}, "path", "read", "write")}
	b.addSchema(schemaWhoami, withDesc(obj(map[string]*openapi3.Schema{
		"name":   str("The principal's name."),
		"via":    str("How it authenticated: token, oidc or mtls."),
		"rights": withDesc(rights, "The rights the policy decides on."),
		"access": withDesc(acc, "One entry per path asked about, in order."),
	}, "name", "via", "rights", "access"), "The caller, and what it may do."))
	b.addSchema(schemaModelSet, withDesc(obj(map[string]*openapi3.Schema{
		"name":     str("The set's name."),
		"versions": withDesc(versions, "Its loaded versions."),
	}, "name", "versions"), "A loaded model set."))
}
