package rest

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/amp-edge/amp/internal/auth"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// streamsEnded counts /watch streams ended because the caller's
	// credential or right went away while the stream was open.
	streamsEnded *prometheus.CounterVec
	handler      http.Handler
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_http_requests_total",
			Help: "REST requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "amp_http_request_duration_seconds",
			Help:    "REST request latency by route and method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"route", "method"}),
		streamsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_http_streams_ended_total",
			Help: "Open /watch streams ended by the server because the caller's credential (revoked, expired) or right (policy, groups) went away.",
		}, []string{"reason"}),
	}
	m.streamsEnded.WithLabelValues("credential")
	m.streamsEnded.WithLabelValues("right")
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		m.duration.WithLabelValues("model", method)
		m.requests.WithLabelValues("model", method, "200")
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.streamsEnded)
		m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	return m
}

func (m *httpMetrics) observe(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// metricsHandler serves /metrics to operators only: the counters span
// every tenant (requests, transactions, sync status per enterprise).
func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Admin, "/metrics"); err != nil {
		return err
	}
	if s.metrics.handler == nil {
		return writeJSON(w, http.StatusOK, map[string]string{})
	}
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}
