package edge

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the agent link's series (docs/agent.md, "Metrics").
type metrics struct {
	lastCheckin *prometheus.GaugeVec
	connected   *prometheus.GaugeVec
	checkins    *prometheus.CounterVec
	answers     *prometheus.CounterVec
	waiting     prometheus.Gauge
	delivery    prometheus.Histogram
}

var (
	metricsMu sync.Mutex
	// metricsBy holds one set per registry: a process may run several
	// servers (tests), each with its own registry.
	metricsBy = map[prometheus.Registerer]*metrics{}
)

// RegisterMetrics registers the link's metrics with a server's registry
// (compat.Layer.Metrics), so they are served from the start.
func RegisterMetrics(reg prometheus.Registerer) { metricsFor(reg) }

func metricsFor(reg prometheus.Registerer) *metrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsBy[reg]; ok && reg != nil {
		return m
	}
	m := &metrics{
		lastCheckin: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amp_edge_last_checkin_timestamp_seconds",
			Help: "When each cluster's agent last checked in or asked for its desired state (Unix time; kept in memory, written to the store only when something else changed or every few minutes).",
		}, []string{"cluster", "site"}),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amp_edge_connected",
			Help: "1 while a cluster's agent is connected (checked in within two check-in intervals, or holds a desired-state wait open), 0 once it is not.",
		}, []string{"cluster", "site"}),
		checkins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_edge_checkins_total",
			Help: "Agent check-ins by outcome: unchanged (nothing but the time changed: nothing written), recorded (written as the cluster's state), refused (malformed, or not recorded).",
		}, []string{"outcome"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_edge_desired_answers_total",
			Help: "Desired-state answers by kind: unchanged (304), delta (what changed since the agent's index), full (the whole state).",
		}, []string{"answer"}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_edge_waiting_agents",
			Help: "Agents holding a desired-state wait open.",
		}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_edge_desired_delivery_seconds",
			Help:    "Time from the commit that changed a cluster's desired state to the answer of its waiting agent.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	for _, o := range []string{CheckinUnchanged, CheckinRecorded, CheckinRefused} {
		m.checkins.WithLabelValues(o)
	}
	for _, a := range []string{AnswerUnchanged, AnswerDelta, AnswerFull} {
		m.answers.WithLabelValues(a)
	}
	if reg != nil {
		reg.MustRegister(m.lastCheckin, m.connected, m.checkins, m.answers, m.waiting, m.delivery)
		metricsBy[reg] = m
	}
	return m
}

// setLink sets a cluster's connected gauge and last check-in time.
func (m *metrics) setLink(c Cluster, connected bool, seen time.Time) {
	v := 0.0
	if connected {
		v = 1
	}
	m.connected.WithLabelValues(c.ID, c.Site).Set(v)
	m.lastCheckin.WithLabelValues(c.ID, c.Site).Set(float64(seen.UnixNano()) / 1e9)
}

// forget drops a deleted (or moved) cluster's series.
func (m *metrics) forget(c Cluster) {
	m.connected.DeleteLabelValues(c.ID, c.Site)
	m.lastCheckin.DeleteLabelValues(c.ID, c.Site)
}
