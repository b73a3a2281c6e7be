package server

import (
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/netlimit"
	"github.com/amp-edge/amp/internal/park"
)

// limitConnections caps the REST listener at total open connections and
// perSource per source (zero or less: no cap), with
// amp_http_connections_open and amp_http_connections_refused_total
// {reason="total|per-source"} registered on reg.
func limitConnections(ln net.Listener, total, perSource int, reg prometheus.Registerer) net.Listener {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_http_connections_refused_total",
		Help: "REST connections closed on arrival because a cap was reached: total (--max-conns) or per-source (--max-conns-per-source)."},
		[]string{"reason"})
	label := map[string]string{netlimit.ReasonTotal: "total", netlimit.ReasonPerSource: "per-source"}
	for _, l := range label {
		refused.WithLabelValues(l)
	}
	limited := netlimit.Wrap(ln, netlimit.Options{Max: total, PerSource: perSource,
		Refused: func(reason string) { refused.WithLabelValues(label[reason]).Inc() }})
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "amp_http_connections_open",
		Help: "REST connections open now."}, func() float64 { return float64(limited.Open()) })
	reg.MustRegister(refused, open)
	return limited
}

// parkConnections is the listener parked connections come back through
// (internal/park), with amp_http_parked_connections registered on reg.
func parkConnections(addr net.Addr, reg prometheus.Registerer) *park.Listener {
	l := park.NewListener(addr)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "amp_http_parked_connections",
		Help: "REST connections whose request waits with no goroutine (an edge agent's long-poll, docs/agent.md): part of amp_http_connections_open."},
		func() float64 { return float64(l.Parked()) }))
	return l
}
