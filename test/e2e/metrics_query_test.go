package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/internal/testenv/prometheus"
)

// tenantSeries is what the tiny exporter serves: series of acme and of
// starbucks. Every starbucks value is 1000 or more and every starbucks
// series names starbucks or seattle in a label, so an answer that holds
// any of starbucks' data shows it; acme's values are below 1000.
const tenantSeries = `# TYPE amp_test_value gauge
amp_test_value{enterprise="acme",site="acme-chicago",slot="a"} 1
amp_test_value{enterprise="acme",site="acme-chicago",slot="b"} 2
amp_test_value{enterprise="starbucks",site="starbucks-seattle",slot="a"} 1001
amp_test_value{enterprise="starbucks",site="starbucks-seattle",slot="b"} 1002
# TYPE amp_test_info gauge
amp_test_info{enterprise="acme",site="acme-chicago",owner="acme-ops"} 3
amp_test_info{enterprise="starbucks",site="starbucks-seattle",owner="starbucks-ops"} 1003
# TYPE amp_test_secret gauge
amp_test_secret{enterprise="starbucks",site="starbucks-seattle"} 1004
`

// promAnswer is Prometheus's query answer (vector, matrix or scalar).
type promAnswer struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// promSample is one series of a vector or matrix answer, or a scalar.
type promSample struct {
	Labels map[string]string
	Values []float64
}

func (a promAnswer) samples(t testing.TB) []promSample {
	t.Helper()
	var out []promSample
	switch a.Data.ResultType {
	case "vector", "matrix":
		var rs []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		}
		if err := json.Unmarshal(a.Data.Result, &rs); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			s := promSample{Labels: r.Metric}
			if r.Value != nil {
				r.Values = append(r.Values, r.Value)
			}
			for _, v := range r.Values {
				s.Values = append(s.Values, promValue(t, v))
			}
			out = append(out, s)
		}
	case "scalar":
		var v []any
		if err := json.Unmarshal(a.Data.Result, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, promSample{Values: []float64{promValue(t, v)}})
	default:
		t.Fatalf("result type %q", a.Data.ResultType)
	}
	return out
}

func promValue(t testing.TB, pair []any) float64 {
	t.Helper()
	if len(pair) != 2 {
		t.Fatalf("sample %v", pair)
	}
	s, _ := pair[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("sample %v: %v", pair, err)
	}
	return f
}

// starbucksIn returns what of starbucks' data an answer holds ("": none).
func starbucksIn(ss []promSample) string {
	for _, s := range ss {
		for k, v := range s.Labels {
			if strings.Contains(v, "starbucks") || strings.Contains(v, "seattle") {
				return fmt.Sprintf("label %s=%q in %v", k, v, s.Labels)
			}
		}
		for _, v := range s.Values {
			if v >= 1000 {
				return fmt.Sprintf("value %v of %v", v, s.Labels)
			}
		}
	}
	return ""
}

// startQueryEnv runs the exporter, a real Prometheus scraping it, and AMP
// over that Prometheus (with serve's extra flags), and waits until
// Prometheus holds a few seconds of every series (so offsets and
// subqueries reach back into data).
func startQueryEnv(t testing.TB, extra ...string) (*testenv.Server, *prometheus.Server) {
	rulesDir := t.TempDir()
	prom := scrapedPrometheus(t, tenantSeries, "amp_test_secret", rulesDir)
	s := testenv.Start(t, t.TempDir(), append([]string{"--demo", "--demo-backends=false", "--adapters", "none",
		"--prometheus-rules-dir", rulesDir, "--prometheus-url", prom.URL}, extra...)...)
	return s, prom
}

// scrapedPrometheus runs an exporter of series and a real Prometheus
// scraping it every second (rule files in rulesDir, "" for none), and
// waits until Prometheus holds five samples of metric.
func scrapedPrometheus(t testing.TB, series, metric, rulesDir string) *prometheus.Server {
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, series)
	}))
	t.Cleanup(exporter.Close)
	prom := prometheus.StartPrometheus(t, prometheus.PrometheusOptions{RulesDir: rulesDir, Scrape: []string{strings.TrimPrefix(exporter.URL, "http://")}})
	q := url.Values{"query": {"count_over_time(" + metric + "[1m])"}}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		resp, err := http.Get(prom.URL + "/api/v1/query?" + q.Encode())
		if err == nil {
			var a promAnswer
			json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if a.Data.ResultType == "vector" {
				if ss := a.samples(t); len(ss) == 1 && ss[0].Values[0] >= 5 {
					return prom
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape the exporter: %v\n%s", err, prom.Log())
		}
	}
}

