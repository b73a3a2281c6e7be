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
// site's Prometheus and only query results travel to AMP. A query or
// range query goes to the central Prometheus and to the Prometheus of
// every site the caller may see — an enterprise's caller its enterprise's
// sites, an operator every site — narrowed by the query's own cluster= and
// site= matchers. AMP never dials a site: the query, already restricted
// to the caller's series, is handed to the site's agent over its link
// (edge.Hub.Ask), which runs it and posts the answer back. The answers
// are merged into one in Prometheus's shape, each site's series given
// cluster and site labels where they lack them; a site that does not
// answer within siteTimeout is named in the answer's warnings, never left
// out silently.

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

// sitesFor lists the clusters whose Prometheus query (PromQL, restricted
// already) goes to: those of tenant's sites ("" for every cluster), each
// kept only when some selector of the query may match its cluster and
// site labels.
func sitesFor(h compat.Host, tenant, query string) ([]siteTarget, *edge.Hub, error) {
	hub, err := edge.For(h.Engine(), h.Metrics())
	if err != nil {
		return nil, nil, nil // no cluster directory (no inventory set): no sites
	}
	clusters := hub.Clusters()
	if len(clusters) == 0 {
		return nil, hub, nil
	}
	ast, err := promQL.ParseExpr(query)
	if err != nil {
		return nil, nil, err // restricted already: it parsed
	}
	// The cluster and site matchers of each selector; a selector with
	// none reaches every site.
	var selectors [][]*labels.Matcher
	parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			var ms []*labels.Matcher
			for _, m := range vs.LabelMatchers {
				if m.Name == ClusterLabel || m.Name == monitor.SiteLabel {
					ms = append(ms, m)
				}
			}
			selectors = append(selectors, ms)
		}
		return nil
	})
	reaches := func(c edge.Cluster) bool {
		for _, ms := range selectors {
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
		vs.LabelMatchers = kept
		return nil
	})
	return ast.String(), nil
}

// sourceAnswer is one Prometheus's answer to a fanned-out query.
type sourceAnswer struct {
	site   *siteTarget // nil: the central Prometheus
	status int
	body   []byte
	// warning: why the source gave no answer ("" when it did).
	warning string
}

// promAnswer is Prometheus's query answer, its series kept as they are
// but for their labels.
type promAnswer struct {
	Status    string    `json:"status"`
	Data      *promData `json:"data,omitempty"`
	ErrorType string    `json:"errorType,omitempty"`
	Error     string    `json:"error,omitempty"`
	Warnings  []string  `json:"warnings,omitempty"`
	Infos     []string  `json:"infos,omitempty"`
}

type promData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// merge makes one Prometheus answer of the sources' answers: the series
// of every vector or matrix, each site's given cluster and site labels
// where it lacks them; the sources' warnings and infos, a site's named;
// and a warning per source that gave no answer. A refusal of the query
// itself (Prometheus's 4xx, such as bad_data) is answered as the first
// source that refused it said. No answer at all is unavailable.
func merge(answers []sourceAnswer) (int, []byte, error) {
	out := promAnswer{Status: "success", Warnings: []string{}}
	var series []json.RawMessage
	resultType := ""
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
		if err := json.Unmarshal(a.body, &pa); err != nil || (pa.Status == "success" && pa.Data == nil) {
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
		rt := pa.Data.ResultType
		switch {
		case resultType == "":
			resultType = rt
		case rt != resultType:
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: a %s answer, not merged with the %s ones", from, rt, resultType))
			continue
		}
		if rt != "vector" && rt != "matrix" {
			// A scalar or a string has no labels to tell the sources
			// apart: the first answer is kept.
			if len(series) == 0 {
				series = []json.RawMessage{pa.Data.Result}
				continue
			}
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: its %s is not merged (a %s cannot be told apart by labels; narrow the query with cluster= or site=)", from, rt, rt))
			continue
		}
		var ss []map[string]json.RawMessage
		if err := json.Unmarshal(pa.Data.Result, &ss); err != nil {
			out.Warnings = append(out.Warnings, from+": not a Prometheus answer")
			continue
		}
		for _, s := range ss {
			if a.site != nil {
				var m map[string]string
				if err := json.Unmarshal(s["metric"], &m); err != nil {
					continue
				}
				if m == nil {
					m = map[string]string{}
				}
				if _, ok := m[ClusterLabel]; !ok {
					m[ClusterLabel] = a.site.cluster
				}
				if _, ok := m[monitor.SiteLabel]; !ok {
					m[monitor.SiteLabel] = a.site.site
				}
				s["metric"], _ = json.Marshal(m)
			}
			b, err := json.Marshal(s)
			if err != nil {
				return 0, nil, err
			}
			series = append(series, b)
		}
	}
	if answered == 0 {
		return 0, nil, errNoAnswer{out.Warnings}
	}
	out.Data = &promData{ResultType: resultType}
	switch {
	case resultType == "vector" || resultType == "matrix":
		if series == nil {
			series = []json.RawMessage{}
		}
		out.Data.Result, _ = json.Marshal(series)
	case len(series) > 0:
		out.Data.Result = series[0]
	}
	b, err := json.Marshal(out)
	return http.StatusOK, b, err
}

