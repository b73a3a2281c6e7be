package logship

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a Shipper's amp_log_* metrics.
type Metrics struct {
	shippedLines  prometheus.Counter
	droppedLines  prometheus.Counter
	pushFailures  prometheus.Counter
	bufferedLines prometheus.Gauge
}

// NewMetrics makes the shipper's metrics and registers them with reg
// (nil: later, with Register).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		shippedLines: prometheus.NewCounter(prometheus.CounterOpts{Name: "amp_log_shipped_lines_total",
			Help: "Log lines delivered to the log store (the agent: to AMP, which relays them)."}),
		droppedLines: prometheus.NewCounter(prometheus.CounterOpts{Name: "amp_log_dropped_lines_total",
			Help: "Log lines dropped undelivered: the oldest spooled batches, when the spool reached its bound (--log-spool-max-bytes), or a batch the receiver refused as it is (400, 413)."}),
		pushFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "amp_log_push_failures_total",
			Help: "Pushes the log store (or AMP) refused or did not answer; their lines wait in the spool."}),
		bufferedLines: prometheus.NewGauge(prometheus.GaugeOpts{Name: "amp_log_buffered_lines",
			Help: "Log lines waiting on disk in the spool to be resent."}),
	}
	if reg != nil {
		m.Register(reg)
	}
	return m
}

// Register adds the metrics to reg.
func (m *Metrics) Register(reg prometheus.Registerer) {
	reg.MustRegister(m.shippedLines, m.droppedLines, m.pushFailures, m.bufferedLines)
}

func (m *Metrics) shipped(n int) {
	if m != nil {
		m.shippedLines.Add(float64(n))
	}
}

func (m *Metrics) dropped(n int) {
	if m != nil {
		m.droppedLines.Add(float64(n))
	}
}

func (m *Metrics) failed() {
	if m != nil {
		m.pushFailures.Inc()
	}
}

func (m *Metrics) setBuffered(n int) {
	if m != nil {
		m.bufferedLines.Set(float64(n))
	}
}
