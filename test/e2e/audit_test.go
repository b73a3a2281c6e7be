package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/testenv"
)

// apiToken creates an API token through the server and returns its secret.
func bearerHeader(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// auditRecords reads the whole audit trail visible to hdr's caller, page by
// page (the Link header's next URL).
func auditRecords(t *testing.T, s *testenv.Server, query string, hdr ...string) []audit.Record {
	t.Helper()
	var all []audit.Record
	path := "/audit?limit=1000" + query
	for range 1000 {
		code, b, h, err := s.Do(context.Background(), "GET", path, "", hdr...)
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %d %v %s", path, code, err, b)
		}
		var page []audit.Record
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		link := h.Get("Link")
		if link == "" {
			return all
		}
		path = strings.TrimPrefix(strings.SplitN(link, ">", 2)[0], "<")
	}
	t.Fatal("more than 1000 pages of audit records")
	return nil
}

// TestAuditUnauthenticatedFlood (issue 8, high 3): failed authentications
// are recorded once per source and window with their count, with bounded
// paths, attributed to no enterprise (the one an attacker's path names
// never sees them), and a source over --auth-fail-limit is answered 429
// with Retry-After, while valid credentials from it still work.
func TestAuditUnauthenticatedFlood(t *testing.T) {
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--demo", "--auth-fail-limit", "20", "--auth-fail-window", "1h")
	acme, _ := apiToken(t, s, "acme-boss", "enterprise-admin", "acme")
	// A URI over 8 KiB is refused before routing, echoing nothing.
	code, b, _, err := s.Do(context.Background(), "GET", "/aether/v2.1.x/acme/"+strings.Repeat("x", 9000), "", "Authorization", "Bearer forged")
	if err != nil || code != 414 || len(b) > 1024 {
		t.Fatalf("a 9 KB URI: %d %v, %d-byte answer", code, err, len(b))
	}
	long := "/aether/v2.1.x/acme/site/acme-chicago/device/" + strings.Repeat("x", 8000)
	codes := map[int]int{}
	retry := ""
	for i := range 200 {
		code, b, h, err := s.Do(context.Background(), "GET", long, "", "Authorization", fmt.Sprintf("Bearer amp_forged%d_secret", i))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 2048 {
			t.Fatalf("a %d-byte answer to an unauthenticated request: the path is echoed whole", len(b))
		}
		codes[code]++
		if code == 429 {
			retry = h.Get("Retry-After")
		}
	}
	if codes[401] != 20 || codes[429] != 180 {
		t.Fatalf("answers %v, want 20 x 401 then 180 x 429", codes)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 1 {
		t.Fatalf("Retry-After %q", retry)
	}
	// A valid credential from the same source is not refused.
	s.Must(t, 200, "GET", "/enterprises", "")
	m := string(s.Must(t, 200, "GET", "/metrics", ""))
	if !strings.Contains(m, "amp_auth_failures_limited_total 180") || !strings.Contains(m, "amp_auth_failures_total 200") ||
		!strings.Contains(m, `amp_http_requests_total{code="414",method="GET",route="uri-too-long"} 1`) {
		t.Fatalf("metrics lack the refusals:\n%s\n%s", grepLines(m, "amp_auth_failures"), grepLines(m, "uri-too-long"))
	}
	// The window's count is recorded when it ends or the server stops.
	s.Stop()
	s = testenv.Start(t, dir)
	var logins []audit.Record
	for _, r := range auditRecords(t, s, "&outcome=denied") {
		if r.Action == "login" {
			logins = append(logins, r)
		}
	}
	if len(logins) != 2 {
		t.Fatalf("%d login records for one source and window, want 2 (the first, then the count): %+v", len(logins), logins)
	}
	total := 0
	for _, r := range logins {
		b, _ := json.Marshal(r)
		if len(b) > 4096 || len(r.Enterprises) != 0 || len(r.Paths) != 0 || r.Source != "127.0.0.1" {
			t.Fatalf("login record not bounded or attributed to a tenant (%d bytes): %.600s", len(b), b)
		}
		if strings.Contains(string(b), "amp_forged") {
			t.Fatalf("a presented credential is in the record: %.600s", b)
		}
		n, _ := r.Details["failures"].(float64)
		total += int(n)
	}
	if total != 200 {
		t.Fatalf("the records count %d failures, want 200", total)
	}
	// The tenant named in the attacker's path sees none of it.
	for _, r := range auditRecords(t, s, "", bearerHeader(acme)...) {
		if r.Action == "login" {
			t.Fatalf("acme sees an unauthenticated request's record: %+v", r)
		}
	}
}

// TestHeadWithBodyIsARead (issue 8, medium 6): HEAD is GET without a
// response body; a body sent with it never writes.
func TestHeadWithBodyIsARead(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	slice := "/aether/v2.1.x/acme/site/acme-chicago/slice/headless"
	body := `{"display-name":"Headless","sst":"1","sd":"00BEEF","default-behavior":"DENY-ALL","upf":"upf-1"}`
	code, _, _, err := s.Do(context.Background(), "HEAD", slice, body)
	if err != nil {
		t.Fatal(err)
	}
	if code != 404 {
		t.Fatalf("HEAD of an absent slice with a body: %d, want 404 (a read)", code)
	}
	s.Must(t, 404, "GET", slice, "")
	s.Must(t, 200, "HEAD", "/aether/v2.1.x/acme/site/acme-chicago", "")
	// Every commit is audited: the trail names each transaction.
	s.Must(t, 201, "POST", slice, body)
	recs := auditRecords(t, s, "&path="+slice)
	if len(recs) != 1 || recs[0].Action != "write" || recs[0].Transaction == 0 {
		t.Fatalf("audit of the slice: %+v", recs)
	}
}

// TestAuditNamesPrincipalsThatLookLikeSecrets (issue 8, low): the scrubber
// removes secrets from values, never from identities, so a principal named
// like a token is still attributed.
func TestAuditNamesPrincipalsThatLookLikeSecrets(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	for _, name := range []string{"amp_evil_x", "eyJhbGciOiJub25lIn0"} {
		tok, _ := apiToken(t, s, name, "enterprise-admin", "acme")
		s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1", `{"port":8806}`, bearerHeader(tok)...)
		recs := auditRecords(t, s, "&principal="+name+"@api")
		if len(recs) != 1 || recs[0].Principal != name+"@api" {
			t.Fatalf("principal %s: audit %+v", name, recs)
		}
	}
}

// TestAuditSinceAfterClockStepBack (issue 8, low): records written before
// the wall clock stepped back (here: a trail written an hour "ahead") are
// still found by since=, and pages follow the record sequence.
func TestAuditSinceAfterClockStepBack(t *testing.T) {
	dir := t.TempDir()
	ahead := time.Now().Add(time.Hour)
	trail, err := audit.Open(dir, audit.Options{Now: func() time.Time { return ahead }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := trail.Append(context.Background(), audit.Record{Principal: fmt.Sprintf("before-step-%d", i), Interface: audit.REST,
			Action: "admin", Outcome: audit.Allowed}); err != nil {
			t.Fatal(err)
		}
	}
	if err := trail.Close(); err != nil {
		t.Fatal(err)
	}
	s := testenv.Start(t, dir, "--demo")
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1", `{"port":8806}`) // recorded after the step
	since := ahead.Add(-30 * time.Minute).UTC().Format(time.RFC3339)
	recs := auditRecords(t, s, "&since="+since)
	if len(recs) != 3 || recs[0].Principal != "before-step-2" || recs[2].Principal != "before-step-0" {
		t.Fatalf("since=%s after the clock stepped back: %+v", since, recs)
	}
	// Newest first by sequence, whatever the times say.
	all := auditRecords(t, s, "")
	for i := 1; i < len(all); i++ {
		if all[i].Seq >= all[i-1].Seq {
			t.Fatalf("records out of sequence order: %d after %d", all[i].Seq, all[i-1].Seq)
		}
	}
	if len(all) < 4 || all[0].Principal != "admin" || !all[0].Time.Before(recs[0].Time) {
		t.Fatalf("the newest record is not the write after the step: %+v", all[0])
	}
}

// TestAuditTrailFullRefusesWritesAndRecoversGaps (issue 8, medium 7): when
// the disk holding audit.db is full, writes are refused (503) instead of
// going unrecorded; records still queued when the server is killed are
// re-recorded at the next start, with groups and source address, and a
// restart never records a transaction twice. The fault is real: audit.db
// is a file on a small tmpfs, filled up (root and mount(8) needed).
func TestAuditTrailFullRefusesWritesAndRecoversGaps(t *testing.T) {
	dir := t.TempDir()
	disk := t.TempDir()
	mount(t, "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk)
	dbFile := filepath.Join(dir, audit.FileName)
	for _, f := range []string{filepath.Join(disk, audit.FileName), dbFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mount(t, "--bind", filepath.Join(disk, audit.FileName), dbFile)

	bin := testenv.Binary(t)
	s, err := testenv.StartErr(bin, dir, "--gnmi-listen", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", site)

	fill(t, filepath.Join(disk, "fill"))
	var committed []uint64
	refused := ""
	for i := 0; i < 3000 && refused == ""; i++ {
		path := fmt.Sprintf("/aether/v2.1.x/acme/site/s1/sim-card/sim-%d", i)
		code, b, h, err := s.Do(context.Background(), "POST", path, fmt.Sprintf(`{"imsi":"315010001%06d","display-name":%q}`, i, strings.Repeat("n", 80)))
		switch {
		case err != nil:
			t.Fatal(err)
		case code == 201:
			idx, _ := strconv.ParseUint(h.Get("X-AMP-Transaction-Index"), 10, 64)
			committed = append(committed, idx)
		case code == 503:
			refused = string(b)
			s.Must(t, 404, "GET", path, "") // a refused write changes nothing
		default:
			t.Fatalf("POST %s: %d %s", path, code, b)
		}
	}
	if refused == "" {
		t.Fatalf("%d writes accepted with the audit trail's disk full; want 503 once records cannot be written", len(committed))
	}
	if !strings.Contains(refused, "audit trail") {
		t.Fatalf("503 does not say why: %s", refused)
	}
	// gNMI refuses the write too.
	_, err = gpb.NewGNMIClient(gnmiConn(t, s)).Set(bearer(context.Background(), s.Token), &gpb.SetRequest{
		Prefix: &gpb.Path{Origin: "aether", Target: "acme"}, Update: []*gpb.Update{{
			Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site", Key: map[string]string{"site-id": "s1"}}, {Name: "display-name"}}},
			Val:  &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: "unrecorded"}}}}})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "audit trail") {
		t.Fatalf("a gNMI Set with the audit trail's disk full: %v (want Unavailable naming the audit trail)", err)
	}
	// Killed with records still queued; the disk is freed; the next start
	// re-records what is missing.
	s.Kill()
	if err := os.Remove(filepath.Join(disk, "fill")); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		s, err := testenv.StartErr(bin, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		seen := map[uint64]int{}
		for _, r := range auditRecords(t, s, "") {
			if r.Transaction == 0 {
				continue
			}
			seen[r.Transaction]++
			if len(r.Groups) == 0 || !strings.HasPrefix(r.Source, "127.0.0.1:") || r.Principal != "admin" {
				t.Errorf("record of transaction %d lacks principal, groups or source: %+v", r.Transaction, r)
			}
		}
		for _, idx := range committed {
			if seen[idx] != 1 {
				t.Errorf("transaction %d has %d audit records, want 1", idx, seen[idx])
			}
		}
	}
	check()
	check() // a second start records nothing twice
}

// mount runs mount(8) and unmounts when the test ends.
func mount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v: %s (this test needs root to put audit.db on a small tmpfs)", args, err, out)
	}
	target := args[len(args)-1]
	t.Cleanup(func() { _ = exec.Command("umount", "-l", target).Run() })
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestAuditRetention (issue 8, high 3): the trail keeps at most
// --audit-retain-size bytes of records and nothing older than
// --audit-retain-age, oldest first; a restart does not re-record the
// writes whose records retention dropped.
func TestAuditRetention(t *testing.T) {
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--audit-retain-size", "40000")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", site)
	for i := range 300 {
		s.Must(t, 201, "POST", fmt.Sprintf("/aether/v2.1.x/acme/site/s1/sim-card/sim-%d", i), fmt.Sprintf(`{"imsi":"315010001%06d"}`, i))
	}
	stored := func() float64 {
		v, _ := strconv.ParseFloat(metricOf(t, s, "amp_audit_stored_bytes"), 64)
		return v
	}
	eventually(t, "stored audit records within --audit-retain-size", func() bool { return stored() <= 40000 })
	check := func(s *testenv.Server) {
		t.Helper()
		recs := auditRecords(t, s, "")
		paths := map[string]bool{}
		for _, r := range recs {
			for _, p := range r.Paths {
				paths[p] = true
			}
		}
		if !paths["/aether/v2.1.x/acme/site/s1/sim-card/sim-299"] || paths["/aether/v2.1.x/acme/site/s1/sim-card/sim-0"] || len(recs) >= 300 {
			t.Fatalf("%d records kept; newest kept %v, oldest dropped %v", len(recs),
				paths["/aether/v2.1.x/acme/site/s1/sim-card/sim-299"], !paths["/aether/v2.1.x/acme/site/s1/sim-card/sim-0"])
		}
	}
	check(s)
	s.Stop()
	s = testenv.Start(t, dir, "--audit-retain-size", "40000")
	check(s) // nothing dropped came back as "recovered"

	// By age: records older than --audit-retain-age go.
	s.Stop()
	s = testenv.Start(t, dir, "--audit-retain-age", "1s")
	eventually(t, "no audit record older than --audit-retain-age", func() bool { return len(auditRecords(t, s, "")) == 0 })
}

