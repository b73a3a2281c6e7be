package audit

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the trail's amp_audit_* and amp_auth_failures_* series.
type metrics struct {
	records      *prometheus.CounterVec
	dropped      prometheus.Counter
	writeErrors  prometheus.Counter
	writable     prometheus.Gauge
	queue        prometheus.Gauge
	bytes        prometheus.Gauge
	pruned       prometheus.Counter
	authFailures prometheus.Counter
	authLimited  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_audit_records_total", Help: "Audit records written, by outcome.",
		}, []string{"outcome"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_audit_dropped_total", Help: "Audit records dropped because the queue waiting for the disk was full (--audit-queue).",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_audit_write_errors_total", Help: "Failed writes of an audit batch (the records stay queued and writes are refused until one succeeds).",
		}),
		writable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_audit_writable", Help: "1 when the audit trail takes records, 0 while its writes fail (configuration writes are refused meanwhile).",
		}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_audit_queue_records", Help: "Audit records waiting for the disk.",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_audit_stored_bytes", Help: "Size of the stored audit records (bounded by --audit-retain-size).",
		}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_audit_pruned_total", Help: "Audit records dropped by retention (--audit-retain-age, --audit-retain-size).",
		}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_auth_failures_total", Help: "Failed authentications (recorded in the audit trail once per source and window, with their count).",
		}),
		authLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amp_auth_failures_limited_total", Help: "Requests refused with 429 because their source failed authentication too often (--auth-fail-limit).",
		}),
	}
	m.writable.Set(1)
	for _, oc := range []string{Allowed, Denied, Error} {
		m.records.WithLabelValues(oc)
	}
	if reg == nil {
		return m, nil
	}
	collectors := []prometheus.Collector{m.records, m.dropped, m.writeErrors, m.writable, m.queue, m.bytes, m.pruned, m.authFailures, m.authLimited}
	for i, c := range collectors {
		if err := reg.Register(c); err != nil {
			// A second trail in one process (tests) shares the series.
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("audit: metrics: %w", err)
			}
			collectors[i] = are.ExistingCollector
		}
	}
	m.records = collectors[0].(*prometheus.CounterVec)
	m.dropped = collectors[1].(prometheus.Counter)
	m.writeErrors = collectors[2].(prometheus.Counter)
	m.writable = collectors[3].(prometheus.Gauge)
	m.queue = collectors[4].(prometheus.Gauge)
	m.bytes = collectors[5].(prometheus.Gauge)
	m.pruned = collectors[6].(prometheus.Counter)
	m.authFailures = collectors[7].(prometheus.Counter)
	m.authLimited = collectors[8].(prometheus.Counter)
	return m, nil
}
