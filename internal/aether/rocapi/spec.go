package rocapi

import (
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/schema"
)

// The layer's part of the OpenAPI document: the bulk PATCH and its body
// schemas, GET /transactions and its onos-config Transaction, the spec
// documents, the additionalProperties member of the entries, and the
// texts the document had when it described aether-roc-api's API alone.

// Component schema names, as aether-roc-api's generated clients know them;
// SchemaElements and SchemaDeleteElements are the bulk PATCH's Updates and
// Deletes.
const (
	schemaPatchBody       = "PatchBody"
	SchemaElements        = "Elements"
	SchemaDeleteElements  = "DeleteElements"
	schemaAdditionalProps = "AdditionalPropertiesUnchTarget"
	// schemaTxn is onos-config's Transaction as aether-roc-api serves it
	// at GET /transactions (aether-top-level-openapi3.yaml).
	schemaTxn = "Transaction"
	// Names of the generic document this layer refers to.
	schemaTxnID = "TransactionId"
	paramDryRun = "dry-run"
)

var spec = &compat.Spec{
	Reserve:           []string{schemaPatchBody, SchemaElements, SchemaDeleteElements, schemaTxn},
	Components:        specComponents,
	EntryMember:       "additionalProperties",
	EntryMemberSchema: schemaAdditionalProps,
	Paths:             specPaths,
	ProblemMessage:    "The same text as detail, for aether-roc-api clients.",
	Unprocessable:     "The request is understood but cannot be processed (as aether-roc-api, e.g. an id of \"undefined\").",
	InfoVersion:       "2.1.x",
	InfoDescription: "REST API of AMP, the Aether runtime-control platform. " +
		"The model paths and schemas of this document are generated from the YANG models " +
		"when the server starts, so they always match the loaded models. " +
		"The API is compatible with ONF aether-roc-api (same paths, JSON member names and " +
		"schema names, same PATCH /aether-roc-api bulk endpoint), with AMP additions: " +
		"transactions, point-in-time reads, diff, rollback, watch and dry runs.",
	TagDescriptions: map[string]string{"targets": "Configuration targets (enterprises), aether-roc-api style."},
}

func specComponents(b compat.SpecBuilder) {
	b.AddSchema(schemaAdditionalProps, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"unchanged":     compat.Str("Comma-separated names of mandatory members the client deliberately did not send (they keep their current value)."),
		"enterprise-id": compat.Str("The enterprise (target) the entry belongs to, as aether-roc-api reports it."),
	}), "aether-roc-api compatibility member, literally named additionalProperties."))
}

func specPaths(b compat.SpecBuilder, sets []*schema.ModelSet) {
	bulkPatchSpec(b, sets)
	b.AddSchema(schemaTxn, transactionSchema())

	o := &openapi3.Operation{Tags: []string{b.Tag("transactions", "")}, OperationID: b.OpID("getTransactions"),
		Summary:   "List committed transactions in onos-config's shape, oldest first (aether-roc-api)",
		Responses: openapi3.NewResponses()}
	o.Description = "The newest `limit` transactions (default 100, at most 1000) that the caller may see, oldest first, each with its leaf changes per target, as aether-roc-api returns them. AMP's own summaries are GET /amp/transactions."
	o.Parameters = b.TransactionPaging()
	list := openapi3.NewArraySchema()
	list.Items = b.Ref(schemaTxn)
	o.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("The transactions.").WithJSONSchemaRef(&openapi3.SchemaRef{Value: list})})
	b.Errors(o, false, false)
	b.Doc().Paths.Set("/transactions", &openapi3.PathItem{Get: o})

	specDocumentsSpec(b)
}

// specDocumentsSpec documents the OpenAPI document under aether-roc-api's
// names, negotiated by Accept.
func specDocumentsSpec(b compat.SpecBuilder) {
	for _, p := range specDocuments {
		content := openapi3.NewContent()
		content["application/json"] = openapi3.NewMediaType().WithSchema(compat.Described(openapi3.NewObjectSchema(), "This document as JSON (Accept: application/json)."))
		content["application/yaml"] = openapi3.NewMediaType().WithSchema(compat.Described(&openapi3.Schema{}, "This document as YAML (Accept: application/yaml, */* or none)."))
		content["text/html"] = openapi3.NewMediaType().WithSchema(compat.Described(openapi3.NewStringSchema(), "An HTML page showing it (Accept: text/html)."))
		op := &openapi3.Operation{Tags: []string{b.Tag("admin", "")}, OperationID: b.OpID("getSpecDocument"),
			Summary: "This OpenAPI document, where aether-roc-api serves its own", Responses: openapi3.NewResponses()}
		op.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("The document.").WithContent(content)})
		b.Errors(op, false, false)
		b.Doc().Paths.Set(p, &openapi3.PathItem{Get: op})
	}
}

