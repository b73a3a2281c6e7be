package monitorapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/probes"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/monitor"
	"github.com/amp-edge/amp/internal/schema"
)

// Site queries (docs/monitoring.md, "Site queries"): metrics stay in each
// site's Prometheus and only query results travel to AMP. A query, range
// query or lookup (series, label names, label values) goes to the central
// Prometheus and to the Prometheus of every site the caller may see — an
// enterprise's caller its enterprise's sites, an operator every site —
// narrowed by the query's (or match[]'s) own cluster= and site= matchers.
// AMP never dials a site: the query, already restricted to the caller's
// series, is handed to the site's agent over its link (edge.Hub.Ask),
// which runs it and posts the answer back. The answers are merged into one
// in Prometheus's shape, each site's series given cluster and site labels
// where they lack them (lookups: deduplicated and sorted); a site that
// does not answer within siteTimeout is named in the answer's warnings,
// never left out silently.

// ClusterLabel names the cluster a site series came from.
const ClusterLabel = "cluster"

// siteTimeout bounds how long a query waits for each site's answer (less
// when the query's own timeout is shorter).
const siteTimeout = 10 * time.Second

// maxCentralAnswer bounds the central Prometheus's answer AMP reads to
// merge (the answer passed on as it is, with no site, is not bounded).
const maxCentralAnswer = 64 << 20

// siteTarget is one site's cluster a query goes to.
type siteTarget struct{ cluster, site string }

// sitesFor lists the clusters whose Prometheus a query or lookup goes to
// (selectors: its PromQL or its match[] selectors, restricted already;
// nil for a lookup without match[]): those of tenant's sites ("" for
// every cluster), each kept only when some selector may match its
// cluster and site labels (with no selector at all, every one).
func sitesFor(h compat.Host, tenant string, selectors []string) ([]siteTarget, *edge.Hub, error) {
	hub, err := edge.For(h.Engine(), h.Metrics())
	if err != nil {
		return nil, nil, nil // no cluster directory (no inventory set): no sites
	}
	clusters := hub.Clusters()
	if len(clusters) == 0 {
		return nil, hub, nil
	}
	// The cluster and site matchers of each vector selector; one with
	// none reaches every site.
	var matchers [][]*labels.Matcher
	for _, sel := range selectors {
		ast, err := promQL.ParseExpr(sel)
		if err != nil {
			return nil, nil, err // restricted already: it parsed
		}
		parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				var ms []*labels.Matcher
				for _, m := range vs.LabelMatchers {
					if m.Name == ClusterLabel || m.Name == monitor.SiteLabel {
						ms = append(ms, m)
					}
				}
				matchers = append(matchers, ms)
			}
			return nil
		})
	}
	reaches := func(c edge.Cluster) bool {
		if selectors == nil {
			return true
		}
		for _, ms := range matchers {
			ok := true
			for _, m := range ms {
				v := c.ID
				if m.Name == monitor.SiteLabel {
					v = c.Site
				}
				ok = ok && m.Matches(v)
			}
			if ok {
				return true
			}
		}
		return false
	}
	snap := h.Engine().Snapshot()
	var out []siteTarget
	for _, c := range clusters {
		if c.Site == "" {
			continue // no site: a public cloud's cluster, no site Prometheus
		}
		if tenant != "" {
			if _, ent, ok := probes.Placement(h.Schema(), snap, c.ID); !ok || ent != tenant {
				continue
			}
		}
		if reaches(c) {
			out = append(out, siteTarget{cluster: c.ID, site: c.Site})
		}
	}
	return out, hub, nil
}

// forSite rewrites query (restricted already) for site t's Prometheus,
// whose series AMP labels with t's cluster and site where they lack them
// (merge). A cluster= or site= matcher that t's label matches is dropped
// (the site's own series lack the label and would not match it, yet are
// labelled t's); one it does not match gets label!="" beside it, so only
// series that carry the label themselves may still match. The
// enterprise's matchers are never touched.
func forSite(query string, t siteTarget) (string, error) {
	ast, err := promQL.ParseExpr(query)
	if err != nil {
		return "", err
	}
	parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		var kept []*labels.Matcher
		need := map[string]bool{}
		for _, m := range vs.LabelMatchers {
			v, ours := t.cluster, m.Name == ClusterLabel
			if m.Name == monitor.SiteLabel {
				v, ours = t.site, true
			}
			switch {
			case !ours:
			case m.Matches(v):
				continue
			default:
				need[m.Name] = true
			}
			kept = append(kept, m)
		}
		for _, name := range []string{ClusterLabel, monitor.SiteLabel} {
			if need[name] {
				kept = append(kept, labels.MustNewMatcher(labels.MatchNotEqual, name, ""))
			}
		}
		// An operator's {cluster="edge-b"} is every series of edge-b's
		// Prometheus: with its one matcher dropped, the selector would be
		// {}, which Prometheus refuses.
		if !slices.ContainsFunc(kept, func(m *labels.Matcher) bool { return !m.Matches("") }) {
			kept = append(kept, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+"))
		}
		vs.LabelMatchers = kept
		return nil
	})
	return ast.String(), nil
}

