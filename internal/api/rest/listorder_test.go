package rest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// ids reads a list page and returns the values of its entries' field id
// and the next page's token.
func (e *env) ids(path, field string) ([]string, string) {
	e.t.Helper()
	code, b, h := e.do("GET", path, "")
	if code != 200 {
		e.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(b), &items); err != nil {
		e.t.Fatalf("GET %s: %v %s", path, err, b)
	}
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprint(it[field]))
	}
	return out, h.Get("X-AMP-Continue")
}

// TestListSortedAndFilteredByPrefix: ?sort= orders a list by any leaf
// (numbers as numbers, unset last, descending with "-"), paging follows the
// order, ?filter=leaf^=prefix selects by prefix, and a bad sort key or
// filter is refused naming the parameter.
func TestListSortedAndFilteredByPrefix(t *testing.T) {
	e := newEnv(t, true)
	sims := "/aether/v2.1.x/acme/site/acme-chicago/sim-card"
	for id, imsi := range map[string]string{"t-1": "315010999000003", "t-2": "315010999000001", "t-3": "", "t-4": "315010888000002", "t-5": "315010999000002"} {
		body := `{}`
		if imsi != "" {
			body = fmt.Sprintf(`{"imsi":%q}`, imsi)
		}
		e.want(200, "PATCH", sims+"/"+id, body)
	}
	mine := "filter=" + url.QueryEscape("sim-id^=t-")
	got, _ := e.ids(sims+"?"+mine+"&sort=imsi", "sim-id")
	if want := []string{"t-4", "t-2", "t-5", "t-1", "t-3"}; !slices.Equal(got, want) {
		t.Errorf("sorted by imsi: %v, want %v (the SIM without one last)", got, want)
	}
	got, _ = e.ids(sims+"?"+mine+"&sort=-imsi", "sim-id")
	if want := []string{"t-3", "t-1", "t-5", "t-2", "t-4"}; !slices.Equal(got, want) {
		t.Errorf("sorted by -imsi: %v, want %v", got, want)
	}
	got, _ = e.ids(sims+"?filter="+url.QueryEscape("imsi^=315010999")+"&sort=imsi", "sim-id")
	if want := []string{"t-2", "t-5", "t-1"}; !slices.Equal(got, want) {
		t.Errorf("imsi^=315010999: %v, want %v", got, want)
	}

	// Paging follows the order, and a page's position survives the
	// removal of the entry it ended on.
	var paged []string
	page, next := e.ids(sims+"?"+mine+"&sort=-imsi&limit=2", "sim-id")
	paged = append(paged, page...)
	e.want(200, "DELETE", sims+"/t-1", "")
	for next != "" {
		page, next = e.ids(sims+"?"+mine+"&sort=-imsi&limit=2&continue="+next, "sim-id")
		paged = append(paged, page...)
	}
	if want := []string{"t-3", "t-1", "t-5", "t-2", "t-4"}; !slices.Equal(paged, want) {
		t.Errorf("paged by 2 sorted by -imsi: %v, want %v", paged, want)
	}

	// Numbers compare as numbers: 9 < 10 < 100.
	dgs := "/aether/v2.1.x/acme/site/acme-chicago/device-group"
	for id, up := range map[string]int{"t-a": 100, "t-b": 9, "t-c": 10} {
		e.want(201, "POST", dgs+"/"+id, fmt.Sprintf(`{"mbr":{"uplink":%d,"downlink":1},"traffic-class":"class-1"}`, up))
	}
	got, _ = e.ids(dgs+"?filter="+url.QueryEscape("device-group-id^=t-")+"&sort=mbr/uplink", "device-group-id")
	if want := []string{"t-b", "t-c", "t-a"}; !slices.Equal(got, want) {
		t.Errorf("sorted by mbr/uplink: %v, want %v", got, want)
	}

	for _, c := range []struct{ query, param, reason string }{
		{"sort=nope", "?sort", `"nope" is not a leaf of sim-card`},
		{"sort=-", "?sort", `"" is not a leaf of sim-card`},
		{"filter=nope^=1", "?filter", `"nope" is not a leaf of sim-card`},
		{"sort=imsi&continue=bm90IGpzb24", "?continue", "not a continue token"},
	} {
		b := e.want(400, "GET", sims+"?"+c.query, "")
		var p struct {
			Errors []struct{ Path, Reason string }
		}
		if err := json.Unmarshal([]byte(b), &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Path != c.param || !strings.Contains(p.Errors[0].Reason, c.reason) {
			t.Errorf("?%s: %s, want %s: %s", c.query, b, c.param, c.reason)
		}
	}
}
