package probes

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the probes' central series (docs/monitoring.md, "Probes"):
// the book's aetheredge_* with AMP's prefix.
type metrics struct {
	ok       *prometheus.GaugeVec
	duration *prometheus.GaugeVec
	update   *prometheus.GaugeVec
	results  *prometheus.CounterVec
	writes   prometheus.Counter
}

var (
	metricsMu sync.Mutex
	// metricsBy holds one set per registry: a process may run several
	// servers (tests), each with its own registry.
	metricsBy = map[prometheus.Registerer]*metrics{}
)

// RegisterMetrics registers the probes' metrics with a server's registry,
// so they are served from the start.
func RegisterMetrics(reg prometheus.Registerer) { metricsFor(reg) }

func metricsFor(reg prometheus.Registerer) *metrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsBy[reg]; ok && reg != nil {
		return m
	}
	labels := []string{"probe", "cluster", "site", "enterprise"}
	m := &metrics{
		ok: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amp_edge_probe_ok",
			Help: "1 when the last run of an end-to-end probe at a cluster succeeded, 0 when it failed (pushed by the cluster's agent at once; the book's aetheredge_*_test_ok).",
		}, labels),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amp_edge_probe_duration_seconds",
			Help: "How long the last run of an end-to-end probe at a cluster took.",
		}, labels),
		update: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amp_edge_last_update_timestamp_seconds",
			Help: "When a cluster's agent last ran a probe whose result reached AMP (Unix time, the site's clock; the book's aetheredge_last_update): time() minus it is how long the site has not reported.",
		}, []string{"cluster", "site", "enterprise"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_edge_probe_results_total",
			Help: "Probe results pushed by agents, by outcome: accepted, stale (older than the probe's last result), refused (a malformed push or an undeclared cluster).",
		}, []string{"outcome"}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_edge_probe_result_writes_total",
			Help: "Writes of a cluster's probe results to the store (an outcome changed, or at most every minute otherwise).",
		}),
	}
	for _, o := range []string{OutcomeAccepted, OutcomeStale, OutcomeRefused} {
		m.results.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.ok, m.duration, m.update, m.results, m.writes)
		metricsBy[reg] = m
	}
	return m
}

func (m *metrics) set(cluster string, c *clusterResults, s *stored) {
	v := 0.0
	if s.OK {
		v = 1
	}
	m.ok.WithLabelValues(s.Probe, cluster, c.Site, c.Enterprise).Set(v)
	m.duration.WithLabelValues(s.Probe, cluster, c.Site, c.Enterprise).Set(s.Duration)
}

func (m *metrics) updated(cluster string, c *clusterResults, at time.Time) {
	if !at.IsZero() {
		m.update.WithLabelValues(cluster, c.Site, c.Enterprise).Set(float64(at.UnixNano()) / 1e9)
	}
}

func (m *metrics) forget(cluster string, c *clusterResults, probe string) {
	m.ok.DeleteLabelValues(probe, cluster, c.Site, c.Enterprise)
	m.duration.DeleteLabelValues(probe, cluster, c.Site, c.Enterprise)
}

func (m *metrics) forgetCluster(cluster string, c *clusterResults) {
	m.update.DeleteLabelValues(cluster, c.Site, c.Enterprise)
}
