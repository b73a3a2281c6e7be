package openapi

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/schema"
)

// Component schema naming (see docs/openapi.md):
//
//   - every container and list entry gets the PascalCase form of each element
//     of its schema path, joined by "_": /site -> Site, /site/device-group/mbr
//     -> Site_DeviceGroup_Mbr (the convention the first REST clients knew);
//   - a set whose descriptor has an OpenAPI prefix puts it and "_" before
//     every name (Workload_Deployment); a set with an empty prefix keeps
//     its names bare whatever other sets are loaded;
//   - when several versions of one set are loaded, every version but the
//     newest also gets "v<version>_" (Lab_v1.0.0_Rack), so the newest keeps
//     the names clients know;
//   - the variant with only its keys required (a compatibility layer's
//     bulk deletes) is the same name plus "_Delete";
//   - a name already taken (by the fixed schemas of fixed.go, or by an earlier
//     node) gets "_2", "_3", ... appended. Sets without a prefix are named
//     first, so a prefixed set never takes one of their names.
//
// Names are assigned in one pass over the sets and each tree in schema
// order, so they are deterministic.

func (b *builder) setPrefix(set *schema.ModelSet) string {
	prefix := ""
	if set.OpenAPIPrefix != "" {
		prefix = set.OpenAPIPrefix + "_"
	}
	if newest := b.sch.Set(set.Name, ""); newest != set {
		prefix += "v" + strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
				return r
			}
			return '_'
		}, set.Version) + "_"
	}
	return prefix
}

// namingOrder is the order sets are named in: those without a prefix first.
func namingOrder(sets []*schema.ModelSet) []*schema.ModelSet {
	out := append([]*schema.ModelSet(nil), sets...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].OpenAPIPrefix == "" && out[j].OpenAPIPrefix != "" })
	return out
}

func isObjectSchema(n *schema.Node) bool { return n.Kind == schema.Container || n.Kind == schema.List }

func (b *builder) nameSet(set *schema.ModelSet) {
	prefix := b.setPrefix(set)
	var walk func(n *schema.Node, base string)
	walk = func(n *schema.Node, base string) {
		for _, c := range n.Children {
			if !isObjectSchema(c) {
				continue
			}
			name := pascal(c.Name)
			if base != "" {
				name = base + "_" + name
			}
			b.full[c] = unique(b.names, prefix+name)
			walk(c, name)
		}
	}
	walk(set.Root, "")
}

func (b *builder) nameDeleteVariants(set *schema.ModelSet) {
	set.Root.Walk(func(n *schema.Node) {
		if isObjectSchema(n) && n.Config {
			b.del[n] = unique(b.names, b.full[n]+"_Delete")
		}
	})
}

// buildSchemas adds the component schemas of n's subtree, children first so
// that references always find their target.
func (b *builder) buildSchemas(n *schema.Node) {
	for _, c := range n.Children {
		if isObjectSchema(c) {
			b.buildSchemas(c)
		}
	}
	if !isObjectSchema(n) {
		return
	}
	b.addSchema(b.full[n], b.objectSchema(n, false))
	if n.Config {
		b.addSchema(b.del[n], b.objectSchema(n, true))
	}
}

func (b *builder) nameOf(n *schema.Node, del bool) string {
	if del {
		return b.del[n]
	}
	return b.full[n]
}

