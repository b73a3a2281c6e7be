package monitor

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the adapter's amp_monitor_* metrics.
type Metrics struct {
	reloads  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	applied  *prometheus.GaugeVec
	refused  *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_monitor_reloads_total",
			Help: "Reloads of Prometheus or Alertmanager after AMP wrote a file, by target and result (ok: reloaded and read back).",
		}, []string{"target", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "amp_monitor_reload_duration_seconds",
			Help:    "Time from asking for a reload to reading the new configuration back, by target.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"target"}),
		applied: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amp_monitor_last_applied_timestamp_seconds",
			Help: "When a configuration was last applied and read back, by target (Unix time).",
		}, []string{"target"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_monitor_check_refusals_total",
			Help: "Rendered files promtool or amtool refused, by target; such a file is not written.",
		}, []string{"target"}),
	}
	if reg != nil {
		reg.MustRegister(m.reloads, m.duration, m.applied, m.refused)
	}
	return m
}
