package config

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/amp-edge/amp/internal/schema"
)

// Object is one stored object: a list entry (or a target record) with its
// leaves and containers; child list entries are objects of their own.
// Objects are immutable once committed: a change builds a new Object.
type Object struct {
	Key      string
	Node     *schema.Node   // nil for a target (enterprise) record
	Data     map[string]any // canonical values, see package schema
	Created  uint64         // index of the transaction that created it
	Modified uint64         // index of the last transaction that changed it
}

// targetPrefix keys target records among objects, so their creation and
// deletion are versioned like everything else.
const targetPrefix = "@target/"

// Binary object encoding: compact, typed (so uint64 stays uint64 without a
// schema walk at start-up) and fast to decode.
//
//	object := uvarint(created) uvarint(modified) map
//	map    := uvarint(n) { string value }*n        (names sorted)
//	value  := tag payload
//	tags: 's' string, 'i' varint, 'u' uvarint, 't' true, 'f' false, 'e' empty,
//	      'm' map, 'l' list (uvarint(n) value*n)
const (
	tagString = 's'
	tagInt    = 'i'
	tagUint   = 'u'
	tagTrue   = 't'
	tagFalse  = 'f'
	tagEmpty  = 'e'
	tagMap    = 'm'
	tagList   = 'l'
)

func encodeObject(o *Object) []byte {
	b := make([]byte, 0, 128)
	b = binary.AppendUvarint(b, o.Created)
	b = binary.AppendUvarint(b, o.Modified)
	return appendMap(b, o.Data)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendMap(b []byte, m map[string]any) []byte {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = appendString(b, k)
		b = appendValue(b, m[k])
	}
	return b
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendString(append(b, tagString), x)
	case int64:
		return binary.AppendVarint(append(b, tagInt), x)
	case uint64:
		return binary.AppendUvarint(append(b, tagUint), x)
	case bool:
		if x {
			return append(b, tagTrue)
		}
		return append(b, tagFalse)
	case schema.Empty:
		return append(b, tagEmpty)
	case map[string]any:
		return appendMap(append(b, tagMap), x)
	case []any:
		b = binary.AppendUvarint(append(b, tagList), uint64(len(x)))
		for _, e := range x {
			b = appendValue(b, e)
		}
		return b
	}
	panic(fmt.Sprintf("config: cannot encode %T", v))
}

var errCorrupt = errors.New("corrupt object encoding")

type reader struct {
	b []byte
	i int
	// check: read the encoding through, building nothing (strings, maps
	// and lists come back empty), to tell whether it decodes.
	check bool
}

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		return 0, errCorrupt
	}
	r.i += n
	return v, nil
}

func (r *reader) str() (string, error) {
	b, err := r.bytes()
	if err != nil || r.check {
		return "", err
	}
	return string(b), nil
}

// bytes reads a string as a slice of r.b.
func (r *reader) bytes() ([]byte, error) {
	n, err := r.uvarint()
	if err != nil || n > uint64(len(r.b)-r.i) {
		return nil, errCorrupt
	}
	b := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return b, nil
}

func decodeObject(key string, node *schema.Node, b []byte) (*Object, error) {
	o := &Object{Key: key, Node: node}
	if err := (&reader{b: b}).object(o); err != nil {
		return nil, fmt.Errorf("object %s: %w", key, err)
	}
	return o, nil
}

// checkObject returns decodeObject's error for b, or nil, building
// nothing: a restore's check reads every object of a backup.
func checkObject(key string, b []byte) error {
	if err := (&reader{b: b, check: true}).object(&Object{}); err != nil {
		return fmt.Errorf("object %s: %w", key, err)
	}
	return nil
}

// object reads an object's encoding into o.
func (r *reader) object(o *Object) error {
	var err error
	if o.Created, err = r.uvarint(); err != nil {
		return err
	}
	if o.Modified, err = r.uvarint(); err != nil {
		return err
	}
	o.Data, err = r.readMap()
	return err
}

func (r *reader) readMap() (map[string]any, error) {
	n, err := r.uvarint()
	if err != nil || n > uint64(len(r.b)) {
		return nil, errCorrupt
	}
	var m map[string]any
	if !r.check {
		m = make(map[string]any, n)
	}
	for j := uint64(0); j < n; j++ {
		k, err := r.str()
		if err != nil {
			return nil, err
		}
		v, err := r.readValue()
		if err != nil {
			return nil, err
		}
		if m != nil {
			m[k] = v
		}
	}
	return m, nil
}

// next consumes the tag of the next value if it is tag.
func (r *reader) next(tag byte) bool {
	if r.i < len(r.b) && r.b[r.i] == tag {
		r.i++
		return true
	}
	return false
}

func (r *reader) readValue() (any, error) {
	if r.i >= len(r.b) {
		return nil, errCorrupt
	}
	tag := r.b[r.i]
	r.i++
	switch tag {
	case tagString:
		return r.str()
	case tagInt:
		v, n := binary.Varint(r.b[r.i:])
		if n <= 0 {
			return nil, errCorrupt
		}
		r.i += n
		if r.check {
			return nil, nil
		}
		return v, nil
	case tagUint:
		v, err := r.uvarint()
		if err != nil || r.check {
			return nil, err
		}
		return v, nil
	case tagTrue:
		return true, nil
	case tagFalse:
		return false, nil
	case tagEmpty:
		return schema.Empty{}, nil
	case tagMap:
		return r.readMap()
	case tagList:
		n, err := r.uvarint()
		if err != nil || n > uint64(len(r.b)) {
			return nil, errCorrupt
		}
		var out []any
		if !r.check {
			out = make([]any, 0, n)
		}
		for j := uint64(0); j < n; j++ {
			v, err := r.readValue()
			if err != nil {
				return nil, err
			}
			if !r.check {
				out = append(out, v)
			}
		}
		return out, nil
	}
	return nil, errCorrupt
}

// cloneMap deep-copies a data map so an edit never touches committed data.
func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// equalValue compares canonical values.
func equalValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	}
	return a == b
}