// objectSchema is the schema of a list entry or container. del selects the
// Deletes variant: config nodes only, keys the only required members.
func (b *builder) objectSchema(n *schema.Node, del bool) *openapi3.Schema {
	s := openapi3.NewObjectSchema()
	s.AdditionalProperties = openapi3.AdditionalProperties{Has: ptr(false)}
	var what string
	if n.Kind == schema.List {
		what = fmt.Sprintf("An entry of list %s (key: %s).", n.SchemaPath(), strings.Join(n.Keys, ", "))
	} else {
		what = fmt.Sprintf("Container %s.", n.SchemaPath())
		if n.Presence {
			what = fmt.Sprintf("Presence container %s.", n.SchemaPath())
		}
	}
	var extra string
	if del {
		extra = "Deletes variant: only the keys are required; every other member present is deleted."
	}
	if !n.Config {
		extra = "Operational state (config false): read-only."
		s.ReadOnly = true
	}
	s.Description = joinDesc(oneLine(n.Description), what, extra)
	for _, c := range n.Children {
		if del && !c.Config {
			continue
		}
		switch c.Kind {
		case schema.Leaf:
			s.Properties[c.Name] = &openapi3.SchemaRef{Value: b.leafSchema(c)}
		case schema.LeafList:
			arr := openapi3.NewArraySchema()
			item, _ := b.valueSchema(c)
			arr.Items = &openapi3.SchemaRef{Value: item}
			arr.UniqueItems = c.Config
			arr.ReadOnly = !c.Config
			arr.Description = b.leafDescription(c)
			if d := defaultValue(c); d != nil {
				arr.Default = d
			}
			s.Properties[c.Name] = &openapi3.SchemaRef{Value: arr}
		case schema.Container:
			s.Properties[c.Name] = b.ref(b.nameOf(c, del))
		case schema.List:
			arr := openapi3.NewArraySchema()
			arr.Items = b.ref(b.nameOf(c, del))
			arr.Description = joinDesc(oneLine(c.Description), fmt.Sprintf("List %s, keyed by %s", c.SchemaPath(), strings.Join(c.Keys, ", ")))
			arr.ReadOnly = !c.Config
			s.Properties[c.Name] = &openapi3.SchemaRef{Value: arr}
		}
		if c.IsKey() || (!del && required(c)) {
			s.Required = append(s.Required, c.Name)
		}
	}
	if n.Kind == schema.List {
		b.entryMembers(n, s)
	}
	return s
}

// required reports whether a member must be present in a valid entry: a
// mandatory leaf, or a non-presence container holding a mandatory leaf (YANG
// RFC 7950 section 3: such a container must then exist).
func required(n *schema.Node) bool {
	switch n.Kind {
	case schema.Leaf:
		return n.Mandatory
	case schema.Container:
		if n.Presence {
			return false
		}
		for _, c := range n.Children {
			if (c.Kind == schema.Leaf || c.Kind == schema.Container) && required(c) {
				return true
			}
		}
	}
	return false
}

// leafSchema is the JSON schema of a leaf's value, with its description,
// default and read-only flag.
func (b *builder) leafSchema(n *schema.Node) *openapi3.Schema {
	s, _ := b.valueSchema(n)
	s.Description = b.leafDescription(n)
	if d := defaultValue(n); d != nil {
		s.Default = d
	}
	s.ReadOnly = !n.Config
	return s
}

// valueSchema is the schema of one value of a leaf or leaf-list. Where the
// model allows the legacy decimal form (sd, sst), the schema stays the hex
// string, so generated clients get a plain string field; the server still
// accepts the number on input, as the description and x-amp-legacy-decimal
// say.
func (b *builder) valueSchema(n *schema.Node) (*openapi3.Schema, []string) {
	s, notes := typeSchema(n.Type)
	if n.LegacyDecimal {
		s.Extensions = map[string]any{"x-amp-legacy-decimal": true}
		notes = append(notes, "Legacy clients may send a decimal number (a JSON integer) instead of the hex string; the server accepts it on input, stores and returns the hex string")
	}
	return s, notes
}

func (b *builder) leafDescription(n *schema.Node) string {
	_, notes := b.valueSchema(n)
	parts := []string{oneLine(n.Description)}
	parts = append(parts, notes...)
	if n.Units != "" {
		parts = append(parts, "Units: "+n.Units)
	}
	if n.Immutable {
		parts = append(parts, "Immutable: may be set when the entry is created and never changed afterwards")
	}
	if r := n.Ref; r != nil {
		parts = append(parts, fmt.Sprintf("Reference to %s of model set %s %s (%s, ampx:refers-to %q); GET .../values lists the valid choices",
			r.Key.SchemaPath(), r.Set.Name, r.Set.Version, refWhere(n), r.Source))
	}
	return joinDesc(parts...)
}

// jsonKind is the JSON type a YANG type's values take.
func jsonKind(t *schema.Type) string {
	switch t.Base {
	case schema.TInt, schema.TUint:
		return "integer"
	case schema.TDecimal:
		return "number"
	case schema.TBool:
		return "boolean"
	case schema.TEmpty:
		return "array"
	case schema.TLeafref:
		if t.Target != nil {
			return jsonKind(t.Target.Type)
		}
	case schema.TUnion:
		k := ""
		for _, m := range t.Union {
			mk := jsonKind(m)
			if k != "" && mk != k {
				return "mixed"
			}
			k = mk
		}
		return k
	}
	return "string"
}

