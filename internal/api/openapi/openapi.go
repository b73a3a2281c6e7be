// Package openapi generates the OpenAPI 3.0.3 document that describes AMP's
// REST API from the loaded YANG schema.
//
// The document is built once at start-up (Build) and served by GET /spec. The
// model part (one set of paths and component schemas per model set) is
// derived from the schema tree; the rest of the API (transactions, diff,
// watch, enterprises, admin, health) is described by hand in fixed.go, and
// a compatibility layer describes its own (layers.go). docs/openapi.md
// describes the naming scheme and the type mapping.
package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/yaml"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/tenant"
)

// Media types used by the API.
const (
	mtJSON       = "application/json"
	mtMergePatch = "application/merge-patch+json"
	mtProblem    = "application/problem+json"
	mtNDJSON     = "application/x-ndjson"
	mtYAML       = "application/yaml"
	mtText       = "text/plain"
)

// Names of the reusable components the generated paths refer to. The REST
// implementation must use the same query parameter and header names.
const (
	ParamLimit        = "limit"
	ParamContinue     = "continue"
	ParamFilter       = "filter"
	ParamSort         = "sort"
	ParamAt           = "at"
	ParamWithDefaults = "with-defaults"
	ParamDryRun       = "dry-run"
	ParamEnterpriseID = tenant.IDField

	HeaderIfMatch   = "If-Match"
	HeaderETag      = "ETag"
	HeaderTxnIndex  = "X-AMP-Transaction-Index"
	HeaderTxnID     = "X-AMP-Transaction-Id"
	HeaderIndex     = "X-AMP-Index"
	HeaderSource    = "X-AMP-Source"
	HeaderMessage   = "X-AMP-Message"
	HeaderContinue  = "X-AMP-Continue"
	SecuritySchemeB = "bearerAuth"
)

// Build returns the OpenAPI document for every model set in sch. version is
// the AMP build version, recorded in info.x-amp-build.
func Build(sch *schema.Schema, version string) (*openapi3.T, error) {
	if sch == nil || len(sch.Sets) == 0 {
		return nil, fmt.Errorf("openapi: no model sets loaded")
	}
	layers, err := compat.For(sch)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	b := newBuilder(sch)
	for _, l := range layers {
		if l.Spec != nil {
			b.layers = append(b.layers, l)
		}
	}
	b.info()
	b.doc.Info.Extensions = map[string]any{"x-amp-build": version}
	b.fixedComponents()
	for _, set := range namingOrder(sch.Sets) {
		b.nameSet(set)
	}
	for _, set := range namingOrder(sch.Sets) {
		b.nameDeleteVariants(set)
	}
	for _, set := range sch.Sets {
		if err := b.modelSet(set); err != nil {
			return nil, err
		}
	}
	b.layerPaths()
	b.fixedPaths()
	b.serversAndOperations()
	b.doc.Tags = b.tags()
	return b.doc, nil
}

// JSON renders doc as indented JSON with object keys sorted, so equal
// documents give equal bytes.
func JSON(doc *openapi3.T) ([]byte, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	// Re-encode: sorted keys (maps), no HTML escaping, stable indentation.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// YAML renders doc as YAML (for GET /spec?format=yaml).
func YAML(doc *openapi3.T) ([]byte, error) {
	j, err := JSON(doc)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(j)
}

// builder holds the document under construction and the name registries
// that keep component names and operation ids unique.
type builder struct {
	sch   *schema.Schema
	doc   *openapi3.T
	names map[string]bool // component schema names in use
	opIDs map[string]bool
	// Component schema name of each list entry / container, full and
	// delete variant.
	full, del map[*schema.Node]string
	tagSet    map[string]string // tag name -> description
	// layers are the compatibility layers of the loaded sets that
	// document themselves (compat.Layer.Spec).
	layers []compat.Layer
}

func newBuilder(sch *schema.Schema) *builder {
	comps := openapi3.NewComponents()
	comps.Schemas = openapi3.Schemas{}
	comps.Parameters = openapi3.ParametersMap{}
	comps.Responses = openapi3.ResponseBodies{}
	comps.Headers = openapi3.Headers{}
	comps.SecuritySchemes = openapi3.SecuritySchemes{
		SecuritySchemeB: {Value: openapi3.NewJWTSecurityScheme().
			WithBearerFormat("opaque").
			WithDescription("Every request except /healthz and /readyz needs `Authorization: Bearer <token>`.")},
	}
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{
			Title: "AMP API",
		},
		Paths:      openapi3.NewPaths(),
		Components: &comps,
		Security:   openapi3.SecurityRequirements{{SecuritySchemeB: []string{}}},
	}
	return &builder{
		sch: sch, doc: doc,
		names: map[string]bool{}, opIDs: map[string]bool{},
		full: map[*schema.Node]string{}, del: map[*schema.Node]string{},
		tagSet: map[string]string{},
	}
}

// unique returns name, or name_2, name_3, ... if taken, and records it.
func unique(used map[string]bool, name string) string {
	n := name
	for i := 2; used[n]; i++ {
		n = fmt.Sprintf("%s_%d", name, i)
	}
	used[n] = true
	return n
}

// addSchema registers a component schema under a fixed name.
func (b *builder) addSchema(name string, s *openapi3.Schema) {
	if b.names[name] && b.doc.Components.Schemas[name] != nil {
		panic("openapi: duplicate component schema " + name)
	}
	b.names[name] = true
	b.doc.Components.Schemas[name] = &openapi3.SchemaRef{Value: s}
}

// ref returns a reference to a component schema (with its value attached,
// which kin-openapi's validation needs).
func (b *builder) ref(name string) *openapi3.SchemaRef {
	sr := b.doc.Components.Schemas[name]
	if sr == nil {
		panic("openapi: reference to undefined component schema " + name)
	}
	return &openapi3.SchemaRef{Ref: "#/components/schemas/" + name, Value: sr.Value}
}

func (b *builder) paramRef(name string) *openapi3.ParameterRef {
	return &openapi3.ParameterRef{Ref: "#/components/parameters/" + name, Value: b.doc.Components.Parameters[name].Value}
}

func (b *builder) respRef(name string) *openapi3.ResponseRef {
	return &openapi3.ResponseRef{Ref: "#/components/responses/" + name, Value: b.doc.Components.Responses[name].Value}
}

func (b *builder) headerRef(name string) *openapi3.HeaderRef {
	return &openapi3.HeaderRef{Ref: "#/components/headers/" + name, Value: b.doc.Components.Headers[name].Value}
}

func (b *builder) opID(id string) string { return unique(b.opIDs, id) }

func (b *builder) tag(name, desc string) string {
	if _, ok := b.tagSet[name]; !ok || b.tagSet[name] == "" {
		b.tagSet[name] = desc
	}
	return name
}

func (b *builder) tags() openapi3.Tags {
	names := make([]string, 0, len(b.tagSet))
	for n := range b.tagSet {
		names = append(names, n)
	}
	sort.Strings(names)
	var out openapi3.Tags
	for _, n := range names {
		out = append(out, &openapi3.Tag{Name: n, Description: b.tagSet[n]})
	}
	return out
}

// pascal converts a YANG identifier to PascalCase: the hyphen-separated
// parts are capitalised and joined ("device-group" -> "DeviceGroup",
// "core-4g" -> "Core4g"). Other characters are kept.
func pascal(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(part[1:])
	}
	return b.String()
}

// oneLine collapses the whitespace of a YANG description.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func joinDesc(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			if !strings.HasSuffix(p, ".") && !strings.HasSuffix(p, ":") {
				p += "."
			}
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func ptr[T any](v T) *T { return &v }
