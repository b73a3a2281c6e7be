package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/prometheus"
)

// webhook records the Alertmanager notifications posted to it.
type webhook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []amNotification
}

type amNotification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status   string            `json:"status"`
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
	} `json:"alerts"`
	received time.Time
}

func newWebhook(t testing.TB) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var n amNotification
		if err := json.NewDecoder(r.Body).Decode(&n); err == nil {
			n.received = time.Now()
			w.mu.Lock()
			w.got = append(w.got, n)
			w.mu.Unlock()
		}
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// saw reports whether a notification of status about alert arrived.
func (w *webhook) saw(status, alert string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.got {
		for _, a := range n.Alerts {
			if a.Status == status && a.Labels["alertname"] == alert {
				return true
			}
		}
	}
	return false
}

func (w *webhook) all() []amNotification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]amNotification(nil), w.got...)
}

// TestMonitorAlertsReachTheirEnterprise: through the real binary, on a
// real Prometheus and Alertmanager: acme and starbucks each declare a
// webhook receiver, a route and the book's SingleEdgeConnectTestFailing
// over amp_edge_probe_ok (with a test's short `for`); acme's user-plane
// probe fails → the alert reaches acme's webhook, never starbucks' (whose
// identical rule sees only starbucks' healthy series); the probe recovers
// → resolved. AMP reports the rules applied only once Prometheus runs
// them, and acme sees only its own objects' status.
func TestMonitorAlertsReachTheirEnterprise(t *testing.T) {
	acmeHook, sbHook := newWebhook(t), newWebhook(t)

	// The tiny exporter: the probes' metric, labelled as the probes
	// label it, acme's value under the test's control.
	var acmeOK atomic.Int32
	acmeOK.Store(1)
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE amp_edge_probe_ok gauge\n")
		fmt.Fprintf(w, "amp_edge_probe_ok{probe=\"user-plane\",cluster=\"acme-chicago-ace\",site=\"acme-chicago\",enterprise=\"acme\"} %d\n", acmeOK.Load())
		fmt.Fprintf(w, "amp_edge_probe_ok{probe=\"user-plane\",cluster=\"starbucks-seattle-ace\",site=\"starbucks-seattle\",enterprise=\"starbucks\"} 1\n")
	}))
	defer exporter.Close()

	rulesDir := t.TempDir()
	amConfig := filepath.Join(t.TempDir(), "alertmanager.yml")
	// Alertmanager needs a configuration to start; AMP replaces it.
	os.WriteFile(amConfig, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o644)
	am := prometheus.StartAlertmanager(t, amConfig)
	prom := prometheus.StartPrometheus(t, prometheus.PrometheusOptions{
		RulesDir: rulesDir, Alertmanagers: []string{strings.TrimPrefix(am.URL, "http://")},
		Scrape: []string{strings.TrimPrefix(exporter.URL, "http://")},
	})

	s := testenv.Start(t, t.TempDir(), "--demo", "--demo-backends=false", "--adapters", "none", "--probe-every", "500ms",
		"--prometheus-rules-dir", rulesDir, "--prometheus-url", prom.URL,
		"--alertmanager-config", amConfig, "--alertmanager-url", am.URL,
		"--promtool", prometheus.Tool(t, "promtool"), "--amtool", prometheus.Tool(t, "amtool"),
		"--alert-webhook-allow", "127.0.0.1") // the test's receivers listen on loopback
	acme, _ := apiToken(t, s, "acme-admin", "enterprise-admin", "acme")
	sb, _ := apiToken(t, s, "sb-admin", "enterprise-admin", "starbucks")

	for _, ent := range []struct{ name, token, hook, site string }{{"acme", acme, acmeHook.srv.URL, "acme-chicago"}, {"starbucks", sb, sbHook.srv.URL, "starbucks-seattle"}} {
		base := "/monitor/v1.0.0/" + ent.name
		as := []string{"Authorization", "Bearer " + ent.token}
		s.Must(t, 201, "POST", base+"/receiver/ops", fmt.Sprintf(`{"webhook":{"url":%q}}`, ent.hook), as...)
		s.Must(t, 201, "POST", base+"/route/all", `{"receiver":"ops","group-wait":"1s","group-interval":"1s","repeat-interval":"1h","continue":true}`, as...)
		s.Must(t, 201, "POST", base+"/alert-rule/connect", `{"alert":"SingleEdgeConnectTestFailing","expr":"amp_edge_probe_ok{probe=\"user-plane\"} < 1","for":"2s","severity":"critical",
			"site":["`+ent.site+`"],"annotation":[{"name":"summary","value":"{{ $labels.site }} cannot reach the Internet"}]}`, as...)
	}

	// acme's chat: a Slack-compatible webhook whose URL is a secret, set
	// apart from the configuration and never answered back.
	var chatMu sync.Mutex
	var chatPosts []string
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		chatMu.Lock()
		chatPosts = append(chatPosts, string(b))
		chatMu.Unlock()
	}))
	defer chat.Close()
	chatURL := chat.URL + "/hooks/T0/B0/secret-token"
	acmeAuth := []string{"Authorization", "Bearer " + acme}
	s.Must(t, 404, "PUT", "/monitor/secrets/acme/chat-url", `{"secret":"https://evil.example/x"}`, "Authorization", "Bearer "+sb)
	// A secret URL is a receiver's target too: the metadata service is refused.
	if b := s.Must(t, 400, "PUT", "/monitor/secrets/acme/meta", `{"secret":"http://169.254.169.254/latest/"}`, acmeAuth...); !strings.Contains(string(b), "/secret") || !strings.Contains(string(b), "link-local") {
		t.Fatalf("a secret aimed at the metadata service: %s", b)
	}
	// Set through the CLI, from stdin, as acme's admin.
	set := exec.Command(testenv.Binary(t), "monitor", "secret", "set", "chat-url", "-e", "acme", "--token", acme)
	set.Env = s.Env()
	set.Stdin = strings.NewReader(chatURL + "\n")
	if out, err := set.CombinedOutput(); err != nil || !strings.Contains(string(out), "secret chat-url of acme set") || strings.Contains(string(out), "secret-token") {
		t.Fatalf("amp monitor secret set: %v\n%s", err, out)
	}
	if b := s.Must(t, 404, "GET", "/monitor/secrets/acme/chat-url", "", acmeAuth...); strings.Contains(string(b), "secret-token") {
		t.Fatalf("a secret answered back: %s", b)
	}
	s.Must(t, 201, "POST", "/monitor/v1.0.0/acme/receiver/chat", `{"slack":{"url-secret":"chat-url","channel":"#noc"}}`, acmeAuth...)
	s.Must(t, 201, "POST", "/monitor/v1.0.0/acme/route/chat", `{"receiver":"chat","group-wait":"1s","group-interval":"1s","repeat-interval":"1h"}`, acmeAuth...)
	if b := s.Must(t, 200, "GET", "/monitor/v1.0.0/acme", "", acmeAuth...); strings.Contains(string(b), "secret-token") {
		t.Fatalf("the secret is in the configuration: %s", b)
	}

	// Applied means running: the sync status turns in-sync only after
	// Prometheus and Alertmanager read the files back.
	waitWithin(t, 60*time.Second, func() bool {
		var st struct{ Summary map[string]int }
		json.Unmarshal(s.Must(t, 200, "GET", "/sync-status?adapter=monitor", ""), &st)
		return st.Summary["in-sync"] == 4 // the pack, two enterprises' rules, Alertmanager
	}, "the monitor objects in sync")
	var rules struct {
		Data struct {
			Groups []struct {
				Name  string
				Rules []struct{ Name, Query string }
			}
		}
	}
	fetchJSON(t, prom.URL+"/api/v1/rules", &rules)
	queries := map[string]string{}
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			queries[g.Name+"/"+r.Name] = r.Query
		}
	}
	if q := queries["amp/enterprise/acme/SingleEdgeConnectTestFailing"]; q != `amp_edge_probe_ok{enterprise="acme",probe="user-plane",site=~"acme-chicago"} < 1` {
		t.Fatalf("acme's rule as Prometheus runs it: %q (all: %v)", q, queries)
	}
	if _, ok := queries["amp/pack/SingleEdgeTestNotReporting"]; !ok {
		t.Fatalf("the predefined pack is not loaded: %v", queries)
	}
	// acme sees the status of its own rules only.
	var acmeStatus struct {
		Objects []struct{ ID string }
	}
	json.Unmarshal(s.Must(t, 200, "GET", "/sync-status?adapter=monitor", "", "Authorization", "Bearer "+acme), &acmeStatus)
	if len(acmeStatus.Objects) != 1 || acmeStatus.Objects[0].ID != "rules/acme" {
		t.Fatalf("acme's view of the sync status: %+v", acmeStatus.Objects)
	}

	acmeOK.Store(0)
	failed := time.Now()
	waitWithin(t, 60*time.Second, func() bool { return acmeHook.saw("firing", "SingleEdgeConnectTestFailing") }, "acme's webhook gets the alert")
	// A figure for the record, not an assertion: the rule's for (2s)
	// plus a scrape (1 s here), an evaluation (AMP's rule groups: every 2 s) and
	// the route's group_wait (1 s); BenchmarkAlertLatency measures the default chain.
	t.Logf("probe failure to webhook delivery: %v (for: 2s)", time.Since(failed).Round(100*time.Millisecond))
	waitWithin(t, 60*time.Second, func() bool {
		chatMu.Lock()
		defer chatMu.Unlock()
		return len(chatPosts) > 0 && strings.Contains(chatPosts[0], "SingleEdgeConnectTestFailing") && strings.Contains(chatPosts[0], "#noc")
	}, "acme's chat gets the alert through its secret URL")
	acmeOK.Store(1)
	waitWithin(t, 60*time.Second, func() bool { return acmeHook.saw("resolved", "SingleEdgeConnectTestFailing") }, "acme's webhook gets the resolution")
	for _, n := range acmeHook.all() {
		for _, a := range n.Alerts {
			if a.Labels["enterprise"] != "acme" || a.Labels["site"] != "acme-chicago" {
				t.Fatalf("acme received an alert not about acme-chicago: %v", a.Labels)
			}
		}
	}
	if got := sbHook.all(); len(got) != 0 {
		t.Fatalf("starbucks received acme's alert: %+v", got)
	}

	// A silence made through AMP mutes acme's alert in Alertmanager.
	asAcme, asSB := []string{"Authorization", "Bearer " + acme}, []string{"Authorization", "Bearer " + sb}
	code, b, _, _ := s.Do(t.Context(), "POST", "/monitor/silences/acme", `{"matchers":[{"name":"enterprise","value":"starbucks","isRegex":false}],"duration":"1h","comment":"x"}`, asAcme...)
	if code != 400 || !strings.Contains(string(b), "/matchers/0/name") {
		t.Fatalf("a silence naming another enterprise: %d %s", code, b)
	}
	var sil struct{ ID string }
	// Added through the CLI as acme's admin, read back through REST.
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(testenv.Binary(t), append(args, "-e", "acme", "--token", acme)...)
		cmd.Env = s.Env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("amp %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := cli("monitor", "silence", "add", "--match", "alertname=SingleEdgeConnectTestFailing", "--match", "site=~acme-.*", "--duration", "1h", "--comment", "maintenance at acme-chicago")
	id, _, _ := strings.Cut(strings.TrimPrefix(out, "silence "), " ")
	var listed []struct {
		ID       string
		Matchers []struct {
			Name, Value string
			IsRegex     bool
		}
	}
	json.Unmarshal(s.Must(t, 200, "GET", "/monitor/silences/acme", "", asAcme...), &listed)
	if len(listed) != 1 || listed[0].ID != id || len(listed[0].Matchers) != 3 || !listed[0].Matchers[1].IsRegex || listed[0].Matchers[2].Name != "enterprise" || listed[0].Matchers[2].Value != "acme" {
		t.Fatalf("the silence as created (%s): %+v", out, listed)
	}
	sil.ID = id
	if out := cli("monitor", "silence", "list"); !strings.Contains(out, id) || !strings.Contains(out, "site=~acme-.*") || !strings.Contains(out, "enterprise=acme") {
		t.Fatalf("amp monitor silence list:\n%s", out)
	}
	// starbucks neither sees nor expires it (as a missing silence).
	if b := s.Must(t, 200, "GET", "/monitor/silences/starbucks", "", asSB...); strings.TrimSpace(string(b)) != "[]" {
		t.Fatalf("starbucks sees silences: %s", b)
	}
	s.Must(t, 404, "DELETE", "/monitor/silences/starbucks/"+sil.ID, "", asSB...)
	// and acme cannot tell starbucks' silences from a missing enterprise's.
	for _, c := range []struct{ method, path string }{{"GET", ""}, {"POST", ""}, {"DELETE", "/" + sil.ID}} {
		body := ""
		if c.method == "POST" {
			body = `{"duration":"1h","comment":"x"}`
		}
		theirs, b1, _, _ := s.Do(t.Context(), c.method, "/monitor/silences/starbucks"+c.path, body, asAcme...)
		none, b2, _, _ := s.Do(t.Context(), c.method, "/monitor/silences/nosuch"+c.path, body, asAcme...)
		if theirs != 404 || none != 404 || strings.ReplaceAll(string(b1), "starbucks", "nosuch") != string(b2) {
			t.Fatalf("%s starbucks' silences as acme: %d %s; a missing enterprise's: %d %s", c.method, theirs, b1, none, b2)
		}
	}
	if b := s.Must(t, 200, "GET", "/monitor/silences/acme", "", asAcme...); !strings.Contains(string(b), sil.ID) {
		t.Fatalf("acme's silences: %s", b)
	}
	firing := func() int {
		n := 0
		for _, x := range acmeHook.all() {
			if x.Status == "firing" {
				n++
			}
		}
		return n
	}
	before := firing()
	acmeOK.Store(0)
	waitWithin(t, 60*time.Second, func() bool {
		var alerts []struct {
			Labels map[string]string
			Status struct {
				State      string
				SilencedBy []string
			}
		}
		fetchJSON(t, am.URL+"/api/v2/alerts", &alerts)
		for _, a := range alerts {
			if a.Labels["alertname"] == "SingleEdgeConnectTestFailing" && a.Status.State == "suppressed" && len(a.Status.SilencedBy) == 1 && a.Status.SilencedBy[0] == sil.ID {
				return true
			}
		}
		return false
	}, "Alertmanager holds acme's alert silenced")
	if firing() != before {
		t.Fatalf("the silenced alert was still delivered: %+v", acmeHook.all())
	}
	// Expired through AMP, the alert is delivered again; both writes are
	// audited.
	if out := cli("monitor", "silence", "expire", sil.ID); !strings.Contains(out, "silence "+sil.ID+" expired") {
		t.Fatalf("amp monitor silence expire: %s", out)
	}
	waitWithin(t, 60*time.Second, func() bool { return firing() > before }, "the alert is delivered once the silence expired")
	audit := string(s.Must(t, 200, "GET", "/audit?limit=1000", ""))
	if strings.Count(audit, "/monitor/silences/acme/"+sil.ID) < 2 {
		t.Fatalf("the silence's creation and expiry are not both audited: %s", audit)
	}
}