// typeSchema maps a YANG type to a JSON schema (docs/openapi.md has the
// table). The notes are sentences for the description.
func typeSchema(t *schema.Type) (*openapi3.Schema, []string) {
	var notes []string
	switch t.Base {
	case schema.TLeafref:
		if t.Target == nil {
			return openapi3.NewStringSchema(), []string{"Leafref " + t.LeafrefPath}
		}
		s, inner := typeSchema(t.Target.Type)
		notes = append(notes, fmt.Sprintf("Reference to %s (leafref path %q); GET .../values lists the valid choices", t.Target.SchemaPath(), t.LeafrefPath))
		for _, n := range inner {
			if !strings.HasPrefix(n, "Reference to ") { // a leafref to a leafref: name the first hop only
				notes = append(notes, n)
			}
		}
		return s, notes
	case schema.TUnion:
		if jsonKind(t) == "string" {
			// Members may overlap, so no oneOf; the server checks them.
			return openapi3.NewStringSchema(), []string{"A string of one of the types " + strings.Join(unionMembers(t), " | ") + " (the server checks each member's restrictions)"}
		}
		var members []*openapi3.Schema
		for _, m := range t.Union {
			ms, mnotes := typeSchema(m)
			if ms.Description == "" {
				ms.Description = joinDesc(mnotes...)
			}
			members = append(members, ms)
		}
		s := openapi3.NewAnyOfSchema(members...)
		return s, []string{"Union: the first member type that fits the value is used"}
	case schema.TString:
		s := openapi3.NewStringSchema()
		if lo, hi, ok := bounds(t.Lengths); ok {
			if lo != nil && lo.Sign() > 0 {
				s.MinLength = ratUint(lo)
			}
			if hi != nil {
				s.MaxLength = ptr(ratUint(hi))
			}
			if len(t.Lengths) > 1 {
				notes = append(notes, "Length "+rangesText(t.Lengths))
			}
		}
		for i, re := range t.Patterns {
			p := ecmaPattern(re.String())
			if i == 0 {
				s.Pattern = p
				continue
			}
			s.AllOf = append(s.AllOf, &openapi3.SchemaRef{Value: &openapi3.Schema{Pattern: p}})
		}
		return s, notes
	case schema.TInt, schema.TUint:
		s := openapi3.NewIntegerSchema()
		if lo, hi, ok := bounds(t.Ranges); ok {
			if lo != nil {
				s.Min = ptr(ratFloat(lo))
			}
			if hi != nil {
				s.Max = ptr(ratFloat(hi))
			}
			if len(t.Ranges) > 1 {
				notes = append(notes, "Range "+rangesText(t.Ranges))
			}
		}
		if t.Bits == 64 {
			// Bounds at the type's full width are left out: they are not
			// exact as JSON Schema numbers (float64).
			lo, hi := widthBounds(t.Base, 64)
			if s.Min != nil && *s.Min <= lo {
				s.Min = nil
			}
			if s.Max != nil && *s.Max >= hi {
				s.Max = nil
			}
			s.Format = "int64"
			if s.Min == nil && t.Base == schema.TUint {
				s.Min = ptr(0.0)
			}
			notes = append(notes, "A 64-bit integer: the server also accepts it as a decimal string (RFC 7951)")
		} else {
			lo, hi := widthBounds(t.Base, t.Bits)
			if s.Min == nil {
				s.Min = ptr(lo)
			}
			if s.Max == nil {
				s.Max = ptr(hi)
			}
		}
		return s, notes
	case schema.TDecimal:
		s := openapi3.NewFloat64Schema()
		s.Format = ""
		if lo, hi, ok := bounds(t.Ranges); ok {
			if lo != nil {
				s.Min = ptr(ratFloat(lo))
			}
			if hi != nil {
				s.Max = ptr(ratFloat(hi))
			}
		}
		notes = append(notes, fmt.Sprintf("decimal64 with %d fraction digits", t.Fraction))
		return s, notes
	case schema.TBool:
		return openapi3.NewBoolSchema(), nil
	case schema.TEnum:
		s := openapi3.NewStringSchema()
		for _, e := range t.Enums {
			s.Enum = append(s.Enum, e)
		}
		return s, nil
	case schema.TBits:
		return openapi3.NewStringSchema(), []string{"Bits: space-separated names from " + strings.Join(t.Enums, ", ")}
	case schema.TBinary:
		return openapi3.NewBytesSchema(), []string{"Binary, base64 encoded"}
	case schema.TIdentityref:
		if len(t.Identities) > 0 {
			notes = append(notes, "Identity, optionally module-qualified (module:identity), one of "+strings.Join(t.Identities, ", "))
		}
		return openapi3.NewStringSchema(), notes
	case schema.TEmpty:
		s := openapi3.NewArraySchema()
		s.MinItems = 1
		s.MaxItems = ptr(uint64(1))
		s.Items = &openapi3.SchemaRef{Value: &openapi3.Schema{Nullable: true, Enum: []any{nil}}}
		return s, []string{"Type empty: present as [null]"}
	case schema.TInstanceID:
		return openapi3.NewStringSchema(), []string{"Instance identifier"}
	}
	return openapi3.NewStringSchema(), nil
}