// selectorsOf is what picks the sites of form (restricted already): its
// query, or its match[] selectors (nil: none, every site).
func selectorsOf(form url.Values) []string {
	if form.Has("query") {
		return []string{form.Get("query")}
	}
	return form["match[]"]
}

// siteQueries are what site t is asked for api with form (restricted
// already): the query or lookup itself, its selectors rewritten for t
// (forSite); and, for the values of a label AMP adds (label: cluster or
// site), the label names of t's series lacking it, which AMP gives t's
// value (merge: sourceAnswer.lacks).
func siteQueries(api, label string, form url.Values, t siteTarget) ([]wire.SiteQuery, error) {
	sf := maps.Clone(form)
	if sf.Has("query") {
		q, err := forSite(sf.Get("query"), t)
		if err != nil {
			return nil, err
		}
		sf.Set("query", q)
	}
	// The selectors are a new slice: form's is the central Prometheus's
	// and every other site's.
	var lacking []string
	for _, m := range form["match[]"] {
		q, err := forSite(m, t)
		if err != nil {
			return nil, err
		}
		lacking = append(lacking, q)
	}
	if lacking != nil {
		sf["match[]"] = lacking
	}
	out := []wire.SiteQuery{{API: api, Form: sf.Encode()}}
	if label != ClusterLabel && label != monitor.SiteLabel {
		return out, nil
	}
	if lacking == nil {
		lacking = []string{`{__name__=~".+"}`}
	}
	lf := url.Values{}
	for _, m := range lacking {
		ast, err := promQL.ParseExpr(m)
		if err != nil {
			return nil, err
		}
		vs, ok := ast.(*parser.VectorSelector)
		if !ok {
			return nil, fmt.Errorf("%q is not a series selector", m)
		}
		vs.LabelMatchers = append(vs.LabelMatchers, labels.MustNewMatcher(labels.MatchEqual, label, ""))
		lf.Add("match[]", vs.String())
	}
	for _, p := range []string{"start", "end"} {
		if v := sf.Get(p); v != "" {
			lf.Set(p, v)
		}
	}
	return append(out, wire.SiteQuery{API: wire.APILabels, Form: lf.Encode()}), nil
}

// sourceAnswer is one Prometheus's answer to a fanned-out query.
type sourceAnswer struct {
	site   *siteTarget // nil: the central Prometheus
	status int
	body   []byte
	// warning: why the source gave no answer ("" when it did).
	warning string
	// lacks: the site holds series lacking the label whose values are
	// asked (siteQueries), which AMP labels with the site's value.
	lacks bool
}

// promAnswer is Prometheus's answer, its data kept as it is.
type promAnswer struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data,omitempty"`
	ErrorType string          `json:"errorType,omitempty"`
	Error     string          `json:"error,omitempty"`
	Warnings  []string        `json:"warnings,omitempty"`
	Infos     []string        `json:"infos,omitempty"`
}

// combiner merges the data of the sources' answers of one API (lookup.go
// has the lookups').
type combiner interface {
	// add merges one source's data; what it cannot merge is said in the
	// warning it returns ("" when all is merged).
	add(a sourceAnswer, data json.RawMessage) (warning string)
	// result is the merged data, and warnings about it.
	result() (json.RawMessage, []string)
}

// combinerFor is the combiner of api's answers (label: the label whose
// values are asked; limit: the lookup's, 0 for none).
func combinerFor(api, label string, limit int) combiner {
	switch {
	case api == wire.APIQuery || api == wire.APIQueryRange:
		return &queryCombiner{}
	case api == wire.APISeries:
		return &seriesCombiner{limit: limit, seen: map[string]bool{}}
	case api == wire.APILabels:
		return &namesCombiner{limit: limit, seen: map[string]bool{}, siteLabels: []string{ClusterLabel, monitor.SiteLabel}}
	}
	return &namesCombiner{limit: limit, seen: map[string]bool{}, valuesOf: label}
}

