package provisionapi

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/schema"
)

// TestAllocationMetrics: an allocation that lost races counts each extra
// attempt as conflict_retry; too little free space is exhausted; a
// refusal about the object in the way (a VLAN id taken, a prefix id that
// exists) or anything else is neither; each registry gets its own series.
func TestAllocationMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metricsFor(reg)
	if metricsFor(reg) != m {
		t.Fatal("a second lookup of the same registry made new metrics")
	}
	m.allocated(kindIP, 3, nil)
	m.allocated(kindPrefix, 1, schema.Errorf(schema.KindConflict, "/inventory/v1.0.0/site/s1/prefix/p/available-prefixes", "no free /28 in 10.0.0.0/25"))
	m.allocated(kindVLAN, 1, schema.Errorf(schema.KindConflict, "/1/vid", "VLAN id 800 is VLAN \"MGMT\"'s at site \"s1\""))
	m.allocated(kindVLAN, 2, schema.Errorf(schema.KindForbidden, "/inventory/v1.0.0/site/s1/vlan/x", "refused"))
	m.allocated(kindIP, 1, errors.New("store unavailable"))
	for _, c := range []struct {
		kind, result string
		want         float64
	}{
		{kindIP, "ok", 1}, {kindIP, "conflict_retry", 2}, {kindIP, "exhausted", 0},
		{kindPrefix, "exhausted", 1}, {kindPrefix, "ok", 0},
		{kindVLAN, "exhausted", 0}, {kindVLAN, "conflict_retry", 1}, {kindVLAN, "ok", 0},
	} {
		if got := testutil.ToFloat64(m.allocations.WithLabelValues(c.kind, c.result)); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.kind, c.result, got, c.want)
		}
	}
	if other := metricsFor(prometheus.NewRegistry()); testutil.ToFloat64(other.allocations.WithLabelValues(kindIP, "ok")) != 0 {
		t.Error("another registry shares the counts")
	}
	if n, err := testutil.GatherAndCount(reg, "amp_ipam_allocations_total", "amp_provision_render_sites_total", "amp_cluster_registrations_total"); err != nil || n != 9+2+2 {
		t.Errorf("registered series: %d, %v; want every label pair from the start (13)", n, err)
	}
}