// metricsQuery asks AMP (GET, the parameters in the URL) as the token's
// holder and returns the status and the body.
func metricsQuery(t *testing.T, s *testenv.Server, token, route string, params url.Values) (int, []byte) {
	t.Helper()
	code, b, _, err := s.Do(context.Background(), "GET", route+"?"+params.Encode(), "", "Authorization", "Bearer "+token)
	if err != nil {
		t.Fatal(err)
	}
	return code, b
}

func decodeAnswer(t *testing.T, b []byte) promAnswer {
	t.Helper()
	var a promAnswer
	if err := json.Unmarshal(b, &a); err != nil || a.Status != "success" {
		t.Fatalf("not a Prometheus answer (%v): %s", err, b)
	}
	return a
}

// hostileQueries are queries an enterprise's caller may try to read
// another enterprise's series with: regular-expression matchers, or,
// subqueries, label_replace, absent, aggregations without the label,
// offset and @, group_left joins.
var hostileQueries = []struct {
	query   string
	refused bool // 403: a selector names another enterprise
	data    bool // the answer holds acme's data (it is not empty)
}{
	{query: `{enterprise=~".+"}`, refused: true},
	{query: `{__name__=~"amp_test.*",enterprise!="acme"}`, refused: true},
	{query: `amp_test_value{enterprise=""}`, refused: true},
	{query: `amp_test_value or {enterprise="starbucks"}`, refused: true},
	{query: `absent(amp_test_secret{enterprise="starbucks"})`, refused: true},
	{query: `{__name__=~".+"}`, data: true},
	{query: `{__name__=~"amp_test.*",site=~"starbucks.*"}`},
	{query: `amp_test_value or amp_test_secret`, data: true},
	{query: `amp_test_secret or on() vector(0)`, data: true},
	{query: `max_over_time(amp_test_value[10s:1s])`, data: true},
	{query: `max_over_time({__name__=~"amp_test.*"}[30s])`, data: true},
	{query: `last_over_time((amp_test_value or amp_test_secret)[20s:2s] offset 1s)`, data: true},
	{query: `label_replace(amp_test_value, "enterprise", "acme", "enterprise", ".*")`, data: true},
	{query: `label_replace({__name__=~".+"}, "site", "$1", "__name__", "(.*)")`, data: true},
	{query: `absent(amp_test_secret)`, data: true},
	{query: `absent_over_time(amp_test_secret[1m])`, data: true},
	{query: `sum without(enterprise) (amp_test_value)`, data: true},
	{query: `sum by (enterprise, site) ({__name__=~".+"})`, data: true},
	{query: `count without(enterprise, site, instance, job) ({__name__=~"amp_test.*"})`, data: true},
	{query: `topk(10, {__name__=~"amp_test.*"})`, data: true},
	{query: `amp_test_value offset 1s`, data: true},
	{query: `amp_test_value @ end()`, data: true},
	{query: `amp_test_value * on(site) group_left(owner) amp_test_info`, data: true},
	{query: `amp_test_value * on() group_left amp_test_secret`},
	{query: `amp_test_info * on(site) group_right amp_test_value`, data: true},
	{query: `scalar(sum(amp_test_secret))`},
	{query: `sum(amp_test_value) + scalar(max({__name__=~".+"}))`, data: true},
}

