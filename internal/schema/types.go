package schema

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/openconfig/goyang/pkg/yang"
)

// Empty is the value of a leaf of type empty.
type Empty struct{}

// Base is the built-in YANG type a Type reduces to.
type Base int

const (
	TString Base = iota + 1
	TInt
	TUint
	TBool
	TEnum
	TDecimal
	TEmpty
	TBinary
	TBits
	TIdentityref
	TUnion
	TLeafref
	TInstanceID
)

// Type is a resolved leaf type: the built-in base plus every restriction
// inherited through typedefs.
type Type struct {
	Name     string // typedef or built-in name, for messages
	Base     Base
	Bits     int // integer width: 8, 16, 32, 64
	Ranges   []numRange
	Lengths  []numRange
	Patterns []*regexp.Regexp
	patSrc   []string
	Enums    []string
	Fraction int // decimal64 fraction-digits
	Union    []*Type
	// Leafref: the path as written, compiled, and the target leaf once resolved.
	LeafrefPath string
	Leafref     *PathExpr
	Target      *Node
	RequireInst bool
	Identities  []string // identityref: permitted identity names (unqualified)
}

type numRange struct{ min, max *big.Rat }

func (r numRange) contains(v *big.Rat) bool {
	return (r.min == nil || v.Cmp(r.min) >= 0) && (r.max == nil || v.Cmp(r.max) <= 0)
}

// containsInt is contains for an integer (a string's length) without
// rational arithmetic when the bounds are int64s, as lengths are: it runs
// for every key value resolved, e.g. every object of a restored backup.
func (r numRange) containsInt(n int64) bool {
	return (r.min == nil || cmpInt(r.min, n) <= 0) && (r.max == nil || cmpInt(r.max, n) >= 0)
}

// cmpInt compares a bound with n as (*big.Rat).Cmp does.
func cmpInt(bound *big.Rat, n int64) int {
	if bound.IsInt() && bound.Num().IsInt64() {
		return cmp.Compare(bound.Num().Int64(), n)
	}
	return bound.Cmp(new(big.Rat).SetInt64(n))
}

func newType(yt *yang.YangType) (*Type, error) {
	t := &Type{Name: yt.Name}
	switch yt.Kind {
	case yang.Ystring:
		t.Base = TString
	case yang.Yint8, yang.Yint16, yang.Yint32, yang.Yint64:
		t.Base = TInt
		t.Bits = map[yang.TypeKind]int{yang.Yint8: 8, yang.Yint16: 16, yang.Yint32: 32, yang.Yint64: 64}[yt.Kind]
	case yang.Yuint8, yang.Yuint16, yang.Yuint32, yang.Yuint64:
		t.Base = TUint
		t.Bits = map[yang.TypeKind]int{yang.Yuint8: 8, yang.Yuint16: 16, yang.Yuint32: 32, yang.Yuint64: 64}[yt.Kind]
	case yang.Ybool:
		t.Base = TBool
	case yang.Yenum:
		t.Base = TEnum
		t.Enums = yt.Enum.Names()
	case yang.Ydecimal64:
		t.Base = TDecimal
		t.Fraction = yt.FractionDigits
	case yang.Yempty:
		t.Base = TEmpty
	case yang.Ybinary:
		t.Base = TBinary
	case yang.Ybits:
		t.Base = TBits
		t.Enums = yt.Bit.Names()
	case yang.Yidentityref:
		t.Base = TIdentityref
		if yt.IdentityBase != nil {
			for _, v := range yt.IdentityBase.Values {
				t.Identities = append(t.Identities, v.Name)
			}
		}
	case yang.Yunion:
		t.Base = TUnion
		for _, m := range yt.Type {
			mt, err := newType(m)
			if err != nil {
				return nil, err
			}
			t.Union = append(t.Union, mt)
		}
	case yang.Yleafref:
		t.Base = TLeafref
		t.LeafrefPath = yt.Path
		t.RequireInst = !yt.OptionalInstance
		pe, err := ParsePath(yt.Path)
		if err != nil {
			return nil, fmt.Errorf("leafref path %q: %w", yt.Path, err)
		}
		t.Leafref = pe
	case yang.YinstanceIdentifier:
		t.Base = TInstanceID
	default:
		return nil, fmt.Errorf("unsupported YANG type %s", yt.Kind)
	}
	for _, r := range yt.Range {
		t.Ranges = append(t.Ranges, ratRange(r))
	}
	for _, r := range yt.Length {
		t.Lengths = append(t.Lengths, ratRange(r))
	}
	for _, p := range yt.Pattern {
		re, err := compileXSDPattern(p)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		t.Patterns = append(t.Patterns, re)
		t.patSrc = append(t.patSrc, p)
	}
	return t, nil
}

