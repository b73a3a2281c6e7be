package schema

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Deleted marks, in a decoded JSON merge patch, a member whose value was null:
// the merge removes it.
type Deleted struct{}

// Placeholder stands, with DecodeOptions.Placeholders, for a leaf value that
// was named but not checked.
type Placeholder struct{}

// ExtraKey is where the decoder keeps an object's "additionalProperties"
// member (a compatibility layer's side channel: the entry's tenant, the
// "unchanged" list), when asked to accept it.
const ExtraKey = "@additionalProperties"

// DecodeOptions steer DecodeJSON.
type DecodeOptions struct {
	// NullDeletes makes null mean "remove this member" (JSON merge patch).
	NullDeletes bool
	// AllowState accepts values for config false nodes (operational state
	// written by AMP's own controllers); interfaces for people refuse them.
	AllowState bool
	// AdditionalProperties accepts a compatibility layer's
	// additionalProperties member on objects and keeps it under ExtraKey.
	AdditionalProperties bool
	// OmitKeysOK lets an entry's key leaves be absent (the caller takes them
	// from the URL).
	OmitKeysOK bool
	// Placeholders names leaves without checking their values (key leaves
	// are still checked): in a compatibility layer's bulk deletes a leaf's
	// value is a placeholder, since what is deleted is its path. Such leaves decode
	// as Placeholder{}.
	Placeholders bool
}

type decoder struct {
	opts DecodeOptions
	errs Problems
}

// DecodeJSON converts JSON (decoded with UseNumber) for schema node n into
// the canonical tree. For a list node, v may be an array of entries or one
// entry object (asEntry). Every problem found is reported, each with its path
// below basePath.
func DecodeJSON(n *Node, v any, basePath string, asEntry bool, opts DecodeOptions) (any, error) {
	d := &decoder{opts: opts}
	var out any
	switch {
	case n.Kind == List && !asEntry:
		out = d.list(n, v, basePath)
	case n.Kind == Leaf || n.Kind == LeafList:
		out = d.leaf(n, v, basePath)
	default:
		out = d.object(n, v, basePath, n.Kind == List)
	}
	if err := d.errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *decoder) object(n *Node, v any, path string, isEntry bool) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		d.errs.Add(path, "expected a JSON object for %s %q, got %s", n.Kind, n.Name, jsonKind(v))
		return nil
	}
	out := make(map[string]any, len(m))
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		val := m[k]
		if k == "additionalProperties" && d.opts.AdditionalProperties {
			ap, ok := val.(map[string]any)
			if !ok {
				d.errs.Add(path+"/additionalProperties", "expected an object")
				continue
			}
			out[ExtraKey] = ap
			continue
		}
		local, mod := k, ""
		if i := strings.IndexByte(k, ':'); i >= 0 {
			mod, local = k[:i], k[i+1:]
		}
		c := n.Child(local)
		if c == nil || (mod != "" && mod != c.Module) {
			d.errs.Add(path+"/"+k, "unknown field %q in %s", k, describeNode(n))
			continue
		}
		cpath := path + "/" + local
		// Keys are the schema's own strings (c.Name == local), not the
		// ones the JSON decoder allocated: every object and every piece of
		// operational state held shares them (10,000 clusters' check-in
		// records hold some 40 keys each).
		if !c.Config && !d.opts.AllowState && n.Config {
			d.errs.Add(cpath, "%q is read-only operational state", local)
			continue
		}
		if val == nil && d.opts.NullDeletes {
			if c.IsKey() {
				d.errs.Add(cpath, "a key cannot be removed")
				continue
			}
			out[c.Name] = Deleted{}
			continue
		}
		switch c.Kind {
		case Container:
			if r := d.object(c, val, cpath, false); r != nil {
				out[c.Name] = r
			}
		case List:
			if r := d.list(c, val, cpath); r != nil {
				out[c.Name] = r
			}
		default:
			if r := d.leaf(c, val, cpath); r != nil {
				out[c.Name] = r
			}
		}
	}
	if isEntry && !d.opts.OmitKeysOK {
		for _, k := range n.Keys {
			if _, ok := out[k]; !ok {
				d.errs.Add(path, "key %q of %s is missing", k, describeNode(n))
			}
		}
	}
	return out
}

func (d *decoder) list(n *Node, v any, path string) []any {
	arr, ok := v.([]any)
	if !ok {
		d.errs.Add(path, "expected a JSON array for list %q, got %s", n.Name, jsonKind(v))
		return nil
	}
	out := make([]any, 0, len(arr))
	seen := make(map[string]int, len(arr))
	for i, e := range arr {
		epath := fmt.Sprintf("%s[%d]", path, i)
		if m, ok := e.(map[string]any); ok {
			if kp := RawKeyPath(n, m); kp != "" {
				epath = path + "/" + kp
			}
		}
		entry := d.object(n, e, epath, true)
		if entry == nil {
			continue
		}
		if id := KeyString(n, entry); id != "" {
			if j, dup := seen[id]; dup {
				d.errs.Add(epath, "duplicate entry: entry %d has the same key", j)
				continue
			}
			seen[id] = i
		}
		out = append(out, entry)
	}
	return out
}