// errNoAnswer: no Prometheus answered a fanned-out query.
type errNoAnswer struct{ why []string }

func (e errNoAnswer) Error() string { return fmt.Sprintf("no Prometheus answered: %v", e.why) }

// askSites asks each site's Prometheus, through its agent, the query api
// with form, each within its timeout; the answers come in sites' order.
func askSites(ctx context.Context, hub *edge.Hub, qm *queryMetrics, api string, form url.Values, timeout time.Duration, sites []siteTarget) []sourceAnswer {
	out := make([]sourceAnswer, len(sites))
	done := make(chan struct{}, len(sites))
	wait := min(timeout, siteTimeout)
	for i := range sites {
		go func() {
			defer func() { done <- struct{}{} }()
			began := time.Now()
			sctx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			out[i] = sourceAnswer{site: &sites[i]}
			q, err := forSite(form.Get("query"), sites[i])
			if err != nil {
				out[i].warning = "the query does not parse"
				return
			}
			sf := maps.Clone(form)
			sf.Set("query", q)
			a, err := hub.Ask(sctx, sites[i].cluster, wire.SiteQuery{API: api, Form: sf.Encode()})
			result := "ok"
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				result, out[i].warning = "unanswered", fmt.Sprintf("did not answer within %s", wait)
			case err != nil:
				result, out[i].warning = "unreachable", "its agent is not connected to AMP, or has too many queries open"
			case a.Status == 0:
				result, out[i].warning = "failed", a.Error
			default:
				if a.Status/100 != 2 {
					result = "failed"
				}
				out[i].status, out[i].body = a.Status, a.Body
			}
			qm.siteQueries.WithLabelValues(result).Inc()
			qm.siteDuration.Observe(time.Since(began).Seconds())
		}()
	}
	for range sites {
		<-done
	}
	return out
}

// fanOut asks the central Prometheus (prom, "" for none) and the sites'
// the query api with form, and answers with their merged answer; it
// returns the answer's status.
func fanOut(ctx context.Context, w http.ResponseWriter, h compat.Host, hub *edge.Hub, prom, api string, form url.Values, timeout time.Duration, sites []siteTarget) (int, error) {
	ctx, span := tracer.Start(ctx, "metrics.sites")
	defer span.End()
	central := make(chan sourceAnswer, 1)
	go func() {
		if prom == "" {
			central <- sourceAnswer{warning: "none is configured (amp serve --prometheus-url)"}
			return
		}
		central <- askCentral(ctx, prom, api, form)
	}()
	answers := askSites(ctx, hub, metricsFor(h.Metrics()), api, form, timeout, sites)
	answers = append([]sourceAnswer{<-central}, answers...)
	status, body, err := merge(answers)
	var none errNoAnswer
	if errors.As(err, &none) {
		return 0, schema.Errorf(schema.KindUnavailable, "?query", "no Prometheus answered: %s", strings.Join(none.why, "; "))
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
func askCentral(ctx context.Context, prom, api string, form url.Values) sourceAnswer {
	req, err := centralRequest(ctx, prom, api, false, form)
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
