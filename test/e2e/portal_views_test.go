package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/prometheus"
)

// viewSeries is what the exporter behind the portal's monitor test
// serves: acme's site passes its probes, starbucks' fails one; both
// enterprises have a device group "cameras" whose series is labelled
// device_group, starbucks' with values of 1000 or more (so a chart that
// showed any of them would say so).
const viewSeries = `# TYPE amp_edge_probe_ok gauge
amp_edge_probe_ok{probe="user-plane",cluster="acme-chicago-ace",site="acme-chicago",enterprise="acme"} 1
amp_edge_probe_ok{probe="control-plane",cluster="acme-chicago-ace",site="acme-chicago",enterprise="acme"} 1
amp_edge_probe_ok{probe="user-plane",cluster="starbucks-seattle-ace",site="starbucks-seattle",enterprise="starbucks"} 0
# TYPE sdcore_test_ues_attached gauge
sdcore_test_ues_attached{site="acme-chicago",device_group="cameras",enterprise="acme"} 7
sdcore_test_ues_attached{site="acme-chicago",device_group="cameras",enterprise="starbucks"} 1007
`

// refusedAs opens path signed in with token and expects the view to show
// the server's refusal (403, or 404 as for a missing object).
func (b *browser) refusedAs(t *testing.T, path, token string) *page {
	t.Helper()
	p := b.tab(t, path)
	p.signIn(token)
	if got := p.text(".refusal"); !strings.Contains(got, "403") && !strings.Contains(got, "404") {
		t.Errorf("at %s the view reads %q, want the server's refusal", path, got)
	}
	return p
}

// attr waits for sel and returns its attribute name.
func (p *page) attr(sel, name string) string {
	p.t.Helper()
	p.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	ctx, cancel := p.bound()
	defer cancel()
	q, _ := json.Marshal(sel)
	n, _ := json.Marshal(name)
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf("document.querySelector(%s).getAttribute(%s) ?? ''", q, n)))
	if err != nil {
		p.t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return v
}

