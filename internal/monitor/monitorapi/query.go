package monitorapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/monitor"
	"github.com/amp-edge/amp/internal/schema"
)

// Metric queries (docs/monitoring.md, "Queries"): PromQL and lookups over
// the central Prometheus (--prometheus-url) and the sites' (sites.go),
// answered in Prometheus's HTTP API shapes
// so that Grafana can use AMP as a Prometheus data source. An enterprise's
// caller gets its own series only: every selector of the query is given
// enterprise="<its id>" before Prometheus sees it (monitor.Restrict, the
// rewrite the enterprises' alert rules get), and a selector that names
// the enterprise label otherwise is refused, never overwritten.
//
// prometheus-community's prom-label-proxy (injectproxy) would be the
// injector of choice, but its one release (v0.11.1) calls
// parser.ParseExpr, which the Prometheus module AMP builds with (v0.316)
// no longer has: it does not compile here. monitor.Restrict uses the same
// parser the same way (walk every vector selector, add the matcher).

const (
	// maxQuery bounds the PromQL text (bytes).
	maxQuery = 16 << 10
	// maxPoints is Prometheus's own bound on a range query's resolution.
	maxPoints = 11000
	// maxTimeout bounds how long Prometheus may evaluate one query;
	// defaultTimeout is what a query that names none gets.
	maxTimeout     = 2 * time.Minute
	defaultTimeout = 30 * time.Second
)

// queryPath is the path the policy is asked about for a query over every
// enterprise's series (the default policy: operators only).
const queryPath = "/metrics/query"

func queryRoutes() []compat.Route {
	var rs []compat.Route
	// /metrics/api/v1/…: Grafana's Prometheus data source appends
	// api/v1/query to its URL, so https://amp/metrics serves it.
	for _, base := range []string{"/metrics/", "/metrics/api/v1/"} {
		for _, method := range []string{"GET", "POST"} {
			rs = append(rs,
				compat.Route{Pattern: method + " " + base + "query", Name: "metrics-query", Handler: handle(instantAPI)},
				compat.Route{Pattern: method + " " + base + "query_range", Name: "metrics-query", Handler: handle(rangeAPI)})
		}
	}
	// The lookups Grafana's query editor makes (metric names, label names
	// and values, series), each restricted as a query is.
	for _, method := range []string{"GET", "POST"} {
		rs = append(rs,
			compat.Route{Pattern: method + " /metrics/api/v1/series", Name: "metrics-query", Handler: handle(seriesAPI)},
			compat.Route{Pattern: method + " /metrics/api/v1/labels", Name: "metrics-query", Handler: handle(labelsAPI)})
	}
	rs = append(rs, compat.Route{Pattern: "GET /metrics/api/v1/label/{name}/values", Name: "metrics-query", Handler: handle(labelValuesAPI)})
	// Metadata and exemplars are not offered: metadata is kept per
	// metric name, not per series, so it cannot be restricted to an
	// enterprise. Say so rather than answer the mux's bare 404.
	for _, p := range []string{"metadata", "query_exemplars"} {
		rs = append(rs, compat.Route{Pattern: "GET /metrics/api/v1/" + p, Name: "metrics-query", Handler: notOffered})
	}
	return rs
}

// queryMetrics are the routes' amp_metrics_* metrics, one set per
// registry (a process may run several servers).
type queryMetrics struct {
	queries      *prometheus.CounterVec
	siteQueries  *prometheus.CounterVec
	siteDuration prometheus.Histogram
}

var (
	queryMetricsMu sync.Mutex
	queryMetricsBy = map[prometheus.Registerer]*queryMetrics{}
)

// outcomes of a query, as amp_metrics_queries_total counts them.
var outcomes = []string{"ok", "invalid", "forbidden", "failed", "unavailable"}

// siteResults are the results amp_metrics_site_queries_total counts.
var siteResults = []string{"ok", "failed", "unanswered", "unreachable"}

