package openapi

import (
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/schema"
)

// A compatibility layer (internal/api/compat) documents its routes and
// schemas itself, through specBuilder; the builder applies what it says
// about the shared parts (the problem's message, 422, the document's info,
// tag descriptions, a member of its sets' entries).

// info sets the document's version and description: the first layer's
// that gives them, else AMP's own.
func (b *builder) info() {
	b.doc.Info.Version = b.layerText(func(s *compat.Spec) string { return s.InfoVersion }, "1")
	b.doc.Info.Description = b.layerText(func(s *compat.Spec) string { return s.InfoDescription },
		"REST API of AMP, a control and management platform for edge clouds. "+
			"The model paths and schemas of this document are generated from the YANG models "+
			"when the server starts, so they always match the loaded models.")
}

// layerText is the first layer's text that field gives, else def.
func (b *builder) layerText(field func(*compat.Spec) string, def string) string {
	for _, l := range b.layers {
		if t := field(l.Spec); t != "" {
			return t
		}
	}
	return def
}

// layerNames lists the layers of the loaded sets ("none" without).
func (b *builder) layerNames() string {
	var names []string
	for _, l := range b.layers {
		names = append(names, l.Name)
	}
	if len(names) == 0 {
		return "none loaded"
	}
	return strings.Join(names, ", ")
}

// layerPaths adds every layer's routes, for the sets that name it, and
// their tag descriptions. They come before the fixed paths, so a layer's
// description of a shared tag stands.
func (b *builder) layerPaths() {
	for _, l := range b.layers {
		for tag, desc := range l.Spec.TagDescriptions {
			b.tagSet[tag] = desc
		}
		if l.Spec.Paths == nil {
			continue
		}
		var sets []*schema.ModelSet
		for _, set := range b.sch.Sets {
			if set.HasCompat(l.Name) {
				sets = append(sets, set)
			}
		}
		l.Spec.Paths(specBuilder{b}, sets)
	}
}

// entryMembers adds the members the layers of n's set give every list
// entry.
func (b *builder) entryMembers(n *schema.Node, s *openapi3.Schema) {
	for _, l := range compat.Of(b.layers, n.Set) {
		if l.Spec.EntryMember != "" {
			s.Properties[l.Spec.EntryMember] = b.ref(l.Spec.EntryMemberSchema)
		}
	}
}

// transactionPaging are the query parameters of a transaction listing.
func (b *builder) transactionPaging() openapi3.Parameters {
	qp := func(name, desc string, s *openapi3.Schema) *openapi3.ParameterRef {
		p := openapi3.NewQueryParameter(name).WithSchema(s)
		p.Description = desc
		return &openapi3.ParameterRef{Value: p}
	}
	return openapi3.Parameters{
		b.paramRef(ParamLimit),
		qp("before", "Only transactions with an index lower than this (paging backwards).", openapi3.NewInt64Schema().WithMin(1)),
		qp("enterprise", "Only transactions that touched this enterprise.", openapi3.NewStringSchema()),
	}
}

// specBuilder lends the builder to a layer (compat.SpecBuilder).
type specBuilder struct{ b *builder }

var _ compat.SpecBuilder = specBuilder{}

func (s specBuilder) Doc() *openapi3.T                            { return s.b.doc }
func (s specBuilder) AddSchema(name string, sc *openapi3.Schema)  { s.b.addSchema(name, sc) }
func (s specBuilder) Ref(name string) *openapi3.SchemaRef         { return s.b.ref(name) }
func (s specBuilder) Tag(name, desc string) string                { return s.b.tag(name, desc) }
func (s specBuilder) OpID(id string) string                       { return s.b.opID(id) }
func (s specBuilder) ParamRef(name string) *openapi3.ParameterRef { return s.b.paramRef(name) }
func (s specBuilder) TxnHeaders() openapi3.Parameters             { return s.b.txnHeaders() }
func (s specBuilder) CommittedHeaders() openapi3.Headers          { return s.b.committedHeaders() }
func (s specBuilder) TxnOrDryRun(committed string) *openapi3.SchemaRef {
	return s.b.txnOrDryRun(committed)
}
func (s specBuilder) TransactionPaging() openapi3.Parameters { return s.b.transactionPaging() }
func (s specBuilder) Entry(n *schema.Node) (string, string)  { return s.b.full[n], s.b.del[n] }

func (s specBuilder) Problem(status int) *openapi3.ResponseRef {
	return s.b.respRef(problemResponses[status])
}

func (s specBuilder) Errors(op *openapi3.Operation, write, history bool) {
	s.b.errors(op, write, history)
}
