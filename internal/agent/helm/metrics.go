package helm

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the applier's Prometheus metrics (amp_agent_helm_*). A nil
// *Metrics records nothing.
type Metrics struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec
	drifts   prometheus.Counter
}

// NewMetrics registers the applier's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_agent_helm_operations_total",
			Help: "Helm operations the agent ran, by operation (install, upgrade, rollback, uninstall, test) and result (ok, error).",
		}, []string{"op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "amp_agent_helm_operation_duration_seconds",
			Help:    "Duration of the agent's Helm operations, by operation (readiness waits excluded).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"op"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_agent_helm_failures_total",
			Help: "helm-release objects that failed, by reason (install, upgrade, rollback, uninstall, test, crash-loop, timeout).",
		}, []string{"reason"}),
		drifts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_agent_helm_drift_corrections_total",
			Help: "Releases whose objects were found changed at the site and restored.",
		}),
	}
	reg.MustRegister(m.ops, m.duration, m.failures, m.drifts)
	return m
}

func (m *Metrics) operation(op string, err error, d time.Duration) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.ops.WithLabelValues(op, result).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}

func (m *Metrics) failure(reason string) {
	if m != nil {
		m.failures.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) drift() {
	if m != nil {
		m.drifts.Inc()
	}
}
