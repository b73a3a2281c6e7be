package rest

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler
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
	}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		m.duration.WithLabelValues("model", method)
		m.requests.WithLabelValues("model", method, "200")
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
		m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	return m
}

func (m *httpMetrics) observe(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) error {
	if s.metrics.handler == nil {
		return writeJSON(w, http.StatusOK, map[string]string{})
	}
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}