func metricsFor(reg prometheus.Registerer) *queryMetrics {
	queryMetricsMu.Lock()
	defer queryMetricsMu.Unlock()
	if m, ok := queryMetricsBy[reg]; ok {
		return m
	}
	m := &queryMetrics{queries: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amp_metrics_queries_total",
		Help: "Metric queries and lookups through AMP (/metrics/query, /metrics/query_range, /metrics/api/v1/series, labels, label values) by outcome: ok (Prometheus answered 2xx), invalid (a parameter refused), forbidden (not allowed, or a selector naming another enterprise), failed (Prometheus refused or failed the query), unavailable (no Prometheus, or it did not answer).",
	}, []string{"outcome"}),
		siteQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_metrics_site_queries_total",
			Help: "Queries handed to a site's agent for its Prometheus, by result: ok (Prometheus answered 2xx), failed (Prometheus refused or failed it, or the agent could not ask it), unanswered (no answer within the site's timeout), unreachable (the agent is not connected to this AMP, or has too many queries open).",
		}, []string{"result"}),
		siteDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_metrics_site_query_duration_seconds",
			Help:    "Time from handing a query to a site's agent to its answer (or the site's timeout).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, o := range outcomes {
		m.queries.WithLabelValues(o)
	}
	for _, r := range siteResults {
		m.siteQueries.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.queries, m.siteQueries, m.siteDuration)
	}
	queryMetricsBy[reg] = m
	return m
}

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/monitor/monitorapi")

// upstream is the client to Prometheus; each request carries its own
// deadline (the query's timeout and a margin). A dashboard asks its
// panels' queries at once: up to 64 idle connections to Prometheus are
// kept for them (the default transport keeps 2, so a burst would open
// and close connections by the dozen).
var upstream = &http.Client{Transport: &http.Transport{
	Proxy:               http.ProxyFromEnvironment,
	MaxIdleConns:        64,
	MaxIdleConnsPerHost: 64,
	IdleConnTimeout:     90 * time.Second,
}}

// endpoint is one of Prometheus's API routes that AMP passes on: form
// checks the caller's parameters and returns those Prometheus is given
// (restricted to tenant when it is not ""), with the timeout.
type endpoint struct {
	name string // in spans and logs
	api  func(r *http.Request) string
	// get: Prometheus takes the route by GET only (label values); the
	// others are sent as POSTed forms, which no URL length bounds.
	get  bool
	form func(in url.Values, tenant string) (url.Values, time.Duration, error)
}

var (
	instantAPI = endpoint{"query", fixed(wire.APIQuery), false, func(in url.Values, tenant string) (url.Values, time.Duration, error) {
		return restrictedQuery(in, tenant, false)
	}}
	rangeAPI = endpoint{"query_range", fixed(wire.APIQueryRange), false, func(in url.Values, tenant string) (url.Values, time.Duration, error) {
		return restrictedQuery(in, tenant, true)
	}}
	seriesAPI = endpoint{"series", fixed(wire.APISeries), false, func(in url.Values, tenant string) (url.Values, time.Duration, error) {
		return lookupForm(in, tenant, true)
	}}
	labelsAPI = endpoint{"labels", fixed(wire.APILabels), false, func(in url.Values, tenant string) (url.Values, time.Duration, error) {
		return lookupForm(in, tenant, false)
	}}
	labelValuesAPI = endpoint{"label_values", func(r *http.Request) string {
		return wire.LabelValuesAPI(url.PathEscape(r.PathValue("name")))
	}, true, func(in url.Values, tenant string) (url.Values, time.Duration, error) {
		return lookupForm(in, tenant, false)
	}}
)

func fixed(api string) func(*http.Request) string { return func(*http.Request) string { return api } }

// handle serves ep.
func handle(ep endpoint) func(compat.Host, http.ResponseWriter, *http.Request) error {
	return func(h compat.Host, w http.ResponseWriter, r *http.Request) error { return proxy(h, w, r, ep) }
}

func notOffered(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	return schema.Errorf(schema.KindNotFound, r.URL.Path, "metadata and exemplars are not offered through AMP (they cannot be restricted to an enterprise); use /metrics/query, /metrics/api/v1/series or /metrics/api/v1/labels")
}

