package rest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	acmeCameras = "/aether/v2.1.x/acme/site/acme-chicago/device-group/cameras"
	sbCameras   = "/aether/v2.1.x/starbucks/site/starbucks-seattle/device-group/cameras"
)

// TestBatchOneTransaction: POST /transactions commits edits of two
// enterprises' objects as ONE transaction; a dry run changes nothing and
// answers the changes; an edit whose If-Match is stale refuses the whole
// transaction with 412 naming its object; a bad edit is 400 naming its
// place in the body; an enterprise admin may not write another
// enterprise's object through it (the same 404 as a write of that path).
func TestBatchOneTransaction(t *testing.T) {
	s := newSecured(t)
	op := s.as("operator")
	var before struct {
		ETag string
	}
	_, _, h := op.do("GET", acmeCameras, "")
	before.ETag = h.Get("ETag")
	basket := func(acmeUplink int, ifMatch string) string {
		precondition := ""
		if ifMatch != "" {
			precondition = fmt.Sprintf(`,"if-match":%q`, ifMatch)
		}
		return fmt.Sprintf(`{"edits":[
		  {"op":"patch","path":%q,"value":{"mbr":{"uplink":%d}}%s},
		  {"op":"patch","path":%q,"value":{"display-name":null,"mbr":{"uplink":6000000}}}]}`,
			acmeCameras, acmeUplink, precondition, sbCameras)
	}
	head := s.eng.Snapshot().Index

	var dry struct {
		DryRun  bool `json:"dry-run"`
		Changes []struct{ Path, Op string }
	}
	if err := json.Unmarshal([]byte(op.want(200, "POST", "/transactions?dry-run=true", basket(7000000, before.ETag))), &dry); err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || len(dry.Changes) != 3 || s.eng.Snapshot().Index != head {
		t.Fatalf("dry run: %+v; index %d, was %d", dry, s.eng.Snapshot().Index, head)
	}

	code, body, hdr := op.do("POST", "/transactions", basket(7000000, before.ETag))
	if code != 200 || hdr.Get("X-AMP-Transaction-Index") != fmt.Sprint(head+1) {
		t.Fatalf("commit: %d %s %v", code, body, hdr)
	}
	var tx struct {
		Targets []string
		Changes []struct{ Path string }
	}
	if err := json.Unmarshal([]byte(op.want(200, "GET", fmt.Sprintf("/transactions/%d", head+1), "")), &tx); err != nil {
		t.Fatal(err)
	}
	if len(tx.Changes) != 3 || strings.Join(tx.Targets, ",") != "acme,starbucks" {
		t.Fatalf("one transaction of both enterprises: %+v", tx)
	}
	if got := op.want(200, "GET", sbCameras, ""); strings.Contains(got, "display-name") || !strings.Contains(got, "6000000") {
		t.Fatalf("null did not remove the display name, or the uplink is not set: %s", got)
	}

	// The acme edit's ETag is stale now: nothing of the basket commits.
	code, body, _ = op.do("POST", "/transactions", basket(8000000, before.ETag))
	if code != 412 || !strings.Contains(body, acmeCameras) || s.eng.Snapshot().Index != head+1 {
		t.Fatalf("stale If-Match: %d %s", code, body)
	}

	for _, c := range []struct{ body, path string }{
		{`{"edits":[]}`, "/edits"},
		{`{"edits":[{"op":"post","path":"` + acmeCameras + `","value":{}}]}`, "/edits/0/op"},
		{`{"edits":[{"op":"patch","path":"/enterprises/acme","value":{}}]}`, "/edits/0/path"},
		{`{"edits":[{"op":"delete","path":"` + acmeCameras + `","value":{}}]}`, "/edits/0/value"},
		{`{"edits":[{"op":"patch","path":"` + acmeCameras + `","value":{"mbr":{"uplink":-1}}}]}`, acmeCameras + "/mbr/uplink"},
		{`{"edits":[{"op":"patch","path":"` + acmeCameras + `","if-match":"x","value":{}}]}`, "/edits/0/if-match"},
		{`{"edits":[],"extra":1}`, "/extra"},
	} {
		code, body, _ := op.do("POST", "/transactions", c.body)
		if code != 400 || !strings.Contains(body, `"path":"`+c.path+`"`) {
			t.Errorf("%s: %d %s, want 400 at %s", c.body, code, body, c.path)
		}
	}
	if s.eng.Snapshot().Index != head+1 {
		t.Fatal("a refused basket committed")
	}

	alice := s.as("alice")
	if code, body, _ := alice.do("POST", "/transactions", basket(9000000, "")); code != 404 || !strings.Contains(body, `enterprise \"starbucks\" does not exist`) {
		t.Fatalf("acme's admin writing starbucks through a basket: %d %s", code, body)
	}
	alice.want(200, "POST", "/transactions", `{"edits":[{"op":"patch","path":"`+acmeCameras+`","value":{"mbr":{"uplink":9000000}}}]}`)
	s.as("mallory").want(403, "POST", "/transactions", `{"edits":[{"op":"patch","path":"`+strings.Replace(acmeCameras, "acme", "starbucks", 1)+`","value":{}}]}`)
}

