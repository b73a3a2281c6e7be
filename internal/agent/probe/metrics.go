package probe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the agent's amp_agent_probe_* series.
type metrics struct {
	runs     *prometheus.CounterVec
	ok       *prometheus.GaugeVec
	duration *prometheus.GaugeVec
	pending  prometheus.Gauge
	dropped  prometheus.Counter
	pushes   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_agent_probe_runs_total",
			Help: "Runs of each end-to-end probe at the site, by result (ok, failed).",
		}, []string{"probe", "result"}),
		ok: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amp_agent_probe_ok",
			Help: "1 when the probe's last run succeeded, 0 when it failed (as seen at the site).",
		}, []string{"probe"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "amp_agent_probe_duration_seconds",
			Help: "How long the probe's last run took.",
		}, []string{"probe"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_agent_probe_results_pending",
			Help: "Probe results not yet pushed to AMP (kept on disk while it is out of reach).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_agent_probe_results_dropped_total",
			Help: "Probe results dropped unpushed because more than the bound waited while AMP was out of reach.",
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_agent_probe_pushes_total",
			Help: "Pushes of probe results to AMP, by result (ok, failed).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.ok, m.duration, m.pending, m.dropped, m.pushes)
	}
	return m
}

func (m *metrics) ran(probe string, ok bool, took time.Duration) {
	result, v := "failed", 0.0
	if ok {
		result, v = "ok", 1
	}
	m.runs.WithLabelValues(probe, result).Inc()
	m.ok.WithLabelValues(probe).Set(v)
	m.duration.WithLabelValues(probe).Set(took.Seconds())
}

func (m *metrics) forget(probe string) {
	m.ok.DeleteLabelValues(probe)
	m.duration.DeleteLabelValues(probe)
}