// unionMembers names the member types of a union, nested unions flattened.
func unionMembers(t *schema.Type) []string {
	var out []string
	for _, m := range t.Union {
		if m.Base == schema.TUnion {
			out = append(out, unionMembers(m)...)
			continue
		}
		out = append(out, m.Name)
	}
	return out
}

// ecmaPattern turns a compiled pattern (^(?:p)$, see schema) back into an
// explicitly anchored ECMA-262 pattern: OpenAPI patterns are not anchored
// implicitly as XSD ones are.
func ecmaPattern(compiled string) string {
	p := strings.TrimSuffix(strings.TrimPrefix(compiled, "^(?:"), ")$")
	return "^(?:" + p + ")$"
}

// bounds returns the overall minimum and maximum of a set of ranges (nil =
// unbounded on that side). Ranges are read back from their text form.
func bounds[R fmt.Stringer](rs []R) (lo, hi *big.Rat, ok bool) {
	if len(rs) == 0 {
		return nil, nil, false
	}
	for i, r := range rs {
		rlo, rhi := parseRange(r.String())
		if i == 0 {
			lo, hi = rlo, rhi
			continue
		}
		if lo != nil && (rlo == nil || rlo.Cmp(lo) < 0) {
			lo = rlo
		}
		if hi != nil && (rhi == nil || rhi.Cmp(hi) > 0) {
			hi = rhi
		}
	}
	return lo, hi, true
}

func parseRange(s string) (lo, hi *big.Rat) {
	a, c, isRange := strings.Cut(s, "..")
	if !isRange {
		c = a
	}
	parse := func(x string) *big.Rat {
		if x == "" {
			return nil
		}
		r, ok := new(big.Rat).SetString(x)
		if !ok {
			return nil
		}
		return r
	}
	return parse(a), parse(c)
}

func rangesText[R fmt.Stringer](rs []R) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return strings.Join(out, " | ")
}

func ratFloat(r *big.Rat) float64 {
	f, _ := r.Float64()
	return f
}

func ratUint(r *big.Rat) uint64 {
	if r.Sign() <= 0 {
		return 0
	}
	f, _ := r.Float64()
	return uint64(f)
}

func widthBounds(base schema.Base, bits int) (lo, hi float64) {
	if base == schema.TUint {
		if bits == 64 {
			return 0, math.MaxUint64
		}
		return 0, float64(uint64(1)<<bits - 1)
	}
	return float64(int64(-1) << (bits - 1)), float64(int64(1)<<(bits-1) - 1)
}

// defaultValue converts a leaf's YANG default to the JSON value.
func defaultValue(n *schema.Node) any {
	if len(n.Default) == 0 {
		return nil
	}
	conv := func(s string) any {
		v, err := n.Type.Parse(s)
		if err != nil {
			return s
		}
		// kin-openapi checks defaults against the schema and handles
		// float64 numbers, as encoding/json decodes them.
		switch x := v.(type) {
		case int64:
			return float64(x)
		case uint64:
			return float64(x)
		case bool:
			return x
		case string:
			if jsonKind(n.Type) == "number" {
				if f, err := strconv.ParseFloat(x, 64); err == nil {
					return f
				}
			}
			return x
		case schema.Empty:
			return []any{nil}
		}
		return s
	}
	if n.Kind == schema.LeafList {
		out := make([]any, 0, len(n.Default))
		for _, d := range n.Default {
			out = append(out, conv(d))
		}
		return out
	}
	return conv(n.Default[0])
}
