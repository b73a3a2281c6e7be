package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// Site queries and lookups (wire.SiteQuery): metrics stay in the site's Prometheus
// (Options.PrometheusURL); AMP queues a query for the agent and says so on
// an answer of the link, and the agent takes the queries, runs them
// against its Prometheus and posts each answer back. AMP restricted each
// query to its caller's series before queueing it.

// maxQueryTimeout bounds how long one site query may run: AMP's own bound
// on a query's timeout, and a margin for Prometheus's answer.
const maxQueryTimeout = 2*time.Minute + 5*time.Second

// maxParallelQueries bounds the queries run against the site's
// Prometheus at once.
const maxParallelQueries = 4

// queryLoop runs the queued site queries whenever AMP says some wait.
func (a *Agent) queryLoop(ctx context.Context) {
	slots := make(chan struct{}, maxParallelQueries)
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.queriesSig:
		}
		client, err := a.usableClient()
		if err != nil {
			continue
		}
		qs, err := client.TakeQueries(ctx)
		if err != nil {
			a.log.Warn("cannot take the site queries", "error", err)
			continue
		}
		for _, q := range qs {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-slots }()
				ans := a.runQuery(ctx, q)
				a.o.Metrics.queried(ans)
				if err := client.AnswerQuery(ctx, q.ID, ans); err != nil {
					a.log.Warn("cannot post a site query's answer", "query", q.ID, "error", err)
				}
			}()
		}
	}
}

// runQuery asks the site's Prometheus q and returns its answer as it is.
func (a *Agent) runQuery(ctx context.Context, q wire.SiteQuery) wire.SiteAnswer {
	ctx, span := tracer.Start(ctx, "agent.query", trace.WithAttributes(attribute.String("amp.api", q.API)))
	defer span.End()
	prom := strings.TrimSuffix(a.o.PrometheusURL, "/")
	// Label values are taken by GET only; the others as POSTed forms.
	get := wire.IsLabelValuesAPI(q.API)
	switch {
	case prom == "":
		return wire.SiteAnswer{Error: "the site's agent has no Prometheus (amp agent --prometheus-url)"}
	case !get && q.API != wire.APIQuery && q.API != wire.APIQueryRange && q.API != wire.APISeries && q.API != wire.APILabels:
		return wire.SiteAnswer{Error: fmt.Sprintf("%q is not a query API the agent runs", q.API)}
	}
	form, err := url.ParseQuery(q.Form)
	if err != nil {
		return wire.SiteAnswer{Error: "the query's parameters do not parse"}
	}
	timeout := maxQueryTimeout
	if d, err := time.ParseDuration(form.Get("timeout")); err == nil && d > 0 && d+5*time.Second < timeout {
		timeout = d + 5*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var req *http.Request
	if get {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, prom+q.API+"?"+q.Form, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, prom+q.API, strings.NewReader(q.Form))
	}
	if err != nil {
		return wire.SiteAnswer{Error: err.Error()}
	}
	if !get {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := a.prom.Do(req)
	if err != nil {
		span.RecordError(err)
		a.log.Warn("the site's Prometheus did not answer a query", "prometheus", prom, "error", err)
		return wire.SiteAnswer{Error: "the site's Prometheus did not answer"}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxSiteAnswer+1))
	switch {
	case err != nil:
		return wire.SiteAnswer{Error: "the site's Prometheus's answer was cut short"}
	case len(body) > wire.MaxSiteAnswer:
		return wire.SiteAnswer{Error: fmt.Sprintf("the site's Prometheus answered over %d bytes", wire.MaxSiteAnswer)}
	}
	return wire.SiteAnswer{Status: resp.StatusCode, Body: body}
}