// merge makes one Prometheus answer of the sources' answers, their data
// merged by c; the sources' warnings and infos, a site's named; and a
// warning per source that gave no answer. A refusal of the query itself
// (Prometheus's 4xx, such as bad_data) is answered as the first source
// that refused it said. No answer at all is unavailable.
func merge(answers []sourceAnswer, c combiner) (int, []byte, error) {
	out := promAnswer{Status: "success", Warnings: []string{}}
	answered := 0
	for _, a := range answers {
		from := "the central Prometheus"
		if a.site != nil {
			from = fmt.Sprintf("site %s (cluster %s)", a.site.site, a.site.cluster)
		}
		if a.warning != "" {
			out.Warnings = append(out.Warnings, from+": "+a.warning)
			continue
		}
		var pa promAnswer
		if err := json.Unmarshal(a.body, &pa); err != nil || (pa.Status == "success" && (len(pa.Data) == 0 || string(pa.Data) == "null")) {
			out.Warnings = append(out.Warnings, from+": not a Prometheus answer")
			continue
		}
		if pa.Status != "success" {
			if a.status/100 == 4 && a.status != http.StatusTooManyRequests {
				return a.status, a.body, nil // the query itself is refused
			}
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %s: %s", from, pa.ErrorType, pa.Error))
			continue
		}
		answered++
		for _, w := range pa.Warnings {
			out.Warnings = append(out.Warnings, from+": "+w)
		}
		for _, i := range pa.Infos {
			out.Infos = append(out.Infos, from+": "+i)
		}
		if w := c.add(a, pa.Data); w != "" {
			out.Warnings = append(out.Warnings, from+": "+w)
		}
	}
	if answered == 0 {
		return 0, nil, errNoAnswer{out.Warnings}
	}
	data, ws := c.result()
	out.Data = data
	out.Warnings = append(out.Warnings, ws...)
	b, err := json.Marshal(out)
	return http.StatusOK, b, err
}

// queryCombiner merges query answers: the series of every vector or
// matrix, each site's given cluster and site labels where it lacks them;
// of scalars and strings, the first.
type queryCombiner struct {
	resultType string
	series     []json.RawMessage
}

type promData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

func (c *queryCombiner) add(a sourceAnswer, data json.RawMessage) string {
	var pd promData
	if err := json.Unmarshal(data, &pd); err != nil {
		return "not a Prometheus answer"
	}
	rt := pd.ResultType
	switch {
	case c.resultType == "":
		c.resultType = rt
	case rt != c.resultType:
		return fmt.Sprintf("a %s answer, not merged with the %s ones", rt, c.resultType)
	}
	if rt != "vector" && rt != "matrix" {
		// A scalar or a string has no labels to tell the sources
		// apart: the first answer is kept.
		if len(c.series) == 0 {
			c.series = []json.RawMessage{pd.Result}
			return ""
		}
		return fmt.Sprintf("its %s is not merged (a %s cannot be told apart by labels; narrow the query with cluster= or site=)", rt, rt)
	}
	var ss []map[string]json.RawMessage
	if err := json.Unmarshal(pd.Result, &ss); err != nil {
		return "not a Prometheus answer"
	}
	for _, s := range ss {
		if a.site != nil {
			var m map[string]string
			if err := json.Unmarshal(s["metric"], &m); err != nil {
				continue
			}
			s["metric"], _ = json.Marshal(a.site.label(m))
		}
		b, err := json.Marshal(s)
		if err != nil {
			return "not a Prometheus answer"
		}
		c.series = append(c.series, b)
	}
	return ""
}

func (c *queryCombiner) result() (json.RawMessage, []string) {
	out := promData{ResultType: c.resultType}
	switch {
	case c.resultType == "vector" || c.resultType == "matrix":
		if c.series == nil {
			c.series = []json.RawMessage{}
		}
		out.Result, _ = json.Marshal(c.series)
	case len(c.series) > 0:
		out.Result = c.series[0]
	}
	b, _ := json.Marshal(out)
	return b, nil
}

// label gives a site's series labels m (nil: none) t's cluster and site
// where it lacks them.
func (t *siteTarget) label(m map[string]string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	if _, ok := m[ClusterLabel]; !ok {
		m[ClusterLabel] = t.cluster
	}
	if _, ok := m[monitor.SiteLabel]; !ok {
		m[monitor.SiteLabel] = t.site
	}
	return m
}

// errNoAnswer: no Prometheus answered a fanned-out query.
type errNoAnswer struct{ why []string }

func (e errNoAnswer) Error() string { return fmt.Sprintf("no Prometheus answered: %v", e.why) }

