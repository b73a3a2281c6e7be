package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// Metrics are the agent's Prometheus metrics (served on --metrics-listen).
// A nil *Metrics records nothing.
type Metrics struct {
	applies     *prometheus.CounterVec
	drift       *prometheus.CounterVec
	refusals    prometheus.Counter
	linkUp      prometheus.Gauge
	lastCheckin prometheus.Gauge
	index       prometheus.Gauge
	certExpiry  prometheus.Gauge
	queries     *prometheus.CounterVec
	interrupts  *prometheus.CounterVec
}

// NewMetrics registers the agent's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_agent_applies_total",
			Help: "Applies of a desired object at the site (resyncs included), by kind and result (applied, failed).",
		}, []string{"kind", "result"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_agent_drift_corrections_total",
			Help: "Objects found changed at the site and restored to their desired state, by kind.",
		}, []string{"kind"}),
		refusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_agent_desired_refused_total",
			Help: "Desired states refused whole before acting because an object was invalid.",
		}),
		linkUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_agent_link_up",
			Help: "1 while the last call to AMP succeeded, 0 while AMP is unreachable or refuses the agent.",
		}),
		lastCheckin: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_agent_last_checkin_timestamp_seconds",
			Help: "Unix time of the last successful check-in.",
		}),
		index: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_agent_desired_index",
			Help: "Index of the desired state the agent holds and enforces (0: none).",
		}),
		certExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_agent_certificate_expiry_timestamp_seconds",
			Help: "Unix time the agent's client certificate expires.",
		}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_agent_site_queries_total",
			Help: "AMP's metric queries run against the site's Prometheus, by result: answered (Prometheus answered, whatever its status), failed (Prometheus could not be asked, or its answer was too large).",
		}, []string{"result"}),
		interrupts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_agent_applies_interrupted_total",
			Help: "Applies interrupted (a release's wait for readiness, say) because a new desired state changed or withdrew the object, by kind.",
		}, []string{"kind"}),
	}
	for _, r := range []string{"answered", "failed"} {
		m.queries.WithLabelValues(r)
	}
	reg.MustRegister(m.applies, m.drift, m.refusals, m.linkUp, m.lastCheckin, m.index, m.certExpiry, m.queries, m.interrupts)
	return m
}

func (m *Metrics) applied(kind, result string) {
	if m != nil {
		m.applies.WithLabelValues(kind, result).Inc()
	}
}

func (m *Metrics) driftCorrected(kind string) {
	if m != nil {
		m.drift.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) interrupted(kind string) {
	if m != nil {
		m.interrupts.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) refused() {
	if m != nil {
		m.refusals.Inc()
	}
}

func (m *Metrics) setLink(up bool) {
	if m == nil {
		return
	}
	if up {
		m.linkUp.Set(1)
	} else {
		m.linkUp.Set(0)
	}
}

func (m *Metrics) checkedIn(t time.Time) {
	if m != nil {
		m.lastCheckin.Set(float64(t.Unix()))
	}
}

func (m *Metrics) setHeld(d *wire.Desired) {
	if m != nil && d != nil {
		m.index.Set(float64(d.Index))
	}
}

func (m *Metrics) setCertificate(notAfter time.Time) {
	if m != nil {
		m.certExpiry.Set(float64(notAfter.Unix()))
	}
}

func (m *Metrics) queried(a wire.SiteAnswer) {
	if m == nil {
		return
	}
	if a.Status == 0 {
		m.queries.WithLabelValues("failed").Inc()
	} else {
		m.queries.WithLabelValues("answered").Inc()
	}
}
