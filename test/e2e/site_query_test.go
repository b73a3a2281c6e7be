package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

// The sites' own series: acme's at site-a (values below 1000), starbucks'
// at site-b (1000 and more, naming starbucks and seattle), as
// tenantSeries splits them; site-b's secret has a label name of its own.
// Neither names its cluster: AMP adds it.
const (
	siteASeries = `# TYPE amp_test_value gauge
amp_test_value{enterprise="acme",site="acme-chicago",slot="a"} 11
amp_test_value{enterprise="acme",site="acme-chicago",slot="b"} 12
# TYPE amp_test_info gauge
amp_test_info{enterprise="acme",site="acme-chicago",owner="acme-ops"} 13
`
	siteBSeries = `# TYPE amp_test_value gauge
amp_test_value{enterprise="starbucks",site="starbucks-seattle",slot="a"} 1011
amp_test_value{enterprise="starbucks",site="starbucks-seattle",slot="b"} 1012
# TYPE amp_test_info gauge
amp_test_info{enterprise="starbucks",site="starbucks-seattle",owner="starbucks-ops"} 1013
# TYPE amp_test_secret gauge
amp_test_secret{enterprise="starbucks",site="starbucks-seattle",seattle_roast="dark"} 1014
`
)

// siteAnswer is a merged answer: its series and warnings.
type siteAnswer struct {
	promAnswer
	Warnings []string `json:"warnings"`
}

func askAs(t *testing.T, s *testenv.Server, token, query string) siteAnswer {
	t.Helper()
	code, b := metricsQuery(t, s, token, "/metrics/query", url.Values{"query": {query}})
	var a siteAnswer
	if err := json.Unmarshal(b, &a); err != nil || code != 200 || a.Status != "success" {
		t.Fatalf("%s: %d %v: %s", query, code, err, b)
	}
	return a
}

// fromCluster counts the series of ss labelled cluster (""): the central
// Prometheus's, which name none).
func fromCluster(ss []promSample, cluster string) int {
	n := 0
	for _, s := range ss {
		if s.Labels["cluster"] == cluster {
			n++
		}
	}
	return n
}

