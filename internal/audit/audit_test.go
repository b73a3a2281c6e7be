package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

func rec(principal, outcome string, paths ...string) Record {
	return Record{Principal: principal, Groups: []string{"g"}, Via: "oidc", Source: "10.0.0.7:51234", Interface: REST,
		Action: "write", Method: "PATCH", Paths: paths, Outcome: outcome}
}

// testSchema is Aether plus the test sets lab (global scope) and workload
// (tenant scope), which the trail classifies paths against.
func testSchema(t *testing.T) *schema.Schema {
	t.Helper()
	sch, err := schema.Load(models.FS, os.DirFS("../../test/testdata/models"))
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// TestRecordNamesSetScopeTenant: a record names the model sets its paths
// touch with their scope, and the tenants; a global set's object has none.
func TestRecordNamesSetScopeTenant(t *testing.T) {
	l, err := Open(t.TempDir(), Options{Logger: slog.New(slog.DiscardHandler), Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	both, err := l.Append(ctx, rec("olivia", Allowed, "/lab/v1.0.0/rack/r1", "/aether/v2.1.x/acme/site/s1", "/workload/v1.0.0/acme/app/a1", "/lab/v1.0.0/rack/r2"))
	if err != nil {
		t.Fatal(err)
	}
	want := []SetRef{{"lab", "1.0.0", "global"}, {"aether", "2.1.x", "tenant"}, {"workload", "1.0.0", "tenant"}}
	if !reflect.DeepEqual(both.Sets, want) || !reflect.DeepEqual(both.Enterprises, []string{"acme"}) {
		t.Fatalf("sets %+v, enterprises %v", both.Sets, both.Enterprises)
	}
	global, err := l.Append(ctx, rec("olivia", Allowed, "/lab/v1.0.0/rack/r1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(global.Enterprises) != 0 || !reflect.DeepEqual(global.Sets, want[:1]) {
		t.Fatalf("global object: sets %+v, enterprises %v", global.Sets, global.Enterprises)
	}
	// Filtering by tenant finds the record that touched the tenant only.
	got, err := l.Query(Filter{Enterprise: "acme"})
	if err != nil || len(got) != 1 || got[0].Seq != both.Seq {
		t.Fatalf("enterprise=acme: %+v %v", got, err)
	}
}

func TestAppendQueryRestart(t *testing.T) {
	dir := t.TempDir()
	var logBuf bytes.Buffer
	reg := prometheus.NewRegistry()
	l, err := Open(dir, Options{Logger: slog.New(slog.NewJSONHandler(&logBuf, nil)), Registerer: reg, Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	acme := "/aether/v2.1.x/acme/site/s1/device/d1"
	sb := "/aether/v2.1.x/starbucks/site/s2"
	r1, err := l.Append(ctx, Record{Principal: "alice", Groups: []string{"acme-admin"}, Interface: REST, Action: "write",
		Paths: []string{acme}, Transaction: 7, Outcome: Allowed, Source: "127.0.0.1:5000"})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Seq != 1 || r1.Time.IsZero() || len(r1.Enterprises) != 1 || r1.Enterprises[0] != "acme" {
		t.Fatalf("appended %+v", r1)
	}
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	for _, r := range []Record{
		rec("alice", Denied, sb),
		rec("mallory", Denied, acme),
		rec("olivia", Allowed, "/enterprises/starbucks"),
		{Principal: "olivia", Interface: CLI, Action: "login", Outcome: Allowed},
		rec("bot", Error, "/state/aether/v2.1.x/acme/upf/u1"),
	} {
		if _, err := l.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(ctx, Record{Principal: "x", Outcome: "maybe"}); err == nil {
		t.Fatal("bad outcome accepted")
	}
	check := func(l *Log, f Filter, want ...uint64) {
		t.Helper()
		got, err := l.Query(f)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, r := range got {
			seqs = append(seqs, r.Seq)
		}
		if len(seqs) != len(want) {
			t.Fatalf("%+v: got %v, want %v", f, seqs, want)
		}
		for i := range want {
			if seqs[i] != want[i] {
				t.Fatalf("%+v: got %v, want %v", f, seqs, want)
			}
		}
	}
	checkAll := func(l *Log) {
		check(l, Filter{}, 6, 5, 4, 3, 2, 1) // newest first
		check(l, Filter{Principal: "alice"}, 2, 1)
		check(l, Filter{Enterprise: "acme"}, 6, 3, 1)
		check(l, Filter{Enterprise: "starbucks"}, 4, 2)
		check(l, Filter{PathPrefix: "/aether/v2.1.x/acme"}, 3, 1)
		check(l, Filter{PathPrefix: "/aether/v2.1.x/acme/site/s1/"}, 3, 1)
		check(l, Filter{PathPrefix: "/aether/v2.1.x/ac"}) // prefix means path segments
		check(l, Filter{Since: mid}, 6, 5, 4, 3, 2)
		check(l, Filter{Until: mid}, 1)
		check(l, Filter{Outcome: Denied}, 3, 2)
		check(l, Filter{Limit: 2}, 6, 5)
		check(l, Filter{Principal: "olivia", Limit: -1}, 5, 4)
	}
	checkAll(l)
	// A caller-rights predicate (e.g. the policy on the record's paths).
	got, err := l.Query(Filter{}, func(r *Record) bool { return r.Principal == "mallory" })
	if err != nil || len(got) != 1 || got[0].Seq != 3 {
		t.Fatalf("keep: %+v %v", got, err)
	}
	counts := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "amp_audit_records_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			counts[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if counts[Allowed] != 3 || counts[Denied] != 2 || counts[Error] != 1 {
		t.Fatalf("amp_audit_records_total %v", counts)
	}
	// Structured log events.
	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d log events:\n%s", len(lines), logBuf.String())
	}
	var ev struct {
		Msg   string `json:"msg"`
		Audit Record `json:"audit"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil || ev.Msg != "audit" || ev.Audit.Principal != "alice" ||
		ev.Audit.Transaction != 7 || ev.Audit.Source != "127.0.0.1:5000" || ev.Audit.Outcome != Allowed {
		t.Fatalf("log event %s: %+v %v", lines[0], ev, err)
	}

	// Restart: everything is still there, and numbering continues.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, Options{Logger: slog.New(slog.DiscardHandler), Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkAll(l)
	r7, err := l.Append(ctx, rec("alice", Allowed, "/aether/v2.1.x/acme"))
	if err != nil || r7.Seq != 7 {
		t.Fatalf("after restart: %+v %v", r7, err)
	}
	if n, _ := l.Len(); n != 7 {
		t.Fatalf("len %d", n)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
}

func TestScrub(t *testing.T) {
	apiTok := "amp_0123456789ab_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
	jwtTok := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	secrets := []string{apiTok, jwtTok, "hunter2", "s3cr3t-val", "0x465B5CE8B199B49FAA5F0A2EE238A6BC", "ldap-admin-pw", "sesame"}
	r := Record{
		Principal: "alice",
		Source:    "10.1.2.3:4444",
		Interface: REST,
		Action:    "login",
		Reason: "bad token " + apiTok + " and Authorization: Bearer " + jwtTok + "; password=hunter2, " +
			`{"client_secret":"s3cr3t-val"} url ldap://admin:ldap-admin-pw@127.0.0.1`,
		Paths:   []string{"/aether/v2.1.x/acme/sim-card/s1", "/x?token=" + apiTok},
		Outcome: Denied,
		Details: map[string]any{
			"sim-key":  "0x465B5CE8B199B49FAA5F0A2EE238A6BC",
			"Password": "hunter2",
			"nested":   map[string]any{"api_token": apiTok, "list": []any{"ok", jwtTok}, "note": "pass phrase: open-door"},
			"headers":  map[string]string{"Authorization": "Basic c2VzYW1l", "X-Api-Key": "sesame"},
			"count":    3,
		},
	}
	dir := t.TempDir()
	var logBuf bytes.Buffer
	l, err := Open(dir, Options{Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Append(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := json.Marshal(got)
	for _, s := range secrets {
		for what, b := range map[string][]byte{"file": raw, "record": stored, "log": logBuf.Bytes()} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret %q found in the %s", s, what)
			}
		}
	}
	// The rest survives.
	if got.Principal != "alice" || got.Paths[0] != "/aether/v2.1.x/acme/sim-card/s1" || got.Details["count"] != 3 ||
		!strings.Contains(got.Reason, "bad token "+Redacted) || !strings.Contains(got.Reason, "Bearer "+Redacted) {
		t.Errorf("over-scrubbed: %+v", got)
	}
	// The caller's record is not modified.
	if r.Details["Password"] != "hunter2" {
		t.Error("Append modified its argument")
	}
}

func TestScrubString(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "",
		"plain text /aether/v2.1.x/acme":     "plain text /aether/v2.1.x/acme",
		"Bearer abc.def":                     "Bearer " + Redacted,
		"secret: xyz":                        "secret: " + Redacted,
		"SIM_KEY=00112233":                   "SIM_KEY=" + Redacted,
		"amp_abcdef012345_zzz":               Redacted,
		"see eyJhbGciOi.eyJzdWIi.sig for it": "see " + Redacted + " for it",
		"https://u:pw@host/x":                "https://u:" + Redacted + "@host/x",
		"group acme-admin may write acme/s1": "group acme-admin may write acme/s1",
	} {
		if got := ScrubString(in); got != want {
			t.Errorf("ScrubString(%q) = %q, want %q", in, got, want)
		}
	}
}
