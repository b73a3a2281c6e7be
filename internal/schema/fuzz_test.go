package schema_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
)

// FuzzDecodeJSON feeds arbitrary bodies to the decoder for a site entry: it
// must never panic, and every failure must be a located *schema.Error.
func FuzzDecodeJSON(f *testing.F) {
	set := aether(f)
	site := set.Root.Child("site")
	for _, seed := range []string{
		`{"site-id":"s1","imsi-definition":{"mcc":"001","mnc":"01","enterprise":1,"format":"CCCNNNEEESSSSSS"}}`,
		`{"sim-card":[{"sim-id":"a","imsi":"315010001000001","iccid":"890000000000000000F"}]}`,
		`{"slice":[{"slice-id":"x","sst":79,"sd":2973238,"mbr":{"uplink":"18446744073709551615"}}]}`,
		`{"device":[{"device-id":"d","state":{"connected":"Yes"}}]}`,
		`{"upf":[{"upf-id":"u","port":-1}],"bogus":null}`,
		`[1,2,3]`, `null`, `{"onf-site:site-id":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		for _, opts := range []schema.DecodeOptions{{}, {NullDeletes: true, OmitKeysOK: true, AdditionalProperties: true}} {
			out, err := schema.DecodeJSON(site, v, "/p", true, opts)
			if err != nil {
				var se *schema.Error
				if !errors.As(err, &se) || len(se.Problems) == 0 {
					t.Fatalf("unlocated error %v", err)
				}
				continue
			}
			// Whatever decodes encodes again.
			if _, err := json.Marshal(schema.Encode(site, out, schema.EncodeOptions{RFC7951: true})); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzResolvePath feeds arbitrary paths to the REST path resolver.
func FuzzResolvePath(f *testing.F) {
	set := aether(f)
	for _, seed := range []string{"site/s1/device/d1", "site/s1/monitoring/edge-device/x", "application/a/endpoint/e/mbr/uplink",
		"site/%2F/x", "site/s1/slice/a/filter/b", "site//x", "site/%zz"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		loc, err := schema.Resolve(set, "acme", schema.SplitPath(p))
		if err != nil {
			var se *schema.Error
			if !errors.As(err, &se) || (se.Kind != schema.KindInvalid && se.Kind != schema.KindNotFound) {
				t.Fatalf("%q: error %v", p, err)
			}
			return
		}
		// A resolved location's REST path resolves to the same object.
		again, err := schema.Resolve(set, "acme", schema.SplitPath(strings.TrimPrefix(loc.REST(), "/aether/v2.1.x/acme")))
		if err != nil || again.ObjectKey != loc.ObjectKey || again.Node != loc.Node {
			t.Fatalf("%q -> %s does not round-trip: %v", p, loc.REST(), err)
		}
	})
}

// FuzzXPath feeds arbitrary expressions to the XPath compiler.
func FuzzXPath(f *testing.F) {
	for _, seed := range []string{"count(../a[b = current()/c]) = 1", "not(x) or y <= z", "/a:b[c:d = 'x']/e", "1 + -2 * (3 div 4)"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = schema.Compile(s)
	})
}
