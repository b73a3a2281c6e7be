package release

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the fleet-charts service's.
type Metrics struct {
	prepared  *prometheus.CounterVec
	collected prometheus.Counter
}

var (
	metricsMu sync.Mutex
	metricsBy = map[prometheus.Registerer]*Metrics{}
)

// MetricsFor returns the metrics registered with reg (made on first use;
// nil: unregistered).
func MetricsFor(reg prometheus.Registerer) *Metrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsBy[reg]; ok && reg != nil {
		return m
	}
	m := &Metrics{prepared: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amp_fleet_charts_prepared_total",
		Help: "Bundle chart versions prepared for release, by outcome: ok, failed (the chart does not load or render, or cannot be had: final), retry (tried again later).",
	}, []string{"outcome"}),
		collected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_fleet_charts_collected_total",
			Help: "Chart archives removed from the store because no wanted, staged or active version of a bundle names them any more.",
		})}
	if reg != nil {
		reg.MustRegister(m.prepared, m.collected)
		metricsBy[reg] = m
	}
	return m
}
