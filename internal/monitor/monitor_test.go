package monitor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv/prometheus"
)

func TestRestrictInjectsTheEnterpriseEverywhere(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`up`, `up{enterprise="acme"}`},
		{`amp_edge_probe_ok{probe="user-plane"} < 1`, `amp_edge_probe_ok{enterprise="acme",probe="user-plane"} < 1`},
		{`sum by (site) (rate(x_total{enterprise="acme"}[5m]))`, `sum by (site) (rate(x_total{enterprise="acme"}[5m]))`},
		{`max_over_time(a[1h:5m]) or on() vector(0) + b`, `max_over_time(a{enterprise="acme"}[1h:5m]) or on () vector(0) + b{enterprise="acme"}`},
		{`label_replace(a, "enterprise", "starbucks", "", "")`, `label_replace(a{enterprise="acme"}, "enterprise", "starbucks", "", "")`},
		{`{__name__=~".+"}`, `{__name__=~".+",enterprise="acme"}`},
	} {
		got, err := Restrict(c.in, "acme")
		if err != nil || got != c.want {
			t.Errorf("Restrict(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if got, err := Restrict(`sum by (site) (a{site!="x"})`, "acme", "acme-chicago", "acme.lab"); err != nil || got != `sum by (site) (a{enterprise="acme",site!="x",site=~"acme-chicago|acme\\.lab"})` {
		t.Errorf("Restrict to two sites = %q, %v", got, err)
	}
	for _, in := range []string{`a{enterprise="starbucks"}`, `a{enterprise=~"acme|starbucks"}`, `a{enterprise!="acme"}`, `b + a{enterprise=~".*"}`, `a{`} {
		if got, err := Restrict(in, "acme"); err == nil {
			t.Errorf("Restrict(%q) = %q, want a refusal", in, got)
		}
	}
}

// TestRenderedFilesPassTheRealTools: what AMP renders (and the pack) is
// what promtool and amtool accept.
func TestRenderedFilesPassTheRealTools(t *testing.T) {
	promtool, amtool := prometheus.Tool(t, "promtool"), prometheus.Tool(t, "amtool")
	acme := Alerting{Tenant: "acme",
		Rules: []Rule{{ID: "connect", Alert: "SingleEdgeConnectTestFailing", Expr: `amp_edge_probe_ok{probe="user-plane"} < 1`, For: "10m", Severity: "critical", Enabled: true,
			Labels: map[string]string{"team": "net"}, Annotations: map[string]string{"summary": "{{ $labels.site }} is down"}},
			{ID: "off", Alert: "Off", Expr: "up", Enabled: false}},
		Receivers: []Receiver{{ID: "ops", WebhookURL: "https://hooks.example/amp", SendResolved: true},
			{ID: "mail", Email: &Email{To: "noc@acme.example", From: "amp@acme.example", Smarthost: "smtp.acme.example:587", RequireTLS: true}}},
		Routes: []Route{{ID: "crit", Order: 1, Receiver: "mail", Matchers: []Matcher{{Label: "severity", Op: "=", Value: "critical"}, {Label: "site", Op: "=~", Value: `acme-.*"?`}},
			GroupBy: []string{"site"}, GroupWait: "10s", Continue: true}, {ID: "all", Order: 2, Receiver: "ops"}},
	}
	dir := t.TempDir()
	rules, err := RenderRules(acme)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rules), "Off") || !strings.Contains(string(rules), `enterprise="acme"`) {
		t.Fatalf("rendered rules:\n%s", rules)
	}
	acme.Receivers = append(acme.Receivers, Receiver{ID: "chat", Slack: &Slack{URLSecret: "chat-url", Channel: "#noc"}, SendResolved: true},
		Receiver{ID: "unset", Slack: &Slack{URLSecret: "nothing"}})
	has := func(tenant, id string) bool { return tenant == "acme" && id == "chat-url" }
	am, missing, err := RenderAlertmanager([]Alerting{acme, {Tenant: "starbucks"}}, AMOptions{OperatorWebhook: "http://127.0.0.1:9/operator", SecretsDir: dir, HasSecret: has})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || !strings.Contains(missing[0], `acme/unset (secret "nothing" is not set)`) || !strings.Contains(string(am), "api_url_file: "+SecretFile(dir, "acme", "chat-url")) {
		t.Fatalf("missing %v in\n%s", missing, am)
	}
	os.WriteFile(SecretFile(dir, "acme", "chat-url"), []byte("https://chat.example/hooks/x"), 0o600)
	for name, body := range map[string][]byte{"acme.rules.yml": rules, "pack.rules.yml": Pack} {
		run(t, dir, name, body, promtool, "check", "rules")
	}
	run(t, dir, "alertmanager.yml", am, amtool, "check-config")
	// The alert chain's defaults (docs/monitoring.md, "Alert latency"):
	// every AMP rule group evaluated every 2 s whatever Prometheus's
	// evaluation_interval, and routes without their own group_wait and
	// group_interval hold alerts 2 s, not Alertmanager's 30 s and 5m.
	for name, body := range map[string][]byte{"acme": rules, "pack": Pack} {
		if !strings.Contains(string(body), "interval: "+RuleInterval+"\n") {
			t.Errorf("%s's rule group is not evaluated every %s:\n%s", name, RuleInterval, body)
		}
	}
	for _, want := range []string{"\n    group_wait: " + GroupWait + "\n", "\n    group_interval: " + GroupInterval + "\n"} {
		if !strings.Contains(string(am), want) {
			t.Errorf("no %q at the root route:\n%s", want, am)
		}
	}
	// The enterprise's routes sit under its label: amtool routes test
	// shows where alerts go.
	out := run(t, dir, "alertmanager.yml", am, amtool, "config", "routes", "test", "--config.file="+filepath.Join(dir, "alertmanager.yml"), "enterprise=acme", "severity=critical", "site=acme-1")
	if strings.TrimSpace(out) != "acme/mail,acme/ops" {
		t.Fatalf("acme's critical alert routes to %q", out)
	}
	for _, labels := range [][]string{{"enterprise=starbucks", "severity=critical"}, {"severity=critical"}} {
		args := append([]string{"config", "routes", "test", "--config.file=" + filepath.Join(dir, "alertmanager.yml")}, labels...)
		if out := run(t, dir, "alertmanager.yml", am, amtool, args...); strings.TrimSpace(out) != OperatorReceiver {
			t.Fatalf("%v routes to %q, want only the operator's receiver", labels, out)
		}
	}
}

// run writes body to dir/name, runs the tool with args (the file last
// unless an argument names it already) and returns its standard output.
func run(t *testing.T, dir, name string, body []byte, tool string, args ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(args, " "), path) {
		args = append(args, path)
	}
	var stderr strings.Builder
	cmd := exec.Command(tool, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s%s\n%s", filepath.Base(tool), args, err, out, stderr.String(), body)
	}
	return string(out)
}

// TestPackFiresAsTheBookSays: promtool's rule unit tests
// (testdata/pack_test.yml) over the predefined pack: the book's two edge
// alerts fire after their `for`, not before, keeping the enterprise label
// of their series.
func TestPackFiresAsTheBookSays(t *testing.T) {
	cmd := exec.Command(prometheus.Tool(t, "promtool"), "test", "rules", "pack_test.yml")
	cmd.Dir = "testdata"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