// proxy checks, authorizes and restricts one request, sends it to
// Prometheus and answers with Prometheus's answer as it is.
func proxy(h compat.Host, w http.ResponseWriter, r *http.Request, ep endpoint) (err error) {
	began := time.Now()
	ctx, span := tracer.Start(r.Context(), "metrics."+ep.name)
	defer span.End()
	var tenant, outcome string
	status := 0
	defer func() {
		if outcome == "" {
			outcome = outcomeOf(err)
		}
		metricsFor(h.Metrics()).queries.WithLabelValues(outcome).Inc()
		span.SetAttributes(attribute.String("amp.enterprise", tenant), attribute.String("amp.outcome", outcome))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		// A dashboard asks many queries a minute: the answered ones are
		// logged at debug level, the refused and failed ones at info.
		level := slog.LevelInfo
		if outcome == "ok" {
			level = slog.LevelDebug
		}
		slog.Log(ctx, level, "metric query", "component", "metrics-query", "api", ep.name, "enterprise", tenant,
			"outcome", outcome, "status", status, "query", r.Form.Get("query"), "match", r.Form["match[]"],
			"duration_ms", time.Since(began).Milliseconds(), "error", errText(err))
	}()

	if err := r.ParseForm(); err != nil {
		return schema.Errorf(schema.KindInvalid, "?", "the parameters do not parse: %v", err)
	}
	tenant, err = queryScope(h, r, queryPath, "series")
	if err != nil {
		return err
	}
	form, timeout, err := ep.form(r.Form, tenant)
	if err != nil {
		return err
	}
	prom := monitor.PrometheusURL()
	api := ep.api(r)
	// The margin lets Prometheus answer its own timeout error.
	ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	sites, hub, err := sitesFor(h, tenant, selectorsOf(form))
	if err != nil {
		return err
	}
	if len(sites) > 0 {
		status, err = fanOut(ctx, w, h, hub, prom, api, ep.get, r.PathValue("name"), form, timeout, sites)
		if err == nil {
			outcome = map[bool]string{true: "ok", false: "failed"}[status/100 == 2]
		}
		return err
	}
	if prom == "" {
		return schema.Errorf(schema.KindUnavailable, r.URL.Path, "this AMP has no Prometheus to query (amp serve --prometheus-url)")
	}
	req, err := centralRequest(ctx, prom, api, ep.get, form)
	if err != nil {
		return err
	}
	passEncoding(r, req)
	resp, err := upstream.Do(req)
	if err != nil {
		// Its address and the network's reason are the operator's: they
		// are logged, not told an enterprise's caller.
		slog.WarnContext(ctx, "Prometheus did not answer a metric query", "component", "metrics-query", "prometheus", prom, "error", err)
		return schema.Errorf(schema.KindUnavailable, r.URL.Path, "the central Prometheus did not answer; try again later")
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	if status/100 == 2 {
		outcome = "ok"
	} else {
		outcome = "failed"
	}
	// Prometheus's own answer, its errors included ({"status":"error",
	// "errorType":…}), is what a Prometheus client expects.
	for _, h := range []string{"Content-Type", "Content-Encoding"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Add("Vary", "Accept-Encoding")
	w.WriteHeader(status)
	_, _ = io.Copy(w, resp.Body) // a client gone mid-answer: nothing to tell it
	return nil
}

// centralRequest is the request to the central Prometheus prom: a POSTed
// form, or a GET (get).
func centralRequest(ctx context.Context, prom, api string, get bool, form url.Values) (*http.Request, error) {
	var req *http.Request
	var err error
	if get {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, prom+api+"?"+form.Encode(), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, prom+api, strings.NewReader(form.Encode()))
	}
	if err != nil {
		return nil, err
	}
	if !get {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	// Prometheus, when it traces, joins the query's trace.
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	return req, nil
}

// passEncoding has the central Prometheus answer in the encoding the
// caller takes (gzip, which Grafana and Go's client ask for), so that its
// compressed answer is copied through as it is. Without it Go's client
// asks for gzip itself and inflates the answer here, which AMP then sends
// the caller several times larger: a range query's matrix costs the
// inflating and the larger write, and is the slower for it.
func passEncoding(in, out *http.Request) {
	if takesGzip(in.Header.Values("Accept-Encoding")) {
		out.Header.Set("Accept-Encoding", "gzip")
	}
}

// takesGzip reads Accept-Encoding values: gzip named, not with q=0.
func takesGzip(values []string) bool {
	for _, v := range values {
		for _, coding := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(coding, ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// restrictedQuery is queryForm with the query restricted to tenant's
// series (tenant "": as it is).
func restrictedQuery(in url.Values, tenant string, ranged bool) (url.Values, time.Duration, error) {
	form, timeout, err := queryForm(in, ranged)
	if err != nil || tenant == "" {
		return form, timeout, err
	}
	q, err := restrict(form.Get("query"), tenant, "?query")
	if err != nil {
		return nil, 0, err
	}
	form.Set("query", q)
	return form, timeout, nil
}

// restrict gives expr's selectors enterprise="<tenant>": a parse error is
// the client's (400), a selector naming another enterprise forbidden
// (403); both name param.
func restrict(expr, tenant, param string) (string, error) {
	q, err := monitor.Restrict(expr, tenant)
	if err != nil {
		var pe parser.ParseErrors
		if errors.As(err, &pe) {
			return "", schema.Errorf(schema.KindInvalid, param, "%v", err)
		}
		return "", schema.Errorf(schema.KindForbidden, param, "%q: %v", expr, err)
	}
	return q, nil
}

// maxMatchers bounds the series selectors of one lookup.
const maxMatchers = 32

// promQL is Prometheus's parser with its default features, as
// monitor.Restrict parses.
var promQL = parser.NewParser(parser.Options{})

// lookupForm checks a series or label lookup's parameters: each match[]
// must be a series selector, and is restricted to tenant's series; a
// tenant's lookup without one is given {enterprise="<tenant>"}, so it
// never spans other enterprises' series.
func lookupForm(in url.Values, tenant string, needMatch bool) (url.Values, time.Duration, error) {
	out := url.Values{}
	ms := in["match[]"]
	switch {
	case len(ms) > maxMatchers:
		return nil, 0, schema.Errorf(schema.KindInvalid, "?match[]", "%d selectors: at most %d", len(ms), maxMatchers)
	case needMatch && len(ms) == 0:
		return nil, 0, schema.Errorf(schema.KindInvalid, "?match[]", "at least one series selector is required, e.g. match[]=up")
	}
	for _, m := range ms {
		if len(m) > maxQuery {
			return nil, 0, schema.Errorf(schema.KindInvalid, "?match[]", "%d bytes: at most %d", len(m), maxQuery)
		}
		if _, err := promQL.ParseMetricSelector(m); err != nil {
			return nil, 0, schema.Errorf(schema.KindInvalid, "?match[]", "%q is not a series selector: %v", m, err)
		}
		if tenant != "" {
			var err error
			if m, err = restrict(m, tenant, "?match[]"); err != nil {
				return nil, 0, err
			}
		}
		out.Add("match[]", m)
	}
	if tenant != "" && len(ms) == 0 {
		out.Add("match[]", fmt.Sprintf("{%s=%q}", monitor.TenantLabel, tenant))
	}
	for _, p := range []string{"start", "end"} {
		if v := in.Get(p); v != "" {
			if _, err := parseTime(v); err != nil {
				return nil, 0, schema.Errorf(schema.KindInvalid, "?"+p, "%v", err)
			}
			out.Set(p, v)
		}
	}
	if v := in.Get("limit"); v != "" {
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return nil, 0, schema.Errorf(schema.KindInvalid, "?limit", "%q is not a count", v)
		}
		out.Set("limit", v)
	}
	return out, defaultTimeout, nil
}

// queryScope decides whose series (or logs: what) the caller queries: ""
// for every enterprise's (whoever the policy lets read all, such as
// /metrics/query, and who names no enterprise), else the enterprise the
// caller names with ?enterprise= or, naming none, the one enterprise it
// holds a role in. Reading that enterprise's data takes the right to read
// its monitor configuration.
func queryScope(h compat.Host, r *http.Request, all, what string) (string, error) {
	ent := r.Form.Get("enterprise")
	if ent == "" {
		if h.Allowed(r, auth.Read, all) {
			return "", nil
		}
		ents := enterprisesOf(auth.FromContext(r.Context()))
		switch len(ents) {
		case 0:
			return "", h.Authorize(r, auth.Read, all)
		case 1:
			ent = ents[0]
		default:
			return "", schema.Errorf(schema.KindInvalid, "?enterprise", "name the enterprise whose %s to query: you hold roles in %s", what, strings.Join(ents, ", "))
		}
	}
	set := h.Schema().Set(monitor.SetName, "")
	if err := h.Authorize(r, auth.Read, schema.RESTBase(set)+"/"+schema.EscapeSegment(ent)); err != nil {
		return "", err
	}
	if !h.Engine().Snapshot().TargetExists(ent) {
		return "", schema.Errorf(schema.KindNotFound, "?enterprise", "no enterprise %q", ent)
	}
	return ent, nil
}

// enterprisesOf lists the enterprises the principal is an admin or member
// of, sorted.
func enterprisesOf(p *auth.Principal) []string {
	if p == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, rt := range auth.RightsOf(p) {
		if (rt.Role == auth.RoleEnterpriseAdmin || rt.Role == auth.RoleEnterpriseMember) && rt.Enterprise != "" && !seen[rt.Enterprise] {
			seen[rt.Enterprise] = true
			out = append(out, rt.Enterprise)
		}
	}
	sort.Strings(out)
	return out
}

// queryForm checks the parameters Prometheus is given and returns them
// (only those: anything else the client sent stays here) with the
// timeout. The bounds are refused here, naming the parameter, rather than
// left to Prometheus.
func queryForm(in url.Values, ranged bool) (url.Values, time.Duration, error) {
	out := url.Values{}
	q := in.Get("query")
	switch {
	case strings.TrimSpace(q) == "":
		return nil, 0, schema.Errorf(schema.KindInvalid, "?query", "a PromQL expression is required")
	case len(q) > maxQuery:
		return nil, 0, schema.Errorf(schema.KindInvalid, "?query", "%d bytes: at most %d", len(q), maxQuery)
	}
	out.Set("query", q)
	timeout := defaultTimeout
	if v := in.Get("timeout"); v != "" {
		d, err := parseDuration(v)
		if err != nil || d <= 0 || d > maxTimeout {
			return nil, 0, schema.Errorf(schema.KindInvalid, "?timeout", "%q is not a duration above 0 and at most %s (30s, or seconds: 30)", v, maxTimeout)
		}
		timeout = d
	}
	out.Set("timeout", model.Duration(timeout).String())
	if !ranged {
		if v := in.Get("time"); v != "" {
			if _, err := parseTime(v); err != nil {
				return nil, 0, schema.Errorf(schema.KindInvalid, "?time", "%v", err)
			}
			out.Set("time", v)
		}
		return out, timeout, nil
	}
	var start, end time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"start", &start}, {"end", &end}} {
		v := in.Get(p.name)
		if v == "" {
			return nil, 0, schema.Errorf(schema.KindInvalid, "?"+p.name, "required for a range query (Unix seconds or RFC 3339)")
		}
		t, err := parseTime(v)
		if err != nil {
			return nil, 0, schema.Errorf(schema.KindInvalid, "?"+p.name, "%v", err)
		}
		*p.t = t
		out.Set(p.name, v)
	}
	if end.Before(start) {
		return nil, 0, schema.Errorf(schema.KindInvalid, "?end", "before start")
	}
	v := in.Get("step")
	step, err := parseDuration(v)
	if err != nil || step <= 0 {
		return nil, 0, schema.Errorf(schema.KindInvalid, "?step", "%q is not a positive duration (15s, or seconds: 15)", v)
	}
	if points := end.Sub(start) / step; points > maxPoints {
		return nil, 0, schema.Errorf(schema.KindInvalid, "?step", "%s over %s is %d points: at most %d (a larger step or a shorter range)", step, end.Sub(start), points, maxPoints)
	}
	out.Set("step", v)
	return out, timeout, nil
}

// parseTime reads a time as Prometheus's API does: Unix seconds (with a
// fraction) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1<<40 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (Unix seconds or RFC 3339)", s)
}

// parseDuration reads a duration as Prometheus's API does: seconds (with
// a fraction) or a Prometheus duration (1m30s).
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > float64(math.MaxInt64/int64(time.Second)) {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := model.ParseDuration(s)
	return time.Duration(d), err
}

// outcomeOf names a refused query's outcome from its error's kind.
func outcomeOf(err error) string {
	if err == nil {
		return "ok"
	}
	switch schema.KindOf(err) {
	case schema.KindInvalid, schema.KindTooLarge:
		return "invalid"
	case schema.KindUnavailable:
		return "unavailable"
	case schema.KindUnauthenticated, schema.KindForbidden, schema.KindNotFound:
		return "forbidden"
	}
	return "failed"
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