func ratRange(r yang.YRange) numRange {
	return numRange{min: numberRat(r.Min), max: numberRat(r.Max)}
}

func numberRat(n yang.Number) *big.Rat {
	v, ok := new(big.Rat).SetString(n.String())
	if !ok {
		return nil
	}
	return v
}

// compileXSDPattern translates an XSD regular expression (implicitly anchored)
// into Go's RE2. The XSD features our models use are a subset of RE2's; a
// pattern using one that is not fails at load time rather than silently.
func compileXSDPattern(p string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + p + `)$`)
}

// Describe returns a short human description of the type's constraints,
// used in error messages and the OpenAPI document.
func (t *Type) Describe() string {
	var parts []string
	switch t.Base {
	case TEnum:
		return "one of " + strings.Join(t.Enums, ", ")
	case TBool:
		return "true or false"
	case TInt, TUint:
		parts = append(parts, fmt.Sprintf("%s integer", t.Name))
	case TUnion:
		var ms []string
		for _, m := range t.Union {
			ms = append(ms, m.Describe())
		}
		return "one of: " + strings.Join(ms, " | ")
	default:
		parts = append(parts, t.Name)
	}
	for _, r := range t.Ranges {
		parts = append(parts, "range "+r.String())
	}
	for _, r := range t.Lengths {
		parts = append(parts, "length "+r.String())
	}
	for _, p := range t.patSrc {
		parts = append(parts, "pattern "+p)
	}
	return strings.Join(parts, ", ")
}

func (r numRange) String() string {
	s := func(v *big.Rat) string {
		if v == nil {
			return ""
		}
		return v.RatString()
	}
	if r.min != nil && r.max != nil && r.min.Cmp(r.max) == 0 {
		return s(r.min)
	}
	return s(r.min) + ".." + s(r.max)
}

// ValueError is why a value does not fit a type.
type ValueError struct{ Reason string }

func (e *ValueError) Error() string { return e.Reason }

func valErr(format string, args ...any) error {
	return &ValueError{Reason: fmt.Sprintf(format, args...)}
}

// FromJSON converts a decoded JSON value (decoded with UseNumber) into the
// canonical Go value for t, checking every restriction. It accepts the RFC
// 7951 encoding and the plain one (64-bit numbers as JSON numbers).
func (t *Type) FromJSON(v any, legacyDecimal bool) (any, error) {
	switch t.Base {
	case TLeafref:
		if t.Target == nil {
			return nil, valErr("leafref target not resolved")
		}
		return t.Target.Type.FromJSON(v, legacyDecimal)
	case TUnion:
		var reasons []string
		for _, m := range t.Union {
			out, err := m.FromJSON(v, legacyDecimal)
			if err == nil {
				return out, nil
			}
			reasons = append(reasons, err.Error())
		}
		return nil, valErr("%s fits no member of the union: %s", jsonText(v), strings.Join(reasons, "; "))
	case TInt, TUint, TDecimal:
		switch x := v.(type) {
		case json.Number:
			return t.Parse(string(x))
		case string:
			return t.Parse(x)
		}
		return nil, valErr("%s is not a number", jsonText(v))
	case TBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, valErr("%s is not a boolean (true or false)", jsonText(v))
	case TEmpty:
		if a, ok := v.([]any); ok && len(a) == 1 && a[0] == nil {
			return Empty{}, nil
		}
		if v == nil || v == true {
			return Empty{}, nil
		}
		return nil, valErr("%s is not an empty value ([null])", jsonText(v))
	}
	s, ok := v.(string)
	if !ok {
		if n, isNum := v.(json.Number); isNum && legacyDecimal && t.Base == TString {
			return t.legacyHex(n)
		}
		return nil, valErr("%s is not a string: expected a JSON string (%s)", jsonText(v), t.Describe())
	}
	return t.Parse(s)
}

// legacyHex converts a decimal identifier to its hex string, as older
// clients of a model sent sst and sd before they became hex strings.
func (t *Type) legacyHex(n json.Number) (any, error) {
	u, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return nil, valErr("%s is not a non-negative integer identifier", n)
	}
	s := strings.ToUpper(strconv.FormatUint(u, 16))
	if err := t.checkString(s); err != nil {
		return nil, valErr("decimal %s is hex %q, which does not fit: %s", n, s, err)
	}
	return s, nil
}