// TestPortalMonitorsInChromium drives the monitor panels, the operators'
// uptime summary and the alerts view in Chromium against the real binary
// over a real Prometheus and Alertmanager: acme's admin charts its device
// group (acme's series only) through the predefined device-group
// dashboard, declares a dashboard of its own through REST and sees its
// panels drawn on the same page, and cannot open starbucks'; the
// operator's landing page shows each site's uptime from the edge-summary
// dashboard; acme's admin silences a firing
// alert and expires the silence; a member gets no silence controls.
func TestPortalMonitorsInChromium(t *testing.T) {
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, viewSeries) }))
	defer exporter.Close()
	rulesDir := t.TempDir()
	amConfig := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := os.WriteFile(amConfig, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	am := prometheus.StartAlertmanager(t, amConfig)
	prom := prometheus.StartPrometheus(t, prometheus.PrometheusOptions{RulesDir: rulesDir,
		Alertmanagers: []string{strings.TrimPrefix(am.URL, "http://")}, Scrape: []string{strings.TrimPrefix(exporter.URL, "http://")}})
	s := testenv.Start(t, t.TempDir(), "--demo", "--demo-backends=false", "--adapters", "none",
		"--prometheus-rules-dir", rulesDir, "--prometheus-url", prom.URL,
		"--alertmanager-config", amConfig, "--alertmanager-url", am.URL,
		"--promtool", prometheus.Tool(t, "promtool"), "--amtool", prometheus.Tool(t, "amtool"))
	_, acmeAdmin := portalToken(t, s, "views-acme-admin", "enterprise-admin", "acme")
	_, acmeMember := portalToken(t, s, "views-acme-member", "enterprise-member", "acme")
	// acme's rule over its device group's series, firing at once
	s.Must(t, 201, "POST", "/monitor/v1.0.0/acme/alert-rule/busy",
		`{"alert":"CamerasBusy","expr":"sdcore_test_ues_attached > 5","for":"1s","severity":"warning"}`, "Authorization", "Bearer "+acmeAdmin)
	waitPrometheus(t, prom.URL, `count_over_time(sdcore_test_ues_attached{enterprise="acme"}[1m]) >= 8`)
	b := newBrowser(t, s)

	t.Run("an enterprise admin charts its device group", func(t *testing.T) {
		p := b.tab(t, "/")
		p.signIn(acmeAdmin)
		p.follow(toCameras...)
		p.follow("#monitor-button")
		p.choose("#monitor-period", "300")
		// the predefined device-group dashboard's panels, $site and $device_group the page's
		if got := p.value("#monitor-dashboard"); got != "device-group" {
			t.Errorf("the device group's monitor shows the dashboard %q, want the predefined device-group", got)
		}
		chart := `#monitor figure.chart[data-title="Series of the device group"]`
		p.do(chromedp.WaitVisible(chromedp.CSS(chart + " canvas")))
		if n, _ := strconv.Atoi(p.attr(chart, "data-points")); n < 2 {
			t.Errorf("the device group's chart has %d points, want the last minutes' samples", n)
		}
		legend := p.text(chart + " .u-legend")
		if !strings.Contains(legend, "sdcore_test_ues_attached") {
			t.Errorf("the chart's legend reads %q, want the device group's series", legend)
		}
		// starbucks' series of the same name and labels is not charted
		if n := p.attr(chart, "data-series"); n != "1" {
			t.Errorf("the chart holds %s series, want acme's one: %s", n, legend)
		}
		code, body, _, err := s.Do(context.Background(), "GET", "/logs?query="+url.QueryEscape(`{site="acme-chicago"}`), "", "Authorization", "Bearer "+acmeAdmin)
		if err != nil {
			t.Fatal(err)
		}
		logs := p.text("#monitor .log-lines")
		// no log API (404 "no route") or no log store (503): the panel says so
		unavailable := code == 404 && strings.Contains(string(body), "no route for") || code == 503
		if unavailable != strings.Contains(logs, "logs not available") {
			t.Errorf("GET /logs answers %d %.200s; the panel's logs read %q", code, body, logs)
		}
		p.shot("monitor")
	})

	t.Run("a panel declared in a dashboard model appears with no portal change", func(t *testing.T) {
		// acme's own dashboard: a graph and a stat over its device groups' series
		s.Must(t, 201, "POST", "/monitor/v1.0.0/acme/dashboard/ues", `{"title":"UEs","variable":[{"name":"site","metric":"amp_edge_probe_ok","label":"site"}],`+
			`"panel":[{"name":"attached","title":"UEs attached","legend":"{{device_group}}",`+
			`"query":"sum by (device_group) (sdcore_test_ues_attached{site=~\"$site\",device_group=~\"$device_group\"})"},`+
			`{"name":"now","title":"UEs attached now","kind":"stat","legend":"{{device_group}}",`+
			`"query":"sum by (device_group) (sdcore_test_ues_attached{device_group=~\"$device_group\"})"}]}`, "Authorization", "Bearer "+acmeAdmin)
		p := b.tab(t, "/")
		p.signIn(acmeAdmin)
		p.follow(toCameras...)
		p.follow("#monitor-button")
		p.do(chromedp.WaitReady(chromedp.CSS(`#monitor-dashboard option[value="ues"]`)))
		p.choose("#monitor-dashboard", "ues")
		p.choose("#monitor-period", "300")
		chart := `#monitor figure.chart[data-title="UEs attached"]`
		p.do(chromedp.WaitVisible(chromedp.CSS(chart + " canvas")))
		if n, _ := strconv.Atoi(p.attr(chart, "data-points")); n < 2 || p.attr(chart, "data-series") != "1" {
			t.Errorf("the declared panel's chart has %s series of %d points, want acme's one over the last minutes", p.attr(chart, "data-series"), n)
		}
		if legend := p.text(chart + " .u-legend"); !strings.Contains(legend, "cameras") {
			t.Errorf("the declared panel's legend reads %q, want its {{device_group}}", legend)
		}
		// acme's 7 UEs; starbucks' 1007 under the same labels never counted
		if got := p.text(`#monitor figure.stat[data-title="UEs attached now"] tr[data-series="cameras"] .value`); got != "7" {
			t.Errorf("the declared stat panel reads %q, want acme's 7", got)
		}
		if q := p.text(`#monitor [data-panel="attached"] code`); !strings.Contains(q, `site=~"acme-chicago"`) || !strings.Contains(q, `device_group=~"cameras"`) {
			t.Errorf("the declared panel's query reads %q, want the page's site and device group filled in", q)
		}
	})

	t.Run("nor its monitors of another enterprise's device group", func(t *testing.T) {
		p := b.tab(t, "/portal/browse"+sbCamerasREST)
		p.signIn(acmeAdmin)
		if got := p.text(".refusal"); !strings.Contains(got, "404") {
			t.Errorf("acme's admin at starbucks' cameras sees %q, want the server's refusal", got)
		}
		if p.exists("#monitor-button") || p.exists("#monitor") {
			t.Error("acme's admin is offered starbucks' monitors")
		}
		code, _, _, err := s.Do(context.Background(), "GET", "/metrics/query_range?"+url.Values{"query": {`{device_group="cameras"}`},
			"start": {"0"}, "end": {"60"}, "step": {"15"}, "enterprise": {"starbucks"}}.Encode(), "", "Authorization", "Bearer "+acmeAdmin)
		if err != nil || code != 404 {
			t.Errorf("acme's admin querying starbucks' series: %d %v, want 404", code, err)
		}
	})

	t.Run("the operator lands on the sites' uptime", func(t *testing.T) {
		p := b.tab(t, "/")
		p.signIn(s.Token)
		// the predefined edge-summary dashboard's panels over every site
		uptime := `#summary figure.stat[data-title="User plane uptime"]`
		if got := p.text(uptime + ` tr[data-series="acme-chicago"] .value`); got != "100.0 %" {
			t.Errorf("acme-chicago's user plane uptime reads %q, want 100.0 %%", got)
		}
		if got := p.text(uptime + ` tr[data-series="starbucks-seattle"] .value`); got != "0.0 %" {
			t.Errorf("starbucks-seattle's user plane uptime reads %q, want 0.0 %%", got)
		}
		// the failing probes' chart, and the model sets under the summary
		p.do(chromedp.WaitVisible(chromedp.CSS("#summary figure.chart canvas")), chromedp.WaitVisible(chromedp.CSS("#model-sets tr")))
		p.shot("summary")
	})

	t.Run("the operator charts a cluster's probes on its page", func(t *testing.T) {
		s.Must(t, 201, "POST", "/inventory/v1.0.0", `{"cluster":[{"cluster-id":"acme-chicago-ace","namespace":["ran"]}]}`)
		p := b.tab(t, "/portal/clusters/acme-chicago-ace")
		p.signIn(s.Token)
		chart := `#monitor figure.chart[data-title^="End-to-end probes"]`
		p.do(chromedp.WaitVisible(chromedp.CSS(chart + " canvas")))
		if n := p.attr(chart, "data-series"); n != "2" {
			t.Errorf("the cluster's probe chart holds %s series, want its two probes: %s", n, p.text(chart))
		}
	})

	t.Run("an enterprise admin silences a firing alert, then expires the silence", func(t *testing.T) {
		waitPrometheus(t, prom.URL, `ALERTS{alertname="CamerasBusy",alertstate="firing",enterprise="acme"}`)
		p := b.tab(t, "/portal/alerts")
		p.signIn(acmeAdmin)
		if got := p.text(`#firing tr[data-alert="CamerasBusy"]`); !strings.Contains(got, "device_group=cameras") {
			t.Errorf("the firing alert reads %q", got)
		}
		if got := p.value("#alerts-enterprise"); got != "acme" {
			t.Errorf("acme's admin is offered the enterprise %q", got)
		}
		p.follow(`#firing tr[data-alert="CamerasBusy"] button.silence-alert`)
		p.typeInto(`#silence-form input[name="comment"]`, "camera upgrade")
		p.follow(`#silence-form button[type="submit"]`)
		row := p.textWith("#silences", "camera upgrade")
		if !strings.Contains(row, "alertname=CamerasBusy") || !strings.Contains(row, "enterprise=acme") || !strings.Contains(row, "views-acme-admin") {
			t.Errorf("the new silence reads %q, want its matchers (the server's enterprise=acme added) and its author", row)
		}
		var sil []struct {
			ID      string
			Comment string
			Status  struct{ State string }
		}
		restAs(t, s, acmeAdmin, "/monitor/silences/acme", &sil)
		if len(sil) != 1 || sil[0].Comment != "camera upgrade" || sil[0].Status.State != "active" {
			t.Fatalf("Alertmanager's silences of acme: %+v", sil)
		}
		p.shot("alerts")
		p.follow(fmt.Sprintf(`#silences tr[data-silence=%q] button.expire`, sil[0].ID))
		p.textWith(fmt.Sprintf(`#silences tr[data-silence=%q] .state`, sil[0].ID), "expired")
		restAs(t, s, acmeAdmin, "/monitor/silences/acme", &sil)
		if len(sil) != 1 || sil[0].Status.State != "expired" {
			t.Errorf("after Expire, Alertmanager holds %+v", sil)
		}
		if audit := string(s.Must(t, 200, "GET", "/audit?limit=1000", "")); strings.Count(audit, "/monitor/silences/acme/"+sil[0].ID) < 2 {
			t.Errorf("the silence's creation and expiry from the portal are not both audited")
		}
	})

	t.Run("a member sees alerts and silences without controls", func(t *testing.T) {
		p := b.tab(t, "/portal/alerts")
		p.signIn(acmeMember)
		p.textWith(`#firing tr[data-alert="CamerasBusy"]`, "CamerasBusy")
		p.textWith("#silences", "camera upgrade")
		if p.exists("#new-silence") || p.exists("button.silence-alert") || p.exists("button.expire") || p.exists("#nav-rollouts") {
			t.Error("an enterprise member is offered silence controls or the operators' views")
		}
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser: %s", p)
	}
}

// waitPrometheus waits until the PromQL query q answers a non-empty vector in Prometheus itself.
func waitPrometheus(t *testing.T, promURL, q string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		resp, err := http.Get(promURL + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
		if err == nil {
			var a promAnswer
			json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if a.Data.ResultType == "vector" && len(a.Data.Result) > 2 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never answered %s: %v", q, err)
		}
	}
}

// TestPortalRolloutApproveInChromium: a rollout waits for its manual
// approval after staging; the operator sees its stages, gates and
// partitions in Chromium and approves it from the view, which the
// rollout's history and the audit trail record; an enterprise's admin is
// offered neither the view nor the button.
func TestPortalRolloutApproveInChromium(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--agent-checkin-interval", "1s")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", rolloutInventory)
	sites := newRolloutSites(t, s, "staging-1", "prod-1", "prod-2", "prod-3", "prod-4", "prod-5")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go sites.run(ctx)
	s.Must(t, 201, "POST", "/fleet/v1.0.0", rolloutFleet)
	waitRollout(t, s, "upf-r", "the gate after staging", func(st rolloutStatusDoc) bool {
		return st.Phase == "gated" && strings.Contains(st.WaitingOn, "approval")
	})
	b := newBrowser(t, s)

	t.Run("an enterprise admin gets no rollouts and no Approve", func(t *testing.T) {
		s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
		_, admin := portalToken(t, s, "rollout-acme-admin", "enterprise-admin", "acme")
		p := b.refusedAs(t, "/portal/rollouts/upf-r", admin)
		if p.exists("#approve") || p.exists("#nav-rollouts") {
			t.Error("an enterprise admin is offered the rollouts or Approve")
		}
	})

	t.Run("the operator approves the waiting rollout", func(t *testing.T) {
		p := b.tab(t, "/")
		p.signIn(s.Token)
		// this server has no Prometheus: the landing summary says so and the model sets stay
		p.textWith(`#summary [data-panel="user-plane-uptime"]`, "No Prometheus is configured")
		p.do(chromedp.WaitVisible(chromedp.CSS("#model-sets tr")))
		p.follow("#nav-rollouts", `#rollouts tr[data-rollout="upf-r"] a`)
		if got := p.text("#waiting-on"); !strings.Contains(got, "approval before partition 2") {
			t.Errorf("the rollout waits on %q", got)
		}
		if got := p.text(`#stages tr[data-group="staging"]`); !strings.Contains(got, "manual approval") || !strings.Contains(got, "bake 1 s") {
			t.Errorf("the staging stage's gates read %q", got)
		}
		if got := p.text(`#stages tr[data-group="production"]`); !strings.Contains(got, "zone=east, zone=west") {
			t.Errorf("the production stage's partitions read %q", got)
		}
		if got := p.text(`#plan tr[data-index="1"]`); !strings.Contains(got, "staging-1") || !strings.Contains(got, "done") {
			t.Errorf("the first partition reads %q, want staging-1 done", got)
		}
		if got := p.text(`#versions tr[data-version="1.1.0"]`); !strings.Contains(got, "staging-1") {
			t.Errorf("the clusters at 1.1.0 read %q", got)
		}
		p.shot("rollout")
		p.follow("#approve")
		if got := p.text("#approved"); !strings.Contains(got, "partition 2") {
			t.Errorf("after Approve the view reads %q", got)
		}
		st := waitRollout(t, s, "upf-r", "the approval", func(st rolloutStatusDoc) bool {
			return st.Phase != "gated" || !strings.Contains(st.WaitingOn, "approval")
		})
		if !strings.Contains(strings.Join(events(st), " "), "approved/2") {
			t.Errorf("the rollout's history after Approve: %v", events(st))
		}
		if audit := string(s.Must(t, 200, "GET", "/audit?limit=1000", "")); !strings.Contains(audit, "/fleet/rollouts/upf-r/approve") {
			t.Error("the approval from the portal is not audited")
		}
		p.follow("#rollout-refresh")
		p.textWith(`#rollout-history`, "approved")
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser: %s", p)
	}
}

// TestPortalRacksInChromium: the book's example site (stanford1, acme's)
// shows its racks' elevations, front and rear, drawn by the server, and
// its cable report; the operator reaches it from the navigation, acme's
// admin by URL; starbucks' admin gets the server's refusal and no drawing.
func TestPortalRacksInChromium(t *testing.T) {
	s := viewsSite(t)
	var cables []struct {
		ID string `json:"cable-id"`
	}
	restAs(t, s, s.Token, "/provision/stanford1/cables", &cables)
	b := newBrowser(t, s)
	drawn := func(p *page, rack string) bool {
		p.t.Helper()
		sel := fmt.Sprintf(`figure.rack[data-rack=%q] img`, rack)
		p.do(chromedp.WaitVisible(chromedp.CSS(sel)))
		ctx, cancel := p.bound()
		defer cancel()
		q, _ := json.Marshal(sel)
		ok, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`(() => { const i = document.querySelector(%s); return i.complete && i.naturalWidth > 0 })()`, q)))
		return err == nil && ok
	}

	t.Run("the operator", func(t *testing.T) {
		p := b.tab(t, "/")
		p.signIn(s.Token)
		p.follow("#nav-racks", `#sites a[href$="/racks/stanford1"]`)
		for _, r := range []string{"r1", "r2"} {
			if !drawn(p, r) {
				t.Errorf("rack %s's elevation is not drawn", r)
			}
		}
		if n := p.count("#cables tbody tr"); n != len(cables) || n == 0 {
			t.Errorf("the cable report shows %d rows, the server answers %d cables", n, len(cables))
		}
		p.shot("racks")
		p.choose("#rack-face", "rear")
		if !drawn(p, "r1") || !strings.Contains(p.text(`figure.rack[data-rack="r1"] figcaption`), "rear") {
			t.Error("rack r1's rear is not drawn")
		}
	})

	t.Run("the site's tenant and another enterprise", func(t *testing.T) {
		_, acme := portalToken(t, s, "racks-acme-admin", "enterprise-admin", "acme")
		p := b.tab(t, "/portal/racks/stanford1")
		p.signIn(acme)
		if !drawn(p, "r1") || p.count("#cables tbody tr") != len(cables) {
			t.Error("acme's admin does not see its site's racks and cables")
		}
		_, sb := portalToken(t, s, "racks-sb-admin", "enterprise-admin", "starbucks")
		q := b.refusedAs(t, "/portal/racks/stanford1", sb)
		if q.exists("figure.rack img") || q.exists("#cables") {
			t.Error("starbucks' admin is shown acme's racks or cables")
		}
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser: %s", p)
	}
}
