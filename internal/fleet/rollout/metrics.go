package rollout

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the rollouts' metrics (docs/lifecycle.md).
type Metrics struct {
	// Partitions counts partitions by outcome: deployed (every cluster
	// ready), baked, halted.
	Partitions *prometheus.CounterVec
	// Halts counts halted rollouts by cause: unavailable (a cluster failed
	// or stayed not ready), bake (failed during the bake), metric (the
	// metric gate did not hold), manual.
	Halts *prometheus.CounterVec
	// Promote is the time from a partition's gate opening (or the
	// previous partition baked) to every cluster of its first wave
	// staged.
	Promote prometheus.Histogram
	// Skipped counts clusters skipped: offline past offline-wait, or
	// unmatched by every partition of their stage.
	Skipped *prometheus.CounterVec
	// Deployments counts deployments by state (every bundle's).
	Deployments *prometheus.GaugeVec
}

// States are the deployment states, ranked (amp-fleet.yang).
var States = []string{"ready", "not-ready", "pending", "out-of-sync", "modified", "waiting", "error"}

var (
	metricsMu sync.Mutex
	metricsBy = map[prometheus.Registerer]*Metrics{}
)

// MetricsFor returns the metrics registered with reg, registering them the
// first time (nil: unregistered).
func MetricsFor(reg prometheus.Registerer) *Metrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsBy[reg]; ok {
		return m
	}
	m := &Metrics{
		Partitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_fleet_rollout_partitions_total",
			Help: "Rollout partitions by outcome: deployed (every cluster ready at the version), baked, halted."}, []string{"outcome"}),
		Halts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_fleet_rollout_halts_total",
			Help: "Rollouts halted (and rolled back) by cause: unavailable, bake, metric, manual."}, []string{"cause"}),
		Promote: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "amp_fleet_rollout_promote_seconds",
			Help:    "From a partition's gate opening to its first wave staged.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_fleet_rollout_skipped_clusters_total",
			Help: "Clusters a rollout skipped and reported, by reason: offline (past offline-wait), unmatched (no partition took them)."}, []string{"reason"}),
		Deployments: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "amp_fleet_deployments",
			Help: "Deployments (bundle on cluster) by ranked state, as last reconciled on the leader."}, []string{"state"}),
	}
	for _, o := range []string{"deployed", "baked", "halted"} {
		m.Partitions.WithLabelValues(o)
	}
	for _, s := range States {
		m.Deployments.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.Partitions, m.Halts, m.Promote, m.Skipped, m.Deployments)
	}
	metricsBy[reg] = m
	return m
}

func (m *Metrics) setDeployments(counts map[string]int) {
	for _, s := range States {
		m.Deployments.WithLabelValues(s).Set(float64(counts[s]))
	}
}