func (d *decoder) leaf(n *Node, v any, path string) any {
	if d.opts.Placeholders && !n.IsKey() {
		return Placeholder{}
	}
	if n.Kind == LeafList {
		arr, ok := v.([]any)
		if !ok {
			d.errs.Add(path, "expected a JSON array for leaf-list %q, got %s", n.Name, jsonKind(v))
			return nil
		}
		out := make([]any, 0, len(arr))
		for i, e := range arr {
			x, err := n.Type.FromJSON(e, n.LegacyDecimal)
			if err != nil {
				d.errs.Add(fmt.Sprintf("%s[%d]", path, i), "%v", err)
				continue
			}
			out = append(out, x)
		}
		return out
	}
	if v == nil && n.Type.Base != TEmpty {
		d.errs.Add(path, "null is not a value of %s", n.Type.Describe())
		return nil
	}
	x, err := n.Type.FromJSON(v, n.LegacyDecimal)
	if err != nil {
		d.errs.Add(path, "%v", err)
		return nil
	}
	return x
}

// RawKeyPath renders an undecoded entry's key values as path segments ("" if
// a key is missing), for error paths before decoding.
func RawKeyPath(n *Node, m map[string]any) string {
	var segs []string
	for _, k := range n.Keys {
		v, ok := m[k]
		if !ok {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		segs = append(segs, EscapeSegment(s))
	}
	return strings.Join(segs, "/")
}

// KeyString returns an entry's key values as escaped path segments joined by
// "/", or "" when a key is missing.
func KeyString(n *Node, entry map[string]any) string {
	segs := make([]string, 0, len(n.Keys))
	for _, k := range n.Keys {
		v, ok := entry[k]
		if !ok {
			return ""
		}
		segs = append(segs, EscapeSegment(Format(v)))
	}
	return strings.Join(segs, "/")
}

func describeNode(n *Node) string {
	if n.Kind == Root {
		return "the " + n.Set.Name + " " + n.Set.Version + " root"
	}
	return fmt.Sprintf("%s %q", n.Kind, n.Name)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// EncodeOptions steer Encode.
type EncodeOptions struct {
	// RFC7951 qualifies member names with their module where the module
	// changes (always at the top level) and encodes 64-bit numbers as strings.
	RFC7951 bool
	// WithDefaults adds default values of absent leaves (RFC 8040
	// with-defaults=report-all) inside every object and existing container.
	WithDefaults bool
	// ConfigOnly leaves out config false nodes.
	ConfigOnly bool
	// StateOnly keeps only config false nodes and the keys that locate them.
	StateOnly bool
}

// Encode renders a canonical tree for node n as a JSON-ready value
// (maps, slices, json.Number, strings, bools).
func Encode(n *Node, v any, opts EncodeOptions) any {
	return encode(n, v, opts, "")
}

func encode(n *Node, v any, opts EncodeOptions, parentModule string) any {
	switch n.Kind {
	case Leaf:
		return n.Type.ToJSON(v, opts.RFC7951)
	case LeafList:
		arr, _ := v.([]any)
		out := make([]any, len(arr))
		for i, x := range arr {
			out[i] = n.Type.ToJSON(x, opts.RFC7951)
		}
		return out
	case List:
		if arr, ok := v.([]any); ok {
			out := make([]any, 0, len(arr))
			for _, e := range arr {
				if r := encodeObject(n, e, opts, n.Module); r != nil || !opts.StateOnly {
					if r == nil {
						r = map[string]any{}
					}
					out = append(out, r)
				}
			}
			return out
		}
	}
	r := encodeObject(n, v, opts, parentModule)
	if r == nil {
		return map[string]any{}
	}
	return r
}

func encodeObject(n *Node, v any, opts EncodeOptions, module string) map[string]any {
	m, _ := v.(map[string]any)
	out := make(map[string]any, len(m))
	hasState := false
	for _, c := range n.Children {
		if opts.ConfigOnly && !c.Config {
			continue
		}
		cv, ok := m[c.Name]
		name := c.Name
		if opts.RFC7951 && c.Module != module {
			name = c.Module + ":" + c.Name
		}
		if !ok {
			if opts.WithDefaults && c.Kind == Leaf && len(c.Default) > 0 && !opts.StateOnly {
				if dv, err := c.Type.Parse(c.Default[0]); err == nil {
					out[name] = c.Type.ToJSON(dv, opts.RFC7951)
				}
			}
			continue
		}
		if opts.StateOnly && c.Config && !c.IsKey() {
			switch c.Kind {
			case Container, List:
				sub := encode(c, cv, opts, c.Module)
				if !isEmptyJSON(sub) {
					out[name] = sub
					hasState = true
				}
			}
			continue
		}
		if !c.Config {
			hasState = true
		}
		out[name] = encode(c, cv, opts, c.Module)
	}
	if opts.StateOnly && !hasState {
		return nil
	}
	return out
}

func isEmptyJSON(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return v == nil
}