// metricOf returns the first sample of a metric from /metrics, as text.
func metricOf(t *testing.T, s *testenv.Server, name string) string {
	t.Helper()
	for _, l := range strings.Split(string(s.Must(t, 200, "GET", "/metrics", "")), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	t.Fatalf("no metric %s", name)
	return ""
}

// eventually waits (up to a minute, polling) until cond holds: a bound on
// liveness, not a timing assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within a minute: %s", what)
		}
	}
}

// TestAuditUnauthenticatedGNMI: failed gNMI authentications go through the
// same per-source aggregation as REST's: one record at once, one with the
// count when the window ends, neither naming a tenant.
func TestAuditUnauthenticatedGNMI(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--demo", "--adapters", "none", "--gnmi-listen", "127.0.0.1:0", "--auth-fail-window", "1h"}
	s := testenv.Start(t, dir, args...)
	c := gpb.NewGNMIClient(gnmiConn(t, s))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 30 {
		prefix, p := sitesOf("acme")
		_, err := c.Get(bearer(ctx, fmt.Sprintf("amp_forged%d_secret", i)), &gpb.GetRequest{Prefix: prefix, Path: []*gpb.Path{p}})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("a forged token: %v", err)
		}
	}
	s.Stop()
	s = testenv.Start(t, dir, args...)
	total := 0
	var logins []audit.Record
	for _, r := range auditRecords(t, s, "&outcome=denied") {
		if r.Action == "login" && r.Interface == audit.GNMI {
			logins = append(logins, r)
			n, _ := r.Details["failures"].(float64)
			total += int(n)
		}
	}
	if len(logins) != 2 || total != 30 {
		t.Fatalf("%d gNMI login records counting %d failures, want 2 counting 30: %+v", len(logins), total, logins)
	}
	for _, r := range logins {
		if len(r.Enterprises) != 0 || strings.Contains(fmt.Sprint(r), "amp_forged") {
			t.Fatalf("a gNMI login record names a tenant or the credential: %+v", r)
		}
	}
}