// askSites asks each site's Prometheus, through its agent, api with form
// (label: the label whose values are asked, else ""), each within its
// timeout; the answers come in sites' order.
func askSites(ctx context.Context, hub *edge.Hub, qm *queryMetrics, api, label string, form url.Values, timeout time.Duration, sites []siteTarget) []sourceAnswer {
	out := make([]sourceAnswer, len(sites))
	done := make(chan struct{}, len(sites))
	wait := min(timeout, siteTimeout)
	for i := range sites {
		go func() {
			defer func() { done <- struct{}{} }()
			sctx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			out[i] = askSite(sctx, hub, qm, api, label, form, &sites[i], wait)
		}()
	}
	for range sites {
		<-done
	}
	return out
}

// askSite asks site t its siteQueries, one after the other, until ctx
// ends (wait after it began).
func askSite(ctx context.Context, hub *edge.Hub, qm *queryMetrics, api, label string, form url.Values, t *siteTarget, wait time.Duration) sourceAnswer {
	qs, err := siteQueries(api, label, form, *t)
	if err != nil {
		return sourceAnswer{site: t, warning: "the query does not parse"}
	}
	out := sourceAnswer{site: t}
	for i, q := range qs {
		began := time.Now()
		a, err := hub.Ask(ctx, t.cluster, q)
		result, warning := "ok", ""
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			result, warning = "unanswered", fmt.Sprintf("did not answer within %s", wait)
		case err != nil:
			result, warning = "unreachable", "its agent is not connected to AMP, or has too many queries open"
		case a.Status == 0:
			result, warning = "failed", a.Error
		case a.Status/100 != 2:
			result = "failed"
		}
		qm.siteQueries.WithLabelValues(result).Inc()
		qm.siteDuration.Observe(time.Since(began).Seconds())
		switch {
		case warning != "":
			return sourceAnswer{site: t, warning: warning}
		case i == 0:
			out.status, out.body = a.Status, a.Body
			if result != "ok" {
				return out // refused or failed: merge says so
			}
			continue
		}
		// The label names of the site's series lacking label.
		var pa promAnswer
		var names []string
		if result != "ok" || json.Unmarshal(a.Body, &pa) != nil || pa.Status != "success" || json.Unmarshal(pa.Data, &names) != nil {
			return sourceAnswer{site: t, warning: fmt.Sprintf("whether its series lack the %s label is not known: its Prometheus did not say", label)}
		}
		out.lacks = len(names) > 0
	}
	return out
}

// fanOut asks the central Prometheus (prom, "" for none) and the sites'
// api with form (label: the label whose values are asked, else ""), and
// answers with their merged answer; it returns the answer's status.
func fanOut(ctx context.Context, w http.ResponseWriter, h compat.Host, hub *edge.Hub, prom, api string, get bool, label string, form url.Values, timeout time.Duration, sites []siteTarget) (int, error) {
	ctx, span := tracer.Start(ctx, "metrics.sites")
	defer span.End()
	central := make(chan sourceAnswer, 1)
	go func() {
		if prom == "" {
			central <- sourceAnswer{warning: "none is configured (amp serve --prometheus-url)"}
			return
		}
		central <- askCentral(ctx, prom, api, get, form)
	}()
	answers := askSites(ctx, hub, metricsFor(h.Metrics()), api, label, form, timeout, sites)
	answers = append([]sourceAnswer{<-central}, answers...)
	limit, _ := strconv.Atoi(form.Get("limit")) // checked by lookupForm
	status, body, err := merge(answers, combinerFor(api, label, limit))
	var none errNoAnswer
	if errors.As(err, &none) {
		param := "?match[]"
		if form.Has("query") {
			param = "?query"
		}
		return 0, schema.Errorf(schema.KindUnavailable, param, "no Prometheus answered: %s", strings.Join(none.why, "; "))
	}
	if err != nil {
		return 0, err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status, nil
}

// askCentral asks the central Prometheus and reads its whole answer.
func askCentral(ctx context.Context, prom, api string, get bool, form url.Values) sourceAnswer {
	req, err := centralRequest(ctx, prom, api, get, form)
	if err != nil {
		return sourceAnswer{warning: err.Error()}
	}
	resp, err := upstream.Do(req)
	if err != nil {
		slog.WarnContext(ctx, "Prometheus did not answer a metric query", "component", "metrics-query", "prometheus", prom, "error", err)
		return sourceAnswer{warning: "did not answer"}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCentralAnswer+1))
	switch {
	case err != nil:
		return sourceAnswer{warning: "its answer was cut short"}
	case len(body) > maxCentralAnswer:
		return sourceAnswer{warning: fmt.Sprintf("its answer is over %d bytes: narrow the query", maxCentralAnswer)}
	}
	return sourceAnswer{status: resp.StatusCode, body: body}
}