func ptr[T any](v T) *T { return &v }

// rocVersion is the aether-roc-api element suffix for a model set version:
// "2.1.x" -> "2.1.0".
func rocVersion(v string) string {
	parts := strings.Split(v, ".")
	for i, p := range parts {
		if p == "x" {
			parts[i] = "0"
		}
	}
	return strings.Join(parts, ".")
}

// bulkPatchSpec documents PATCH /aether-roc-api, aether-roc-api's bulk
// endpoint, for the sets its rules apply to.
func bulkPatchSpec(b compat.SpecBuilder, sets []*schema.ModelSet) {
	upd, dels := openapi3.NewObjectSchema(), openapi3.NewObjectSchema()
	upd.AdditionalProperties = openapi3.AdditionalProperties{Has: ptr(false)}
	dels.AdditionalProperties = openapi3.AdditionalProperties{Has: ptr(false)}
	var names []string
	for _, set := range sets {
		for _, c := range set.Root.Children {
			if c.Kind != schema.List || !c.Config {
				continue
			}
			el := c.Name + "-" + rocVersion(set.Version)
			if _, dup := upd.Properties[el]; dup {
				continue
			}
			names = append(names, el)
			a := openapi3.NewArraySchema()
			full, keysOnly := b.Entry(c)
			a.Items = b.Ref(full)
			a.Description = fmt.Sprintf("Entries of %s (model set %s %s) to create or merge.", c.SchemaPath(), set.Name, set.Version)
			upd.Properties[el] = &openapi3.SchemaRef{Value: a}
			d := openapi3.NewArraySchema()
			d.Items = b.Ref(keysOnly)
			d.Description = fmt.Sprintf("Entries of %s (model set %s %s) to delete: an entry with only its keys is deleted whole; members present are deleted.", c.SchemaPath(), set.Name, set.Version)
			dels.Properties[el] = &openapi3.SchemaRef{Value: d}
		}
	}
	sort.Strings(names)
	upd.Description = "Model elements, named <top-level list>-<model version>: " + strings.Join(names, ", ") + "."
	dels.Description = "Model elements to delete (key-only variants of the entry schemas)."
	b.AddSchema(SchemaElements, upd)
	b.AddSchema(SchemaDeleteElements, dels)
	ext := openapi3.NewObjectSchema()
	ext.Description = "aether-roc-api extensions (e.g. model-version-101, model-type-102, transaction-info-111); accepted and ignored."
	ext.AdditionalProperties = openapi3.AdditionalProperties{Has: ptr(true)}
	body := compat.Obj(map[string]*openapi3.Schema{
		"default-target": compat.Str("Enterprise (target) for every entry that does not name one in additionalProperties.enterprise-id."),
		"Extensions":     ext,
	})
	body.Properties["Updates"] = b.Ref(SchemaElements)
	body.Properties["Deletes"] = b.Ref(SchemaDeleteElements)
	body.Description = "One transaction: all Updates then all Deletes, committed together or not at all."
	b.AddSchema(schemaPatchBody, body)

	tag := b.Tag("aether-roc-api", "aether-roc-api compatible bulk endpoint.")
	o := &openapi3.Operation{
		Tags: []string{tag}, OperationID: b.OpID("patchAetherRocApi"),
		Summary:     "Apply updates and deletes across models and enterprises in one transaction",
		Description: "The aether-roc-api bulk PATCH. Updates are merged, Deletes removed, all in one transaction.",
		Responses:   openapi3.NewResponses(),
		RequestBody: &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(b.Ref(schemaPatchBody))},
	}
	o.Parameters = append(openapi3.Parameters{b.ParamRef(paramDryRun)}, b.TxnHeaders()...)
	r := openapi3.NewResponse().WithDescription("Committed: the transaction id (with dry-run=true: a DryRunResult).").WithJSONSchemaRef(b.TxnOrDryRun(schemaTxnID))
	r.Headers = b.CommittedHeaders()
	o.Responses.Set("200", &openapi3.ResponseRef{Value: r})
	b.Errors(o, true, false)
	b.Doc().Paths.Set("/"+Name, &openapi3.PathItem{Patch: o})
}

