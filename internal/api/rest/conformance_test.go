package rest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The real request Aether used to populate a blank system
// (test/testdata/aether-roc-api/MEGA_Patch_21.json) predates the
// current 2.1.x model in three ways. AMP accepts the one the conformance
// README names (sd and sst as JSON numbers) and reports the others precisely;
// docs/conformance.md lists them. megaAmendments are exactly the edits that
// make the request fit the current model.
var megaProblems = []string{
	"/aether/v2.1.x/acme/site/acme-chicago/sim-card/sim-1/imsi",
	"/aether/v2.1.x/acme/site/acme-chicago/sim-card/sim-2/imsi",
	"/aether/v2.1.x/starbucks/site/starbucks-newyork/device-group/starbucks-newyork-cameras-front/mbr/downlink",
	"/aether/v2.1.x/starbucks/site/starbucks-newyork/device-group/starbucks-newyork-cameras-store/mbr/downlink",
	"/aether/v2.1.x/starbucks/site/starbucks-newyork/device-group/starbucks-newyork-pos/mbr/uplink",
}

// amendMega applies the documented amendments.
func amendMega(t *testing.T, body map[string]any) {
	sites := body["Updates"].(map[string]any)["site-2.1.0"].([]any)
	for _, s := range sites {
		site := s.(map[string]any)
		for _, d := range asList(site["device-group"]) {
			dg := d.(map[string]any)
			mbr, _ := dg["mbr"].(map[string]any)
			if mbr == nil {
				mbr = map[string]any{}
				dg["mbr"] = mbr
			}
			for _, k := range []string{"uplink", "downlink"} {
				if _, ok := mbr[k]; !ok {
					mbr[k] = json.Number("1000000")
				}
			}
		}
		for _, c := range asList(site["sim-card"]) {
			sim := c.(map[string]any)
			// MCC 123, MNC 456, enterprise 001 (the site's imsi-definition)
			// and the last six digits of the old short IMSI.
			old := string(sim["imsi"].(json.Number))
			sim["imsi"] = "123456001" + old[len(old)-6:]
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

func decodeUseNumber(t *testing.T, b []byte) map[string]any {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMegaPatchConformance(t *testing.T) {
	e := newEnv(t, false)
	for _, ent := range []string{"starbucks", "acme", "defaultent"} {
		e.want(201, "POST", "/enterprises", `{"enterprise-id":"`+ent+`"}`)
	}
	raw := repoFile(t, "test/testdata/aether-roc-api/MEGA_Patch_21.json")

	// As published: refused, every disagreement named, nothing changed.
	before := e.eng.Snapshot().Index
	b := e.want(400, "PATCH", "/aether-roc-api", string(raw))
	var prob problem
	if err := json.Unmarshal([]byte(b), &prob); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range prob.Errors {
		got = append(got, p.Path)
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(megaProblems, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(megaProblems, "\n"))
	}
	if e.eng.Snapshot().Index != before {
		t.Fatal("a refused request changed the configuration")
	}

	// Amended: one transaction, every object reads back as sent.
	body := decodeUseNumber(t, raw)
	amendMega(t, body)
	amended, _ := json.Marshal(body)
	b = e.want(200, "PATCH", "/aether-roc-api", string(amended))
	if !strings.HasPrefix(b, `"uuid:`) {
		t.Fatalf("response is not a transaction id: %s", b)
	}
	if idx := e.eng.Snapshot().Index; idx != before+1 {
		t.Fatalf("index %d after the patch, want %d (one transaction)", idx, before+1)
	}
	updates := body["Updates"].(map[string]any)
	n := 0
	for elem, items := range updates {
		list := strings.TrimSuffix(elem, "-2.1.0")
		key := list + "-id"
		for _, it := range items.([]any) {
			m := it.(map[string]any)
			ent := m["additionalProperties"].(map[string]any)["enterprise-id"].(string)
			path := fmt.Sprintf("/aether/v2.1.x/%s/%s/%s", ent, list, m[key])
			gotObj := decodeUseNumber(t, []byte(e.want(200, "GET", path, "")))
			delete(m, "additionalProperties")
			if err := sameAs(m, gotObj, path); err != nil {
				t.Error(err)
			}
			n++
		}
	}
	if n != 17 {
		t.Fatalf("read back %d objects, want 17", n)
	}
}

// sameAs checks that everything sent is there, applying the legacy sd/sst
// conversion (decimal number -> hex string).
func sameAs(sent, got any, path string) error {
	switch s := sent.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", path, got)
		}
		for k, v := range s {
			if n, isNum := v.(json.Number); isNum && (k == "sd" || k == "sst") {
				u, _ := strconv.ParseUint(string(n), 10, 64)
				v = strings.ToUpper(strconv.FormatUint(u, 16))
			}
			if err := sameAs(v, g[k], path+"/"+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(s) {
			return fmt.Errorf("%s: got %v, want %d entries", path, got, len(s))
		}
		// Lists come back in key order; match entries by content.
		for _, item := range s {
			found := false
			for _, gi := range g {
				if sameAs(item, gi, path) == nil {
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("%s: entry %v missing from %v", path, item, got)
			}
		}
		return nil
	case json.Number:
		if gn, ok := got.(json.Number); !ok || gn.String() != s.String() {
			return fmt.Errorf("%s: got %v, want %v", path, got, s)
		}
		return nil
	}
	if fmt.Sprint(sent) != fmt.Sprint(got) {
		return fmt.Errorf("%s: got %v, want %v", path, got, sent)
	}
	return nil
}
