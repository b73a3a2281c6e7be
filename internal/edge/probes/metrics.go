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
	// The outcomes' counters, looked up once.
	accepted, stale, refused prometheus.Counter
}

// clusterSeries are one cluster's series at its site and enterprise:
// looking a series up by its labels hashes them and takes the vector's
// lock, which a push need not do when the cluster has not moved.
type clusterSeries struct {
	probes map[string]probeSeries // by probe
	update prometheus.Gauge       // nil: not looked up yet
}

type probeSeries struct{ ok, duration prometheus.Gauge }

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
	m.accepted = m.results.WithLabelValues(OutcomeAccepted)
	m.stale = m.results.WithLabelValues(OutcomeStale)
	m.refused = m.results.WithLabelValues(OutcomeRefused)
	if reg != nil {
		reg.MustRegister(m.ok, m.duration, m.update, m.results, m.writes)
		metricsBy[reg] = m
	}
	return m
}

// set sets probe s's series at cluster c (c.mu held).
func (m *metrics) set(cluster string, c *clusterResults, s *stored) {
	v := 0.0
	if s.OK {
		v = 1
	}
	ps, ok := c.series.probes[s.Probe]
	if !ok {
		ps = probeSeries{m.ok.WithLabelValues(s.Probe, cluster, c.Site, c.Enterprise), m.duration.WithLabelValues(s.Probe, cluster, c.Site, c.Enterprise)}
		if c.series.probes == nil {
			c.series.probes = map[string]probeSeries{}
		}
		c.series.probes[s.Probe] = ps
	}
	ps.ok.Set(v)
	ps.duration.Set(s.Duration)
}

// updated sets cluster c's last update (c.mu held).
func (m *metrics) updated(cluster string, c *clusterResults, at time.Time) {
	if at.IsZero() {
		return
	}
	if c.series.update == nil {
		c.series.update = m.update.WithLabelValues(cluster, c.Site, c.Enterprise)
	}
	c.series.update.Set(float64(at.UnixNano()) / 1e9)
}

// forgetCluster deletes cluster c's series at its site and enterprise
// (c.mu held), before it moves.
func (m *metrics) forgetCluster(cluster string, c *clusterResults) {
	for probe := range c.Probes {
		m.ok.DeleteLabelValues(probe, cluster, c.Site, c.Enterprise)
		m.duration.DeleteLabelValues(probe, cluster, c.Site, c.Enterprise)
	}
	m.update.DeleteLabelValues(cluster, c.Site, c.Enterprise)
	c.series = clusterSeries{}
}
