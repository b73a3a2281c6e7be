package config

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// refChanges is how decodeRecordHeader read a record's changes before it
// read them without a map per change: the reference its answers must keep
// to, whatever the bytes.
func refChanges(b []byte) ([]ObjectChange, error) {
	m, err := (&reader{b: b}).readMap()
	if err != nil {
		return nil, err
	}
	cs, ok := m["changes"].([]any)
	if !ok {
		return nil, nil
	}
	out := make([]ObjectChange, len(cs))
	for i, c := range cs {
		cm, _ := c.(map[string]any)
		out[i].Key, _ = cm["key"].(string)
		if s, ok := cm["before"].(string); ok {
			out[i].Before = &Object{Key: out[i].Key, Data: map[string]any{"\x00raw": s}}
		}
		if s, ok := cm["after"].(string); ok {
			out[i].After = &Object{Key: out[i].Key, Data: map[string]any{"\x00raw": s}}
		}
	}
	return out, nil
}

// Encodings with what a map cannot hold: repeated names.
type (
	rawMap  []any // name, value, name, value…
	rawList []any
)

func enc(b []byte, v any) []byte {
	switch x := v.(type) {
	case rawMap:
		b = binary.AppendUvarint(append(b, tagMap), uint64(len(x)/2))
		for i := 0; i < len(x); i += 2 {
			b = enc(appendString(b, x[i].(string)), x[i+1])
		}
		return b
	case rawList:
		b = binary.AppendUvarint(append(b, tagList), uint64(len(x)))
		for _, e := range x {
			b = enc(b, e)
		}
		return b
	}
	return appendValue(b, v)
}

// TestRecordHeaderChanges: decodeRecordHeader reads the changes of any
// record as a generic map decode would: names repeated (the last wins),
// entries of other types, changes that are not maps, and corrupt bytes.
func TestRecordHeaderChanges(t *testing.T) {
	genuine := encodeRecord(&Record{Index: 7, ID: "t", Time: time.Unix(5, 0), Principal: "p", Changes: []ObjectChange{
		{Key: "aether/2.1.x/acme/site/s1", After: &Object{Data: map[string]any{"site-id": "s1"}}},
		{Key: "aether/2.1.x/acme/site/s2", Before: &Object{Data: map[string]any{"site-id": "s2"}}},
	}})
	change := rawMap{"key", "k1", "before", "b1", "after", "a1"}
	records := map[string][]byte{
		"genuine":                genuine,
		"no changes":             enc(nil, rawMap{"index", uint64(1)})[1:],
		"empty changes":          enc(nil, rawMap{"changes", rawList{}})[1:],
		"changes not a list":     enc(nil, rawMap{"changes", "x"})[1:],
		"a list, then a string":  enc(nil, rawMap{"changes", rawList{change}, "changes", "x"})[1:],
		"a string, then a list":  enc(nil, rawMap{"changes", "x", "changes", rawList{change}})[1:],
		"two lists":              enc(nil, rawMap{"changes", rawList{change}, "changes", rawList{change, change}})[1:],
		"a change not a map":     enc(nil, rawMap{"changes", rawList{"x", uint64(3), rawList{"y"}, change}})[1:],
		"names repeated":         enc(nil, rawMap{"changes", rawList{rawMap{"after", "a1", "key", "k1", "after", "a2", "key", "k2", "before", "b"}}})[1:],
		"a string, then another": enc(nil, rawMap{"changes", rawList{rawMap{"key", "k1", "key", uint64(1), "before", "b", "before", true, "after", rawMap{"x", "y"}}}})[1:],
		"other names":            enc(nil, rawMap{"changes", rawList{rawMap{"key", "k1", "extra", rawList{"z"}, "after", "a"}}})[1:],
	}
	for i := 1; i < len(genuine); i += 7 {
		records[fmt.Sprintf("truncated at byte %d", i)] = genuine[:i]
	}
	records["count past the end"] = enc(nil, rawMap{"changes", rawList{change}})[1:]
	records["count past the end"][len(records["count past the end"])-len(enc(nil, change))-1] = 0xff
	for name, b := range records {
		want, wantErr := refChanges(b)
		r, err := decodeRecordHeader(b)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, generic decode's %v", name, err, wantErr)
			continue
		}
		if err == nil && !reflect.DeepEqual(r.Changes, want) {
			t.Errorf("%s: changes %+v, generic decode's %+v", name, r.Changes, want)
		}
	}
	if r, _ := decodeRecordHeader(genuine); r.Index != 7 || r.Principal != "p" || len(r.Changes) != 2 {
		t.Errorf("genuine record read as %+v", r)
	}
}
