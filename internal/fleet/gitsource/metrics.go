package gitsource

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the git sources' metrics (docs/lifecycle.md).
type Metrics struct {
	// Fetches counts fetches by repo, trigger (webhook, poll) and
	// outcome (ok, error).
	Fetches *prometheus.CounterVec
	// Clones counts the fetches that started from an empty cache (the
	// repo's first, or after its cache was lost): every other fetch
	// transfers only what is new.
	Clones *prometheus.CounterVec
	// Received counts the bytes the fetches received from the git
	// servers, by repo.
	Received *prometheus.CounterVec
	// Webhooks counts webhook requests by outcome: fetched, ignored (a
	// push to another branch, a pinned repo, not a push), refused (bad or
	// missing signature, unknown repo, too many from the source, too big).
	Webhooks *prometheus.CounterVec
}

var (
	metricsMu sync.Mutex
	// metricsBy holds one set per registry: a process may run several
	// servers (tests), each with its own registry.
	metricsBy = map[prometheus.Registerer]*Metrics{}
)

// MetricsFor returns the metrics registered with reg, registering them
// the first time (reg nil: unregistered).
func MetricsFor(reg prometheus.Registerer) *Metrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsBy[reg]; ok {
		return m
	}
	m := &Metrics{
		Fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_fleet_git_fetches_total",
			Help: "Fetches of the fleet's config repos by repo, trigger (webhook, poll) and outcome (ok, error).",
		}, []string{"repo", "trigger", "outcome"}),
		Clones: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_fleet_git_clones_total",
			Help: "Fetches of the fleet's config repos that started from an empty cache on disk (full clones), by repo.",
		}, []string{"repo"}),
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_fleet_git_received_bytes_total",
			Help: "Bytes the fetches of the fleet's config repos received from their git servers, by repo.",
		}, []string{"repo"}),
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_fleet_webhooks_total",
			Help: "Git webhooks (POST /fleet/hooks/{repo}) by outcome: fetched, ignored (another branch, a pinned repo, not a push), refused (bad or missing signature, unknown repo, rate limited, too big).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{"fetched", "ignored", "refused"} {
		m.Webhooks.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.Fetches, m.Clones, m.Received, m.Webhooks)
	}
	metricsBy[reg] = m
	return m
}
