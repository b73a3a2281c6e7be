package ca

import (
	"encoding/json"
	"net/url"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/config"
)

// Metrics are the CA's (docs/agent.md, "Enrolment and identity").
type Metrics struct {
	// issued counts certificates signed, by reason: enrol or renew.
	issued *prometheus.CounterVec
	// refusals counts certificates (and enrolments, renewals) refused,
	// by reason (refusalReasons).
	refusals *prometheus.CounterVec
}

// Refused counts a refusal the CA did not make itself (an enrolment's
// token, a CSR).
func (m *Metrics) Refused(reason string) { m.refusals.WithLabelValues(reason).Inc() }

func newMetrics() *Metrics {
	m := &Metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_edge_certificates_issued_total",
			Help: "Edge agent certificates signed by AMP's agent CA, by reason: enrol (POST /clusters/register) or renew (POST /edge/v1/clusters/{cluster}/certificate).",
		}, []string{"reason"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_edge_certificate_refusals_total",
			Help: "Agent certificates, enrolments and renewals refused, by reason: foreign_ca, expired, not_yet_valid, revoked, undeclared, bad_csr, token.",
		}, []string{"reason"}),
	}
	// Every series from the start, at zero.
	for _, r := range []string{ReasonEnrol, ReasonRenew} {
		m.issued.WithLabelValues(r)
	}
	for _, r := range refusalReasons {
		m.refusals.WithLabelValues(r)
	}
	return m
}

// expiryCollector reports, at each scrape, the newest expiry of each
// declared cluster's valid certificates as the store holds them: every
// replica reports the same, whichever signed. When the store cannot be
// read (an etcd outage) it reports what it last read: a failing store must
// not take every other metric of /metrics down with it, least of all
// while the outage is what operators are looking at.
type expiryCollector struct {
	c    *CA
	mu   sync.Mutex
	last map[string]float64
}

var expiryDesc = prometheus.NewDesc("amp_edge_certificate_expiry_timestamp_seconds",
	"When the newest valid certificate of a cluster's agent expires (Unix time); no series: the cluster has none.", []string{"cluster"}, nil)

func (*expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

func (e *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	newest := map[string]float64{}
	err := e.c.meta.Metas(serialPrefix, func(k string, v []byte) error {
		esc, _, ok := strings.Cut(strings.TrimPrefix(k, serialPrefix), "/")
		cluster, err := url.PathUnescape(esc)
		var en entry
		if !ok || err != nil || json.Unmarshal(v, &en) != nil || en.Created != e.c.incarnation(cluster) {
			return nil // not one of ours, or of a deleted cluster: nothing to report
		}
		if t := float64(en.NotAfter.Unix()); t > newest[cluster] {
			newest[cluster] = t
		}
		return nil
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.c.log.Warn("agent certificate expiries not read from the store; reporting the last read", "error", err)
		newest = e.last
	}
	e.last = newest
	for c, t := range newest {
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, t, c)
	}
}

var (
	registryMu sync.Mutex
	// registry holds the CA of each engine: amp serve attaches the one
	// its flags configure, the layers' routes find it through For.
	registry = map[*config.Engine]*CA{}
)

// Attach makes c the CA of its engine, for For.
func Attach(c *CA) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[c.eng] = c
}

// Detach forgets the CA of eng (its server stopped).
func Detach(eng *config.Engine) {
	registryMu.Lock()
	defer registryMu.Unlock()
	delete(registry, eng)
}

// For returns the CA of eng: the one amp serve attached, or, for a
// server built without one (tests of the REST layers), the default CA in
// the store's metadata, with its metrics registered with reg.
func For(eng *config.Engine, reg prometheus.Registerer) (*CA, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if c, ok := registry[eng]; ok {
		return c, nil
	}
	c, err := New(eng, Options{Registerer: reg})
	if err != nil {
		return nil, err
	}
	registry[eng] = c
	return c, nil
}