// askHostile runs hostileQueries as acme (its token) over the instant and
// the range API: none returns a sample of starbucks, by label or by value;
// a selector naming another enterprise is refused (403 naming the query).
func askHostile(t *testing.T, s *testenv.Server, acme string) {
	t.Helper()
	now := time.Now()
	rng := url.Values{"start": {strconv.FormatInt(now.Add(-30*time.Second).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)}, "step": {"1"}}
	for _, h := range hostileQueries {
		for _, route := range []string{"/metrics/query", "/metrics/query_range"} {
			params := url.Values{"query": {h.query}}
			if route == "/metrics/query_range" {
				for k, v := range rng {
					params[k] = v
				}
			}
			code, b := metricsQuery(t, s, acme, route, params)
			if h.refused {
				if code != 403 || !strings.Contains(string(b), `"path":"?query"`) {
					t.Errorf("%s %s as acme: %d, want 403 naming ?query: %s", route, h.query, code, b)
				}
				continue
			}
			if code != 200 {
				t.Errorf("%s %s as acme: %d: %s", route, h.query, code, b)
				continue
			}
			ss := decodeAnswer(t, b).samples(t)
			if leak := starbucksIn(ss); leak != "" {
				t.Errorf("%s %s as acme returned starbucks' data: %s\n%s", route, h.query, leak, b)
			}
			if h.data && len(ss) == 0 {
				t.Errorf("%s %s as acme: empty, want acme's data: %s", route, h.query, b)
			}
		}
	}

}