// transactionSchema describes what GET /transactions returns, field for
// field as aether-roc-api renders onos-config's Transaction.
func transactionSchema() *openapi3.Schema {
	enum := func(desc string, vals ...any) *openapi3.Schema {
		return compat.Described(openapi3.NewStringSchema().WithEnum(vals...), desc)
	}
	at := func(desc string) *openapi3.Schema { return compat.Described(openapi3.NewDateTimeSchema(), desc) }
	arr := func(items *openapi3.Schema, desc string) *openapi3.Schema {
		a := openapi3.NewArraySchema()
		a.Items = &openapi3.SchemaRef{Value: items}
		return compat.Described(a, desc)
	}
	times := compat.Obj(map[string]*openapi3.Schema{"start": at("Phase start."), "end": at("Phase end.")})
	phase := func(states ...any) *openapi3.Schema {
		return compat.Obj(map[string]*openapi3.Schema{"state": enum("Phase state.", states...), "status": times})
	}
	typed := compat.Obj(map[string]*openapi3.Schema{
		"value":     compat.Str("The value in onos-config's string form (leaf-lists: comma-separated)."),
		"type":      enum("The value type.", "EMPTY", "STRING", "INT", "UINT", "BOOL", "DECIMAL", "FLOAT", "BYTES", "LEAFLIST_STRING", "LEAFLIST_INT", "LEAFLIST_UINT", "LEAFLIST_BOOL", "LEAFLIST_DECIMAL", "LEAFLIST_FLOAT", "LEAFLIST_BYTES"),
		"type_opts": arr(openapi3.NewInt32Schema(), "Type options (always empty in AMP)."),
	})
	pathValue := compat.Obj(map[string]*openapi3.Schema{
		"path":    compat.Str("gNMI path inside the target."),
		"value":   typed,
		"deleted": compat.Described(openapi3.NewBoolSchema(), "True when the path was deleted."),
	})
	pathTarget := compat.Obj(map[string]*openapi3.Schema{"path": compat.Str("gNMI path inside the target (/site[site-id=s1]/upf[upf-id=u1]/port)."), "path-value": pathValue})
	changeTarget := compat.Obj(map[string]*openapi3.Schema{
		"target-name": compat.Str("The enterprise (target)."),
		"path-values": arr(pathTarget, "Every leaf the transaction set or deleted in this target."),
	})
	return compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"id":    compat.Str("Transaction id."),
		"index": compat.I64("Position in the transaction log."),
		"meta": compat.Obj(map[string]*openapi3.Schema{
			"key":      compat.Str("The transaction id."),
			"version":  compat.I64("The index."),
			"revision": compat.I64("The index."),
			"created":  at("Commit time."),
			"updated":  at("Commit time."),
		}),
		"username": compat.Str("Who made the change."),
		"strategy": compat.Obj(map[string]*openapi3.Schema{
			"synchronicity": enum("Always SYNCHRONOUS: a write is answered once committed.", "ASYNCHRONOUS", "SYNCHRONOUS"),
			"isolation":     enum("Isolation level.", "DEFAULT", "SERIALIZABLE"),
		}),
		"details": compat.Obj(map[string]*openapi3.Schema{
			"change":   arr(changeTarget, "One entry per target changed (never empty)."),
			"rollback": compat.Obj(map[string]*openapi3.Schema{"rollback_index": compat.I64("For a rollback, the index undone; otherwise 0.")}),
		}),
		"status": compat.Obj(map[string]*openapi3.Schema{
			"state":     enum("APPLIED: committed to AMP's store (GET /sync-status says what the backends took).", "PENDING", "VALIDATED", "APPLIED", "FAILED"),
			"proposals": arr(openapi3.NewStringSchema(), "Always empty in AMP."),
			"phases": compat.Obj(map[string]*openapi3.Schema{
				"initialize": phase("INITIALIZING", "INITIALIZED", "FAILED"),
				"validate":   phase("VALIDATING", "VALIDATED", "FAILED"),
				"commit":     phase("COMMITTING", "COMMITTED"),
				"apply":      phase("APPLYING", "APPLIED", "FAILED"),
			}),
		}),
	}, "id", "index", "meta"), "A committed transaction in onos-config's shape, as aether-roc-api's GET /transactions returns it.")
}