// TestMonitorRefusesBadRulesAndIsolates: a rule Prometheus could not run,
// or one reaching for another enterprise's series, is refused at commit
// with its path and the parser's reason, and nothing is written; an
// enterprise cannot tell another's rules and receivers from missing ones.
// With Prometheus down a change stays in error, its file kept, until
// Prometheus is back and runs it.
func TestMonitorRefusesBadRulesAndIsolates(t *testing.T) {
	rulesDir := t.TempDir()
	prom := prometheus.StartPrometheus(t, prometheus.PrometheusOptions{RulesDir: rulesDir})
	amConfig := filepath.Join(t.TempDir(), "alertmanager.yml")
	os.WriteFile(amConfig, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o644)
	am := prometheus.StartAlertmanager(t, amConfig)
	s := testenv.Start(t, t.TempDir(), "--demo", "--demo-backends=false", "--adapters", "none", "--probe-every", "500ms",
		"--prometheus-rules-dir", rulesDir, "--prometheus-url", prom.URL, "--promtool", prometheus.Tool(t, "promtool"),
		"--alertmanager-config", amConfig, "--alertmanager-url", am.URL, "--alert-webhook-allow", "127.0.0.1")
	acme, _ := apiToken(t, s, "acme-admin", "enterprise-admin", "acme")
	as := []string{"Authorization", "Bearer " + acme}
	base, recv := "/monitor/v1.0.0/acme/alert-rule/", "/monitor/v1.0.0/acme/receiver/"
	s.Must(t, 201, "POST", base+"good", `{"alert":"ProbeDown","expr":"amp_edge_probe_ok < 1"}`, as...)
	file := filepath.Join(rulesDir, "amp-enterprise-acme.rules.yml")
	waitWithin(t, 60*time.Second, func() bool {
		b, err := os.ReadFile(file)
		return err == nil && strings.Contains(string(b), "ProbeDown")
	}, "acme's rule file written")
	before, _ := os.ReadFile(file)
	txBefore := s.Must(t, 200, "GET", "/amp/transactions?limit=1", "")

	for _, c := range []struct{ body, path, reason string }{
		{`{"alert":"Bad","expr":"amp_edge_probe_ok{"}`, base + "bad/expr", "not a valid rule expression"},
		{`{"alert":"Bad","expr":"rate(amp_edge_probe_ok[5m]) > 0 or amp_edge_probe_ok{enterprise=\"starbucks\"}"}`, base + "bad/expr", `the enterprise label is set by AMP to "acme"`},
		{`{"alert":"Bad","expr":"up","for":"5m1h"}`, base + "bad/for", "not a Prometheus duration"},
		{`{"alert":"Bad","expr":"up","label":[{"name":"enterprise","value":"starbucks"}]}`, base + "bad/label/enterprise/name", "reserved"},
		// Receivers: a malformed URL, and addresses on Alertmanager's own
		// network that --alert-webhook-allow (127.0.0.1 here) does not
		// open: the cloud's metadata service, another loopback address,
		// the host by name, a private network, an SMTP relay on loopback.
		{`receiver:{"webhook":{"url":"http:///hook"}}`, recv + "bad/webhook/url", "not an http:// or https:// URL with a host"},
		{`receiver:{"webhook":{"url":"http://169.254.169.254/latest/meta-data/"}}`, recv + "bad/webhook/url", "169.254.169.254 is a link-local (cloud metadata) address"},
		{`receiver:{"webhook":{"url":"http://127.0.0.2:9093/api/v2/silences"}}`, recv + "bad/webhook/url", "127.0.0.2 is a loopback address"},
		{`receiver:{"webhook":{"url":"http://localhost:9090/-/quit"}}`, recv + "bad/webhook/url", "names the host itself"},
		{`receiver:{"webhook":{"url":"http://10.0.0.1/hook"}}`, recv + "bad/webhook/url", "private"},
		{`receiver:{"email":{"to":"a@acme.example","from":"amp@acme.example","smarthost":"127.0.0.53:25"}}`, recv + "bad/email/smarthost", "loopback"},
	} {
		target, body := base+"bad", c.body
		if b, ok := strings.CutPrefix(body, "receiver:"); ok {
			target, body = recv+"bad", b
		}
		code, b, _, err := s.Do(t.Context(), "POST", target, body, as...)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Errors []struct{ Path, Reason string }
		}
		json.Unmarshal(b, &p)
		if code != 400 || len(p.Errors) != 1 || p.Errors[0].Path != c.path || !strings.Contains(p.Errors[0].Reason, c.reason) {
			t.Fatalf("POST %s: %d %s; want 400 at %s saying %q", c.body, code, b, c.path, c.reason)
		}
	}
	// A site is one of the enterprise's own: starbucks' reads as missing.
	if code, b, _, _ := s.Do(t.Context(), "POST", base+"bad", `{"alert":"Bad","expr":"up","site":["starbucks-seattle"]}`, as...); code != 409 ||
		!strings.Contains(string(b), base+"bad/site") || !strings.Contains(string(b), "does not exist") {
		t.Fatalf("a rule on another enterprise's site: %d %s", code, b)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Fatalf("a refused rule changed the rule file:\n%s", after)
	}
	if txAfter := s.Must(t, 200, "GET", "/amp/transactions?limit=1", ""); string(txAfter) != string(txBefore) {
		t.Fatalf("a refused rule was committed: %s", txAfter)
	}

	// Prometheus down: a change is committed and its file kept, the
	// object shows the error, and it is applied once Prometheus is back.
	prom.Kill()
	s.Must(t, 201, "POST", base+"later", `{"alert":"ProbeStillDown","expr":"amp_edge_probe_ok < 1","for":"1h"}`, as...)
	status := func() (state, msg string) {
		var st struct {
			Objects []struct{ ID, Status, Message string }
		}
		json.Unmarshal(s.Must(t, 200, "GET", "/sync-status?adapter=monitor", "", as...), &st)
		for _, o := range st.Objects {
			if o.ID == "rules/acme" {
				return o.Status, o.Message
			}
		}
		return "", ""
	}
	waitWithin(t, 60*time.Second, func() bool { st, msg := status(); return st == "error" && strings.Contains(msg, "reload") }, "acme's rules in error while Prometheus is down")
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), "ProbeStillDown") {
		t.Fatalf("the rendered file was not kept while Prometheus was down:\n%s", b)
	}
	prom = prometheus.StartPrometheus(t, prometheus.PrometheusOptions{RulesDir: rulesDir, Port: strings.TrimPrefix(prom.URL, "http://127.0.0.1:")})
	waitWithin(t, 60*time.Second, func() bool { st, _ := status(); return st == "in-sync" }, "acme's rules applied once Prometheus is back")
	var rules struct {
		Data struct{ Groups []struct{ Name string } }
	}
	fetchJSON(t, prom.URL+"/api/v1/rules", &rules)
	if len(rules.Data.Groups) != 2 {
		t.Fatalf("Prometheus runs %+v", rules.Data.Groups)
	}

	// Alertmanager down: the same for the receivers. The object is in
	// error naming the reload, and stays so (never in sync) while AMP
	// retries; the file keeps the new receiver; Alertmanager restarted
	// on its port runs it without anyone touching AMP.
	amObject := func() (state, msg string) {
		var st struct {
			Objects []struct{ ID, Status, Message string }
		}
		json.Unmarshal(s.Must(t, 200, "GET", "/sync-status?adapter=monitor", ""), &st)
		for _, o := range st.Objects {
			if o.ID == "alertmanager" {
				return o.Status, o.Message
			}
		}
		return "", ""
	}
	waitWithin(t, 60*time.Second, func() bool { st, _ := amObject(); return st == "in-sync" }, "the Alertmanager configuration in sync")
	am.Kill()
	s.Must(t, 201, "POST", recv+"late", `{"webhook":{"url":"http://127.0.0.1:9/late"}}`, as...)
	waitWithin(t, 60*time.Second, func() bool { st, msg := amObject(); return st == "error" && strings.Contains(msg, "reload") }, "the Alertmanager object in error while it is down")
	failedReloads := `amp_monitor_reloads_total{result="error",target="alertmanager"}`
	retried := metricValue(t, s, failedReloads)
	waitWithin(t, 60*time.Second, func() bool { return metricValue(t, s, failedReloads) > retried }, "AMP retrying the reload")
	if st, msg := amObject(); st != "error" {
		t.Fatalf("Alertmanager is down but its object is %s: %s", st, msg)
	}
	if b, _ := os.ReadFile(amConfig); !strings.Contains(string(b), "acme/late") {
		t.Fatalf("the rendered configuration was not kept while Alertmanager was down:\n%s", b)
	}
	am = prometheus.StartAlertmanagerOn(t, amConfig, strings.TrimPrefix(am.URL, "http://127.0.0.1:"))
	waitWithin(t, 60*time.Second, func() bool { st, _ := amObject(); return st == "in-sync" }, "the Alertmanager configuration applied once it is back")
	var amStatus struct{ Config struct{ Original string } }
	fetchJSON(t, am.URL+"/api/v2/status", &amStatus)
	if !strings.Contains(amStatus.Config.Original, "acme/late") {
		t.Fatalf("Alertmanager back runs %s", amStatus.Config.Original)
	}

	// Starbucks' objects read as missing ones do, to acme's admin.
	s.Must(t, 201, "POST", "/monitor/v1.0.0/starbucks/receiver/ops", `{"webhook":{"url":"http://127.0.0.1:9/hook"}}`)
	s.Must(t, 201, "POST", "/monitor/v1.0.0/starbucks/alert-rule/r1", `{"alert":"X","expr":"up"}`)
	for _, p := range []string{"/receiver/ops", "/alert-rule/r1", "/receiver", "/alert-rule"} {
		for _, method := range []string{"GET", "PATCH", "DELETE"} {
			body := ""
			if method == "PATCH" {
				body = `{}`
			}
			theirs, b1, _, _ := s.Do(t.Context(), method, "/monitor/v1.0.0/starbucks"+p, body, as...)
			none, b2, _, _ := s.Do(t.Context(), method, "/monitor/v1.0.0/nosuch"+p, body, as...)
			if theirs != 404 || theirs != none {
				t.Fatalf("%s starbucks%s as acme: %d %s; a missing enterprise: %d %s", method, p, theirs, b1, none, b2)
			}
		}
	}
	s.Must(t, 200, "GET", "/monitor/v1.0.0/starbucks/receiver/ops", "") // still there, for the operator
}

func fetchJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}
