package compat

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/schema"
)

// Spec is how a layer documents itself in the OpenAPI document
// (internal/api/openapi): its schemas, its routes and what it changes in
// the shared parts. Every field is optional.
type Spec struct {
	// Reserve are the component schema names the layer adds after the
	// model schemas are named, so a model node never takes one of them.
	Reserve []string
	// Components adds the layer's schemas before the model schemas are
	// built (EntryMember may refer to one of them).
	Components func(b SpecBuilder)
	// EntryMember is a member every list entry schema of the layer's sets
	// gets, referring to the component schema EntryMemberSchema.
	EntryMember, EntryMemberSchema string
	// Paths adds the layer's routes once the model schemas exist; sets
	// are the loaded sets that name the layer.
	Paths func(b SpecBuilder, sets []*schema.ModelSet)
	// ProblemMessage describes the problem's "message" member
	// (Layer.ProblemMessage); Unprocessable describes answer 422.
	ProblemMessage, Unprocessable string
	// InfoVersion and InfoDescription replace the document's version and
	// description.
	InfoVersion, InfoDescription string
	// TagDescriptions replace the descriptions of the document's tags.
	TagDescriptions map[string]string
}

// SpecBuilder is what the OpenAPI builder lends a layer: the document and
// the registries that keep its names unique and its answers alike.
type SpecBuilder interface {
	Doc() *openapi3.T
	AddSchema(name string, s *openapi3.Schema)
	Ref(name string) *openapi3.SchemaRef
	// Tag names an operation's tag (desc: its description, "" to keep
	// the one it has).
	Tag(name, desc string) string
	OpID(id string) string
	ParamRef(name string) *openapi3.ParameterRef
	// TxnHeaders are a write's optional request headers; CommittedHeaders
	// a committed write's response headers; TxnOrDryRun the 200 body of a
	// write that may be a dry run (committed: its schema).
	TxnHeaders() openapi3.Parameters
	CommittedHeaders() openapi3.Headers
	TxnOrDryRun(committed string) *openapi3.SchemaRef
	// Errors adds the problem responses of an operation (write: 412 and
	// 422 too; history: 410 too).
	Errors(op *openapi3.Operation, write, history bool)
	// Problem is the problem response of a status the document describes
	// (400, 401, 403, 404, 409, 410, 412, 422, 500, 503), for an operation
	// whose answers differ from Errors'.
	Problem(status int) *openapi3.ResponseRef
	// Entry returns the component schema names of a list entry: whole, and
	// the variant with only its keys required.
	Entry(n *schema.Node) (full, keysOnly string)
	// TransactionPaging are the query parameters of a transaction listing.
	TransactionPaging() openapi3.Parameters
}

// Obj is an object schema of props that refuses other members.
func Obj(props map[string]*openapi3.Schema, required ...string) *openapi3.Schema {
	s := openapi3.NewObjectSchema()
	no := false
	s.AdditionalProperties = openapi3.AdditionalProperties{Has: &no}
	for k, v := range props {
		s.Properties[k] = &openapi3.SchemaRef{Value: v}
	}
	s.Required = required
	return s
}

// Str is a string schema with a description.
func Str(desc string) *openapi3.Schema { return Described(openapi3.NewStringSchema(), desc) }

// I64 is an int64 schema with a description.
func I64(desc string) *openapi3.Schema { return Described(openapi3.NewInt64Schema(), desc) }

// Described sets a schema's description.
func Described(s *openapi3.Schema, desc string) *openapi3.Schema {
	s.Description = desc
	return s
}