// Parse converts text (a CLI argument, a query parameter, a gNMI string) to
// the canonical value for t.
func (t *Type) Parse(s string) (any, error) {
	switch t.Base {
	case TLeafref:
		if t.Target == nil {
			return nil, valErr("leafref target not resolved")
		}
		return t.Target.Type.Parse(s)
	case TUnion:
		var reasons []string
		for _, m := range t.Union {
			out, err := m.Parse(s)
			if err == nil {
				return out, nil
			}
			reasons = append(reasons, err.Error())
		}
		return nil, valErr("%q fits no member of the union: %s", s, strings.Join(reasons, "; "))
	case TInt:
		i, err := strconv.ParseInt(s, 10, t.Bits)
		if err != nil {
			return nil, valErr("%q is not an integer of type %s", s, t.Name)
		}
		if err := t.checkRange(new(big.Rat).SetInt64(i)); err != nil {
			return nil, err
		}
		return i, nil
	case TUint:
		u, err := strconv.ParseUint(s, 10, t.Bits)
		if err != nil {
			return nil, valErr("%q is not an unsigned integer of type %s (0..%d)", s, t.Name, uint64(math.MaxUint64)>>(64-t.Bits))
		}
		if err := t.checkRange(new(big.Rat).SetUint64(u)); err != nil {
			return nil, err
		}
		return u, nil
	case TDecimal:
		r, ok := new(big.Rat).SetString(s)
		if !ok || strings.ContainsAny(s, "/eE") {
			return nil, valErr("%q is not a decimal number", s)
		}
		if err := t.checkRange(r); err != nil {
			return nil, err
		}
		return r.FloatString(t.Fraction), nil
	case TBool:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, valErr("%q is not a boolean (true or false)", s)
	case TEmpty:
		return Empty{}, nil
	case TEnum:
		for _, e := range t.Enums {
			if e == s {
				return e, nil // the schema's string, shared by every value held
			}
		}
		return nil, valErr("%q is not one of %s", s, strings.Join(t.Enums, ", "))
	case TBits:
		for _, f := range strings.Fields(s) {
			found := false
			for _, e := range t.Enums {
				found = found || e == f
			}
			if !found {
				return nil, valErr("bit %q is not one of %s", f, strings.Join(t.Enums, ", "))
			}
		}
		return strings.Join(strings.Fields(s), " "), nil
	case TBinary:
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return nil, valErr("not base64: %v", err)
		}
		return s, nil
	case TIdentityref:
		local := s
		if i := strings.IndexByte(s, ':'); i >= 0 {
			local = s[i+1:]
		}
		for _, id := range t.Identities {
			if id == local {
				return s, nil
			}
		}
		if len(t.Identities) == 0 {
			return s, nil
		}
		return nil, valErr("%q is not one of the identities %s", s, strings.Join(t.Identities, ", "))
	}
	if err := t.checkString(s); err != nil {
		return nil, err
	}
	return s, nil
}

func (t *Type) checkString(s string) error {
	n := int64(len([]rune(s)))
	if len(t.Lengths) > 0 {
		ok := false
		for _, r := range t.Lengths {
			ok = ok || r.containsInt(n)
		}
		if !ok {
			return valErr("%q has length %d, outside %s", s, n, rangesText(t.Lengths))
		}
	}
	for i, re := range t.Patterns {
		if !re.MatchString(s) {
			return valErr("%q does not match pattern %s", s, t.patSrc[i])
		}
	}
	return nil
}

func (t *Type) checkRange(v *big.Rat) error {
	if len(t.Ranges) == 0 {
		return nil
	}
	for _, r := range t.Ranges {
		if r.contains(v) {
			return nil
		}
	}
	return valErr("%s is outside the range %s", v.RatString(), rangesText(t.Ranges))
}

func rangesText(rs []numRange) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.String())
	}
	return strings.Join(s, " | ")
}

// ToJSON returns the JSON value for a canonical value. With rfc7951 set,
// 64-bit integers and decimals are strings as RFC 7951 section 6.1 requires;
// otherwise they are numbers, as plain REST clients expect.
func (t *Type) ToJSON(v any, rfc7951 bool) any {
	switch x := v.(type) {
	case int64:
		if rfc7951 && t.width() == 64 {
			return strconv.FormatInt(x, 10)
		}
		return json.Number(strconv.FormatInt(x, 10))
	case uint64:
		if rfc7951 && t.width() == 64 {
			return strconv.FormatUint(x, 10)
		}
		return json.Number(strconv.FormatUint(x, 10))
	case Empty:
		return []any{nil}
	case string:
		if t.effectiveBase() == TDecimal && !rfc7951 {
			return json.Number(x)
		}
	}
	return v
}

func (t *Type) effectiveBase() Base {
	if t.Base == TLeafref && t.Target != nil {
		return t.Target.Type.effectiveBase()
	}
	return t.Base
}

func (t *Type) width() int {
	switch t.Base {
	case TLeafref:
		if t.Target != nil {
			return t.Target.Type.width()
		}
	case TUnion:
		return 64 // a union member is not known after the fact; be safe
	}
	return t.Bits
}

// Format renders a canonical value as text (CLI tables, XPath string value).
func Format(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case Empty:
		return ""
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 64 {
		return string(b[:61]) + "..."
	}
	return string(b)
}