// TestMetricsQueryTenantSafe: as acme, a list of hostile queries —
// regular-expression matchers, or, subqueries, label_replace, absent,
// aggregations without the label, offset and @, group_left joins — never
// returns a sample of starbucks, by label or by value, over the instant
// and the range API; a selector naming another enterprise is refused
// (403 naming the query). The operator sees both enterprises, a member
// acme's, starbucks' admin its own; no token is 401.
func TestMetricsQueryTenantSafe(t *testing.T) {
	s, _ := startQueryEnv(t)
	acme, _ := apiToken(t, s, "acme-admin", "enterprise-admin", "acme")
	member, _ := apiToken(t, s, "acme-viewer", "enterprise-member", "acme")
	sb, _ := apiToken(t, s, "sb-admin", "enterprise-admin", "starbucks")

	// The control: the operator's answer holds starbucks' data, so the
	// detector below sees it when it is there.
	all := decodeAnswer(t, s.Must(t, 200, "GET", "/metrics/query?"+url.Values{"query": {`{__name__=~"amp_test.*"}`}}.Encode(), ""))
	if got := starbucksIn(all.samples(t)); got == "" || len(all.samples(t)) != 7 {
		t.Fatalf("the operator should see both enterprises' 7 series: %s", all.Data.Result)
	}

	askHostile(t, s, acme)

	// A member reads acme's series: exactly its two values.
	a := decodeAnswer(t, s.Must(t, 200, "GET", "/metrics/query?query=amp_test_value", "", "Authorization", "Bearer "+member))
	if ss := a.samples(t); len(ss) != 2 || ss[0].Values[0]+ss[1].Values[0] != 3 || starbucksIn(ss) != "" {
		t.Fatalf("acme's member: %s", a.Data.Result)
	}
	// A client that takes gzip (Grafana, Go's client) gets Prometheus's
	// compressed answer as it is sent, acme's series only; one that does
	// not, plain JSON.
	code, raw, hdr, err := s.Do(context.Background(), "GET", "/metrics/query?query=amp_test_value", "", "Authorization", "Bearer "+member, "Accept-Encoding", "gzip")
	if err != nil || code != 200 || hdr.Get("Content-Encoding") != "gzip" {
		t.Fatalf("acme's query taking gzip: %d %v, Content-Encoding %q: %q", code, err, hdr.Get("Content-Encoding"), raw)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the gzip answer does not inflate: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if ss := decodeAnswer(t, plain).samples(t); len(ss) != 2 || starbucksIn(ss) != "" {
		t.Fatalf("acme's gzip answer: %s", plain)
	}
	code, raw, hdr, err = s.Do(context.Background(), "GET", "/metrics/query?query=amp_test_value", "", "Authorization", "Bearer "+member, "Accept-Encoding", "identity")
	if err != nil || code != 200 || hdr.Get("Content-Encoding") != "" || len(decodeAnswer(t, raw).samples(t)) != 2 {
		t.Fatalf("acme's query not taking gzip: %d %v, Content-Encoding %q: %q", code, err, hdr.Get("Content-Encoding"), raw)
	}
	// Starbucks' admin, its own; the same query through Grafana's path
	// and as a POSTed form.
	a = decodeAnswer(t, s.Must(t, 200, "GET", "/metrics/api/v1/query?query=amp_test_value", "", "Authorization", "Bearer "+sb))
	if ss := a.samples(t); len(ss) != 2 || ss[0].Values[0]+ss[1].Values[0] != 2003 {
		t.Fatalf("starbucks' admin: %s", a.Data.Result)
	}
	a = decodeAnswer(t, s.Must(t, 200, "POST", "/metrics/query", "query=sum(amp_test_value)", "Authorization", "Bearer "+acme, "Content-Type", "application/x-www-form-urlencoded"))
	if ss := a.samples(t); len(ss) != 1 || ss[0].Values[0] != 3 {
		t.Fatalf("acme's POSTed sum: %s", a.Data.Result)
	}
	// The operator may restrict itself to one enterprise.
	a = decodeAnswer(t, s.Must(t, 200, "GET", "/metrics/query?enterprise=starbucks&query=sum(amp_test_value)", ""))
	if ss := a.samples(t); len(ss) != 1 || ss[0].Values[0] != 2003 {
		t.Fatalf("the operator's starbucks sum: %s", a.Data.Result)
	}
	// Acme naming starbucks reads as a missing enterprise.
	if code, b := metricsQuery(t, s, acme, "/metrics/query", url.Values{"query": {"amp_test_value"}, "enterprise": {"starbucks"}}); code != 404 {
		t.Fatalf("acme asking for starbucks: %d: %s", code, b)
	}
	// The lookups Grafana's editor makes, as acme: acme's metric names
	// (not starbucks-only amp_test_secret), label values and series only.
	lookups := []struct {
		route  string
		params url.Values
		want   string // in the answer
	}{
		{"/metrics/api/v1/label/__name__/values", url.Values{}, `"amp_test_info"`},
		{"/metrics/api/v1/label/site/values", url.Values{}, `"acme-chicago"`},
		{"/metrics/api/v1/label/site/values", url.Values{"match[]": {`{__name__=~"amp_test.*"}`}}, `"acme-chicago"`},
		{"/metrics/api/v1/labels", url.Values{}, `"owner"`},
		{"/metrics/api/v1/series", url.Values{"match[]": {`{__name__=~".+"}`, "amp_test_secret"}}, `"acme-chicago"`},
	}
	for _, l := range lookups {
		code, b := metricsQuery(t, s, acme, l.route, l.params)
		if code != 200 || !strings.Contains(string(b), l.want) || strings.Contains(string(b), "starbucks") || strings.Contains(string(b), "seattle") || strings.Contains(string(b), "amp_test_secret") {
			t.Errorf("%s %v as acme: %d: %s", l.route, l.params, code, b)
		}
	}
	// The control: the operator's lookups do hold starbucks'.
	if b := s.Must(t, 200, "GET", "/metrics/api/v1/label/__name__/values", ""); !strings.Contains(string(b), "amp_test_secret") {
		t.Errorf("the operator's metric names: %s", b)
	}
	for _, l := range []struct {
		route  string
		params url.Values
		code   int
	}{
		{"/metrics/api/v1/series", url.Values{"match[]": {`{enterprise=~".+"}`}}, 403},
		{"/metrics/api/v1/label/site/values", url.Values{"match[]": {`{enterprise="starbucks"}`}}, 403},
		{"/metrics/api/v1/series", url.Values{}, 400},
		{"/metrics/api/v1/labels", url.Values{"match[]": {"sum(up)"}}, 400},
	} {
		if code, b := metricsQuery(t, s, acme, l.route, l.params); code != l.code || !strings.Contains(string(b), `"path":"?match[]"`) {
			t.Errorf("%s %v as acme: %d, want %d naming ?match[]: %s", l.route, l.params, code, l.code, b)
		}
	}
	if code, b := metricsQuery(t, s, acme, "/metrics/api/v1/metadata", url.Values{}); code != 404 || !strings.Contains(string(b), "not offered") {
		t.Fatalf("metadata as acme: %d: %s", code, b)
	}
	// No credential: 401, nothing asked of Prometheus.
	if code, b := metricsQuery(t, s, "", "/metrics/query", url.Values{"query": {"amp_test_value"}}); code != 401 {
		t.Fatalf("no token: %d: %s", code, b)
	}

	// Bounds, each naming its parameter.
	for _, c := range []struct {
		route string
		q     url.Values
		path  string
	}{
		{"/metrics/query", url.Values{}, "?query"},
		{"/metrics/query", url.Values{"query": {"amp_test_value{"}}, "?query"},
		{"/metrics/query", url.Values{"query": {"up"}, "timeout": {"1h"}}, "?timeout"},
		{"/metrics/query", url.Values{"query": {"up"}, "time": {"yesterday"}}, "?time"},
		{"/metrics/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"100000"}, "step": {"1"}}, "?step"},
		{"/metrics/query_range", url.Values{"query": {"up"}, "start": {"100"}, "end": {"200"}}, "?step"},
		{"/metrics/query_range", url.Values{"query": {"up"}, "end": {"200"}, "step": {"1"}}, "?start"},
		{"/metrics/query_range", url.Values{"query": {"up"}, "start": {"200"}, "end": {"100"}, "step": {"1"}}, "?end"},
	} {
		code, b := metricsQuery(t, s, acme, c.route, c.q)
		if code != 400 || !strings.Contains(string(b), `"path":"`+c.path+`"`) {
			t.Errorf("%s %v: %d, want 400 naming %s: %s", c.route, c.q, code, c.path, b)
		}
	}

	// Too long a query (POSTed: a URL is bounded lower).
	long := url.Values{"query": {strings.Repeat("a", 17<<10)}}.Encode()
	if b := s.Must(t, 400, "POST", "/metrics/query", long, "Authorization", "Bearer "+acme, "Content-Type", "application/x-www-form-urlencoded"); !strings.Contains(string(b), `"path":"?query"`) {
		t.Errorf("a 17 KiB query: %s", b)
	}

	// The CLI, as acme's admin: a table of acme's series only.
	cli := exec.Command(testenv.Binary(t), "monitor", "query", "amp_test_value", "--token", acme)
	cli.Env = s.Env()
	if out, err := cli.CombinedOutput(); err != nil || !strings.Contains(string(out), `site="acme-chicago"`) || strings.Contains(string(out), "starbucks") || strings.Count(string(out), "amp_test_value{") != 2 {
		t.Errorf("amp monitor query as acme: %v\n%s", err, out)
	}
	cli = exec.Command(testenv.Binary(t), "monitor", "query", `{enterprise="starbucks"}`, "--since", "30s", "--step", "5s", "--token", acme)
	cli.Env = s.Env()
	if out, err := cli.CombinedOutput(); err == nil || !strings.Contains(string(out), "?query") {
		t.Errorf("amp monitor query naming starbucks as acme: %v\n%s", err, out)
	}

	// The operations are in the OpenAPI document.
	if spec := string(s.Must(t, 200, "GET", "/spec", "")); !strings.Contains(spec, `"/metrics/query"`) || !strings.Contains(spec, `"/metrics/query_range"`) {
		t.Errorf("the OpenAPI document lacks the query routes")
	}

	// The queries are counted by outcome.
	m := string(s.Must(t, 200, "GET", "/metrics", ""))
	for _, o := range []string{"ok", "forbidden", "invalid"} {
		if !strings.Contains(m, `amp_metrics_queries_total{outcome="`+o+`"}`) || strings.Contains(m, `amp_metrics_queries_total{outcome="`+o+`"} 0`+"\n") {
			t.Errorf("amp_metrics_queries_total{outcome=%q} not counted", o)
		}
	}
}

// TestMetricsQueryPrometheusDown: with its Prometheus not answering, a
// query is a 503 in AMP's problem format saying so (Prometheus's address,
// the operator's, is not told an enterprise), counted as unavailable;
// nothing is made up.
func TestMetricsQueryPrometheusDown(t *testing.T) {
	dead := "http://127.0.0.1:" + etcd.FreePort(t)
	s := testenv.Start(t, t.TempDir(), "--demo", "--demo-backends=false", "--adapters", "none",
		"--prometheus-rules-dir", t.TempDir(), "--prometheus-url", dead)
	acme, _ := apiToken(t, s, "acme-admin", "enterprise-admin", "acme")
	code, b := metricsQuery(t, s, acme, "/metrics/query", url.Values{"query": {"up"}})
	if code != 503 || !strings.Contains(string(b), "Prometheus did not answer") || strings.Contains(string(b), dead) {
		t.Fatalf("Prometheus down: %d: %s", code, b)
	}
	if m := string(s.Must(t, 200, "GET", "/metrics", "")); !strings.Contains(m, `amp_metrics_queries_total{outcome="unavailable"} 1`) {
		t.Fatalf("not counted as unavailable")
	}
}