// TestReferences: GET /references answers what refers to an entry and
// what it refers to, across lists, and shows a caller only what it may
// read; another enterprise's entry is answered as missing.
func TestReferences(t *testing.T) {
	s := newSecured(t)
	var a referencesAnswer
	if err := json.Unmarshal([]byte(s.as("alice").want(200, "GET", "/references?path="+acmeCameras, "")), &a); err != nil {
		t.Fatal(err)
	}
	slice := "/aether/v2.1.x/acme/site/acme-chicago/slice/video/device-group/cameras"
	if len(a.Referrers) != 1 || a.Referrers[0] != (reference{Object: slice, Leaf: slice + "/device-group", Value: "cameras"}) {
		t.Errorf("referrers of cameras: %+v", a.Referrers)
	}
	uses := map[string]string{}
	for _, r := range a.RefersTo {
		uses[strings.TrimPrefix(r.Leaf, acmeCameras+"/")] = r.Target
	}
	if uses["traffic-class"] != "/aether/v2.1.x/acme/traffic-class/class-1" || uses["ip-domain"] != "/aether/v2.1.x/acme/site/acme-chicago/ip-domain/pool-1" {
		t.Errorf("cameras refers to %+v", a.RefersTo)
	}

	if err := json.Unmarshal([]byte(s.as("alice").want(200, "GET", "/references?path=/aether/v2.1.x/acme/traffic-class/class-1", "")), &a); err != nil {
		t.Fatal(err)
	}
	objects := map[string]bool{}
	for _, r := range a.Referrers {
		objects[r.Object] = true
	}
	if !objects[acmeCameras] || !objects["/aether/v2.1.x/acme/application/acme-video/endpoint/rtsp"] || len(a.RefersTo) != 0 {
		t.Errorf("referrers of class-1: %+v", a)
	}

	if b := s.as("alice").want(404, "GET", "/references?path="+sbCameras, ""); !strings.Contains(b, `enterprise \"starbucks\" does not exist`) {
		t.Errorf("acme's admin asking about starbucks: %s", b)
	}
	s.as("alice").want(400, "GET", "/references?path=/aether/v2.1.x/acme/site", "")
	s.as("alice").want(400, "GET", "/references?path=/enterprises", "")
	s.as("alice").want(404, "GET", "/references?path=/aether/v2.1.x/acme/site/nowhere", "")
}

// BenchmarkBasket50Edits: what the portal's basket of 50 edits costs
// through the REST stack — its dry run and its commit as ONE transaction —
// against the same 50 edits sent as 50 PATCHes (50 transactions), measured
// in the same run: basket-ns/op, patches-ns/op and their ratio.
func BenchmarkBasket50Edits(b *testing.B) {
	e := newEnv(b, true)
	const n = 50
	org := func(i int) string { return fmt.Sprintf("/inventory/v1.0.0/organization/bench-%02d", i) }
	body := func(round int) string {
		edits := make([]string, n)
		for i := range edits {
			edits[i] = fmt.Sprintf(`{"op":"patch","path":%q,"value":{"display-name":"basket %d"}}`, org(i), round)
		}
		return `{"edits":[` + strings.Join(edits, ",") + `]}`
	}
	e.want(200, "POST", "/transactions", body(0))
	var basket, patches time.Duration
	b.ResetTimer()
	for round := 1; round <= b.N; round++ {
		t0 := time.Now()
		e.want(200, "POST", "/transactions?dry-run=true", body(round))
		e.want(200, "POST", "/transactions", body(round))
		t1 := time.Now()
		for i := range n {
			e.want(200, "PATCH", org(i), fmt.Sprintf(`{"display-name":"patch %d"}`, round))
		}
		basket, patches = basket+t1.Sub(t0), patches+time.Since(t1)
	}
	b.ReportMetric(float64(basket.Nanoseconds())/float64(b.N), "basket-ns/op")
	b.ReportMetric(float64(patches.Nanoseconds())/float64(b.N), "patches-ns/op")
	b.ReportMetric(float64(basket)/float64(patches), "basket/patches")
}