// TestSiteQueries: metrics that stay at the edge, queried through AMP. The
// central Prometheus and one real Prometheus per site — acme's site-a and
// starbucks' site-b, each with its own `amp agent --prometheus-url`, which
// AMP never dials — answer one query merged, the sites' series labelled
// with their cluster. Acme's admin sees the central series and site-a's,
// never site-b's (the hostile-query list included, now over site data
// too); starbucks' admin sees site-b's; an operator sees both sites and
// may narrow the query to one with cluster=. A site whose agent is down
// is a warning naming it, the other sources still answering. An agent's
// certificate can neither take nor answer another cluster's queries.
func TestSiteQueries(t *testing.T) {
	s, _ := startQueryEnv(t, "--agent-checkin-interval", "1s")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", probeSites)
	acme, _ := apiToken(t, s, "acme-admin", "enterprise-admin", "acme")
	sb, _ := apiToken(t, s, "sb-admin", "enterprise-admin", "starbucks")

	a := &edgeSite{cluster: "edge-a", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-a")}
	b := &edgeSite{cluster: "edge-b", kube: kubeenv.Start(t), dir: filepath.Join(t.TempDir(), "agent-b")}
	for _, st := range []struct {
		site   *edgeSite
		series string
		metric string
	}{{a, siteASeries, "amp_test_info"}, {b, siteBSeries, "amp_test_secret"}} {
		prom := scrapedPrometheus(t, st.series, st.metric, "")
		st.site.enrol(t, s)
		st.site.agent = startAgent(t, "--dir", st.site.dir, "--kubeconfig", st.site.kube.Kubeconfig, "--prometheus-url", prom.URL,
			"--metrics-listen", "127.0.0.1:0")
	}
	waitWithin(t, time.Minute, func() bool {
		ss := askAs(t, s, s.Token, "amp_test_value").samples(t)
		return fromCluster(ss, "edge-a") == 2 && fromCluster(ss, "edge-b") == 2
	}, "both sites' series in the operator's answer")

	// Acme's admin: the central Prometheus's acme series and site-a's,
	// labelled with its cluster; nothing of starbucks; no warning.
	got := askAs(t, s, acme, "amp_test_value")
	ss := got.samples(t)
	if len(ss) != 4 || fromCluster(ss, "") != 2 || fromCluster(ss, "edge-a") != 2 || starbucksIn(ss) != "" || len(got.Warnings) != 0 {
		t.Fatalf("acme's amp_test_value: %s %q", got.Data.Result, got.Warnings)
	}
	for _, x := range ss {
		if x.Labels["cluster"] == "edge-a" && (x.Values[0] < 11 || x.Values[0] > 12 || x.Labels["site"] != "acme-chicago") {
			t.Fatalf("site-a's series as acme: %v", x)
		}
	}
	// Starbucks' admin: its own site's series, which the central
	// Prometheus's answer alone would not hold.
	if ss := askAs(t, s, sb, "amp_test_secret").samples(t); fromCluster(ss, "edge-b") != 1 || ss[0].Values[0] < 1000 || fromCluster(ss, "edge-a") != 0 {
		t.Fatalf("starbucks' amp_test_secret: %v", ss)
	}
	// The operator: both sites, and one site alone with cluster=.
	ss = askAs(t, s, s.Token, "amp_test_value").samples(t)
	if len(ss) != 8 || starbucksIn(ss) == "" {
		t.Fatalf("the operator's amp_test_value: %v", ss)
	}
	got = askAs(t, s, s.Token, `sum by (cluster) (amp_test_value{cluster="edge-b"})`)
	if ss := got.samples(t); len(ss) != 1 || ss[0].Labels["cluster"] != "edge-b" || ss[0].Values[0] != 2023 || len(got.Warnings) != 0 {
		t.Fatalf("the operator's edge-b sum: %s %q", got.Data.Result, got.Warnings)
	}

	// Site-a's agent counts what it ran.
	resp, err := http.Get(a.agent.metricsURL(t))
	if err != nil {
		t.Fatal(err)
	}
	am, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^amp_agent_site_queries_total\{result="answered"\} [1-9]`).Match(am) {
		t.Errorf("site-a's agent did not count its answered queries:\n%s", grepLines(string(am), "amp_agent_site_queries"))
	}

	// The hostile queries, as acme, over the central data and site-a's;
	// the lookups too.
	askHostile(t, s, acme)
	siteLookups(t, s, acme, sb)

	// An agent's certificate reaches its own cluster's queries only.
	ca := agentClient(t, s, a.dir)
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/edge/v1/clusters/edge-b/queries", 403},
		{"POST", "/edge/v1/clusters/edge-b/queries/0123", 403},
		{"POST", "/edge/v1/clusters/edge-a/queries/0123", 404}, // no such query open
	} {
		req, err := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(`{"status":200,"body":{"status":"success","data":{"resultType":"vector","result":[]}}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ca.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("edge-a's agent %s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.code)
		}
	}

	// Site-b's agent down: the operator's answer still holds the central
	// series and site-a's, and a warning names site-b.
	b.agent.kill()
	got = askAs(t, s, s.Token, "amp_test_value")
	ss = got.samples(t)
	if fromCluster(ss, "edge-a") != 2 || fromCluster(ss, "edge-b") != 0 || fromCluster(ss, "") != 4 ||
		len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "site site-b (cluster edge-b)") {
		t.Fatalf("with site-b's agent down: %v %q", ss, got.Warnings)
	}

	// The CLI prints the answer and, on stderr, the site that did not.
	cli := exec.Command(testenv.Binary(t), "monitor", "query", "amp_test_value")
	cli.Env = s.Env()
	var stdout, stderr strings.Builder
	cli.Stdout, cli.Stderr = &stdout, &stderr
	if err := cli.Run(); err != nil || !strings.Contains(stdout.String(), `cluster="edge-a"`) || !strings.Contains(stderr.String(), "warning: site site-b (cluster edge-b)") {
		t.Errorf("amp monitor query with site-b down: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}

	m := string(s.Must(t, 200, "GET", "/metrics", ""))
	if metricValue(t, s, `amp_metrics_site_queries_total{result="ok"}`) < 3 ||
		metricValue(t, s, `amp_metrics_site_queries_total{result="unanswered"}`)+metricValue(t, s, `amp_metrics_site_queries_total{result="unreachable"}`) < 1 ||
		!strings.Contains(m, "amp_metrics_site_query_duration_seconds_count") {
		t.Errorf("the site queries are not counted:\n%s", grepLines(m, "amp_metrics_site"))
	}
}

// lookupAs asks AMP a lookup (series, labels, label values) as the
// token's holder and returns its status, data (a list) and warnings.
func lookupAs(t *testing.T, s *testenv.Server, token, route string, params url.Values) (int, string, []string) {
	t.Helper()
	code, b := metricsQuery(t, s, token, route, params)
	var a struct {
		Status   string          `json:"status"`
		Data     json.RawMessage `json:"data"`
		Warnings []string        `json:"warnings"`
	}
	if code == 200 && (json.Unmarshal(b, &a) != nil || a.Status != "success") {
		t.Fatalf("%s %v: not a Prometheus answer: %s", route, params, b)
	}
	if code != 200 {
		return code, string(b), nil
	}
	return code, string(a.Data), a.Warnings
}

// siteLookups: the lookups Grafana's editor makes reach the sites too,
// each list merged (deduplicated, sorted), the sites' series labelled
// with their cluster. As acme (its token), over starbucks' data at site-b
// and both enterprises' centrally, hostile match[] selectors included,
// none names starbucks' series, labels or values; starbucks' admin sees
// its site's own label; the operator sees both sites.
func siteLookups(t *testing.T, s *testenv.Server, acme, sb string) {
	t.Helper()
	const (
		values = "/metrics/api/v1/label/%s/values"
		series = "/metrics/api/v1/series"
		names  = "/metrics/api/v1/labels"
	)
	for _, c := range []struct {
		token, route string
		params       url.Values
		want         string // the data, exactly ("": only checked for starbucks')
		has          []string
	}{
		// The cluster label exists at no Prometheus: AMP gives each
		// site's series their cluster, so its values are the sites'.
		{acme, fmt.Sprintf(values, "cluster"), nil, `["edge-a"]`, nil},
		{sb, fmt.Sprintf(values, "cluster"), nil, `["edge-b"]`, nil},
		{s.Token, fmt.Sprintf(values, "cluster"), nil, `["edge-a","edge-b"]`, nil},
		{acme, fmt.Sprintf(values, "enterprise"), nil, `["acme"]`, nil},
		{acme, fmt.Sprintf(values, "__name__"), url.Values{"match[]": {`{cluster="edge-a"}`}}, `["amp_test_info","amp_test_value"]`, nil},
		{acme, fmt.Sprintf(values, "site"), url.Values{"match[]": {`{__name__=~".+"}`}}, `["acme-chicago"]`, nil},
		// Series: site-a's two, labelled, and the central two; sorted.
		{acme, series, url.Values{"match[]": {"amp_test_value"}}, `[{"__name__":"amp_test_value","cluster":"edge-a","enterprise":"acme",`, nil},
		{acme, names, nil, "", []string{`"cluster"`, `"owner"`, `"slot"`}},
		{sb, names, nil, "", []string{`"cluster"`, `"seattle_roast"`}},
		// Hostile selectors as acme: another cluster, every cluster,
		// starbucks' metric, regular expressions over names and sites.
		{acme, series, url.Values{"match[]": {`{cluster="edge-b"}`}}, `[]`, nil},
		{acme, series, url.Values{"match[]": {`{cluster=~".+"}`, `{__name__=~"amp_test.*",site=~".*"}`}}, "", []string{`"cluster":"edge-a"`}},
		{acme, series, url.Values{"match[]": {"amp_test_secret"}}, `[]`, nil},
		{acme, fmt.Sprintf(values, "cluster"), url.Values{"match[]": {"amp_test_secret"}}, `[]`, nil},
		{acme, fmt.Sprintf(values, "seattle_roast"), nil, `[]`, nil},
		{acme, fmt.Sprintf(values, "site"), url.Values{"match[]": {`{site=~"starbucks.*|acme.*"}`}}, `["acme-chicago"]`, nil},
		{acme, names, url.Values{"match[]": {`{__name__=~".+",cluster!="edge-a"}`}}, "", []string{`"owner"`}},
	} {
		code, data, warnings := lookupAs(t, s, c.token, c.route, c.params)
		leaks := c.token == acme && (strings.Contains(data, "starbucks") || strings.Contains(data, "seattle") || strings.Contains(data, "edge-b") || strings.Contains(data, "1014"))
		if code != 200 || leaks || len(warnings) != 0 || (c.want != "" && !strings.HasPrefix(data, c.want)) {
			t.Errorf("%s %v: %d %s %q; want %s", c.route, c.params, code, data, warnings, c.want)
			continue
		}
		for _, h := range c.has {
			if !strings.Contains(data, h) {
				t.Errorf("%s %v: %s lacks %s", c.route, c.params, data, h)
			}
		}
	}
	// Acme's series of amp_test_value, asked twice over: exactly site-a's
	// two and the central two, each once.
	_, data, _ := lookupAs(t, s, acme, series, url.Values{"match[]": {"amp_test_value", `{__name__="amp_test_value"}`}})
	var ss []map[string]string
	if err := json.Unmarshal([]byte(data), &ss); err != nil || len(ss) != 4 || ss[0]["cluster"] != "edge-a" || ss[1]["cluster"] != "edge-a" || ss[2]["cluster"] != "" || ss[0]["site"] != "acme-chicago" {
		t.Errorf("acme's amp_test_value series: %s", data)
	}
	// The operator: all of edge-b's series with one selector, each
	// labelled edge-b, starbucks' secret among them.
	_, data, _ = lookupAs(t, s, s.Token, series, url.Values{"match[]": {`{cluster="edge-b"}`}})
	ss = nil
	if err := json.Unmarshal([]byte(data), &ss); err != nil || !strings.Contains(data, `"seattle_roast":"dark"`) {
		t.Errorf("the operator's edge-b series: %s", data)
	}
	for _, x := range ss {
		if x["cluster"] != "edge-b" {
			t.Errorf("the operator's edge-b series: %v", x)
		}
	}
	// Refused, naming match[]: another enterprise's selector, an empty
	// one, a query instead of a selector.
	for _, p := range []url.Values{
		{"match[]": {`{enterprise=~".+"}`}},
		{"match[]": {`amp_test_secret{enterprise="starbucks"}`}},
		{"match[]": {""}},
		{"match[]": {`sum(amp_test_value)`}},
	} {
		for _, route := range []string{series, names, fmt.Sprintf(values, "cluster")} {
			if code, b, _ := lookupAs(t, s, acme, route, p); (code != 400 && code != 403) || !strings.Contains(b, `"path":"?match[]"`) {
				t.Errorf("%s %v as acme: %d, want 400 or 403 naming ?match[]: %s", route, p, code, b)
			}
		}
	}
}
