package fleetapi

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/api/compat"
)

// metrics are the git sources' own metrics (docs/lifecycle.md).
type metrics struct {
	// fetches counts fetches by repo, trigger (webhook, poll) and
	// outcome (ok, error).
	fetches *prometheus.CounterVec
	// webhooks counts webhook requests by outcome: fetched, ignored (a
	// push to another branch, a pinned repo, not a push), refused (bad
	// or missing signature, unknown repo, too many from the source).
	webhooks *prometheus.CounterVec
}

var (
	metricsMu sync.Mutex
	// metricsBy holds one set per registry: a process may run several
	// servers (tests), each with its own registry.
	metricsBy = map[prometheus.Registerer]*metrics{}
)

// registerMetrics registers the layer's metrics with a server's registry
// (compat.Layer.Metrics), so they are served from the start.
func registerMetrics(reg prometheus.Registerer) { metricsFor(reg) }

func metricsOf(h compat.Host) *metrics { return metricsFor(h.Metrics()) }

func metricsFor(reg prometheus.Registerer) *metrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsBy[reg]; ok {
		return m
	}
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_fleet_git_fetches_total",
			Help: "Fetches of the fleet's config repos by repo, trigger (webhook, poll) and outcome (ok, error).",
		}, []string{"repo", "trigger", "outcome"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_fleet_webhooks_total",
			Help: "Git webhooks (POST /fleet/hooks/{repo}) by outcome: fetched, ignored (another branch, a pinned repo, not a push), refused (bad or missing signature, unknown repo, rate limited).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{"fetched", "ignored", "refused"} {
		m.webhooks.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.fetches, m.webhooks)
	}
	metricsBy[reg] = m
	return m
}
