package provisionapi

import (
	"errors"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/schema"
)

// metrics are the provision features' own metrics, beside the per-route
// HTTP metrics every route gets (docs/provisioning.md, "Metrics").
type metrics struct {
	// allocations counts IPAM allocations by kind (ip, prefix, vlan) and
	// result: ok, exhausted (too little free), conflict_retry (an attempt
	// another writer beat, chosen again).
	allocations *prometheus.CounterVec
	// renderDuration is how long a site's artifacts took to render when
	// the cache did not hold them; renderSites counts the reads by
	// whether the cache held them (cached) or not (rendered).
	renderDuration prometheus.Histogram
	renderSites    *prometheus.CounterVec
	// registrations counts cluster agents' registrations: ok, or refused
	// (a token that does not hold, or too many attempts).
	registrations *prometheus.CounterVec
	// siteObjects is the number of inventory objects (organization,
	// manufacturers, device types, site, addresses) of each site
	// committed by POST /provision/sites.
	siteObjects prometheus.Histogram
}

var (
	metricsMu sync.Mutex
	// metricsBy holds one set per registry: a process may run several
	// servers (tests), each with its own registry.
	metricsBy = map[prometheus.Registerer]*metrics{}
)

// registerMetrics registers the layer's metrics with a server's registry
// (compat.Layer.Metrics), so they are served from the start, at zero.
func registerMetrics(reg prometheus.Registerer) { metricsFor(reg) }

// metricsOf returns the metrics of the server h belongs to.
func metricsOf(h compat.Host) *metrics { return metricsFor(h.Metrics()) }

func metricsFor(reg prometheus.Registerer) *metrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsBy[reg]; ok {
		return m
	}
	m := &metrics{
		allocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_ipam_allocations_total",
			Help: "IPAM allocations (available-ips, -prefixes, -vlans) by kind and result: ok, exhausted (too little free), conflict_retry (another writer took the choice; chosen again).",
		}, []string{"kind", "result"}),
		renderDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_provision_render_duration_seconds",
			Help:    "Time to render a site's zero-touch artifacts when the cache did not hold them.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		renderSites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_provision_render_sites_total",
			Help: "Reads of a site's artifacts by whether the cache held them (cached) or the site was rendered (rendered).",
		}, []string{"result"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_cluster_registrations_total",
			Help: "Cluster agents' registrations (POST /clusters/register) by result: ok or refused.",
		}, []string{"result"}),
		siteObjects: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_provision_site_objects",
			Help:    "Inventory objects merged per site committed by POST /provision/sites (amp provision site).",
			Buckets: prometheus.ExponentialBuckets(4, 2, 12),
		}),
	}
	// Every series from the start, at zero: a rate over a series that
	// appears with its first event misses that event.
	for _, kind := range []string{kindIP, kindPrefix, kindVLAN} {
		for _, res := range []string{"ok", "exhausted", "conflict_retry"} {
			m.allocations.WithLabelValues(kind, res)
		}
	}
	m.renderSites.WithLabelValues("cached")
	m.renderSites.WithLabelValues("rendered")
	m.registrations.WithLabelValues("ok")
	m.registrations.WithLabelValues("refused")
	if reg != nil {
		reg.MustRegister(m.allocations, m.renderDuration, m.renderSites, m.registrations, m.siteObjects)
	}
	metricsBy[reg] = m
	return m
}

// IPAM kinds, as amp_ipam_allocations_total labels them.
const (
	kindIP     = "ip"
	kindPrefix = "prefix"
	kindVLAN   = "vlan"
)

// allocated counts one allocation that took attempts tries and ended
// with err.
func (m *metrics) allocated(kind string, attempts int, err error) {
	if attempts > 1 {
		m.allocations.WithLabelValues(kind, "conflict_retry").Add(float64(attempts - 1))
	}
	switch {
	case err == nil:
		m.allocations.WithLabelValues(kind, "ok").Inc()
	case exhausted(err):
		m.allocations.WithLabelValues(kind, "exhausted").Inc()
	}
}

// exhausted reports whether an allocation was refused for lack of free
// space: IPAM refuses it as a conflict at the available-* path it was
// asked at (other conflicts name the object in the way).
func exhausted(err error) bool {
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindConflict {
		return false
	}
	for _, p := range se.Problems {
		for _, suffix := range []string{"/available-ips", "/available-prefixes", "/available-vlans"} {
			if strings.HasSuffix(p.Path, suffix) {
				return true
			}
		}
	}
	return false
}
