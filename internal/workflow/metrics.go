package workflow

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/workflow")

// Metrics are the workflow engine's metrics (docs/lifecycle.md).
type Metrics struct {
	Started     *prometheus.CounterVec   // by kind
	Ended       *prometheus.CounterVec   // by kind and state
	Steps       *prometheus.CounterVec   // step outcomes by kind: done, error
	StepSeconds *prometheus.HistogramVec // by kind
	Running     *prometheus.GaugeVec     // by kind
	StoreErrors prometheus.Counter

	mu    sync.Mutex
	kinds map[string]bool
}

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
		Started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_workflow_runs_started_total",
			Help: "Workflow runs started, by kind."}, []string{"kind"}),
		Ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_workflow_runs_ended_total",
			Help: "Workflow runs ended, by kind and state (succeeded, failed, cancelled)."}, []string{"kind", "state"}),
		Steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_workflow_steps_total",
			Help: "Workflow steps finished (done) or failed and retried with backoff (error), by kind."}, []string{"kind", "outcome"}),
		StepSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "amp_workflow_step_seconds",
			Help: "Time one workflow step took to run (a waiting step's check included), by kind.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"kind"}),
		Running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "amp_workflow_runs_running",
			Help: "Workflow runs not ended, by kind (set by the runner, on the leader)."}, []string{"kind"}),
		StoreErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "amp_workflow_store_errors_total",
			Help: "Passes of the workflow runner that could not read or write the store's metadata (retried at the next tick)."}),
		kinds: map[string]bool{},
	}
	if reg != nil {
		reg.MustRegister(m.Started, m.Ended, m.Steps, m.StepSeconds, m.Running, m.StoreErrors)
	}
	metricsBy[reg] = m
	return m
}

// setRunning sets the running gauge of every kind seen (0 for a kind with
// no run left).
func (m *Metrics) setRunning(running map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range running {
		m.kinds[k] = true
	}
	for k := range m.kinds {
		m.Running.WithLabelValues(k).Set(float64(running[k]))
	}
}
