package edge_test

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// releases is a helm-release source for these tests: the releases a test
// gives each cluster (none by default, so the other tests' states hold
// none). The fleet's own source is tested in internal/fleet/release.
type releases struct {
	mu  sync.Mutex
	per map[string][]wire.HelmRelease
}

var testReleases = &releases{per: map[string][]wire.HelmRelease{}}

func init() { edge.RegisterSource(testReleases) }

func (r *releases) Kind() string { return wire.KindHelmRelease }
func (r *releases) Affects(*schema.Schema, *config.Snapshot, edge.Change) []string {
	return nil
}
func (r *releases) Objects(_ *schema.Schema, snap *config.Snapshot, id string) ([]wire.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []wire.Object
	for _, s := range r.per[id] {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		out = append(out, wire.Object{Kind: wire.KindHelmRelease, Name: s.Bundle, Spec: b, Index: snap.Index})
	}
	return out, nil
}

// TestChartsByDesiredState: chart archives are kept by content in the
// store's metadata, and a cluster's agent may read only those its own
// desired state names (the route answers 404 otherwise).
func TestChartsByDesiredState(t *testing.T) {
	s := newSite(t, clusters)
	archive := []byte("\x1f\x8b a chart archive, as far as the store is concerned")
	digest, err := edge.PutChart(s.eng.Meta(), archive)
	if err != nil {
		t.Fatal(err)
	}
	if digest != edge.ChartDigest(archive) {
		t.Fatalf("digest %s", digest)
	}
	if again, err := edge.PutChart(s.eng.Meta(), archive); err != nil || again != digest {
		t.Fatalf("the same archive again: %s %v", again, err)
	}
	got, err := edge.GetChart(s.eng.Meta(), digest)
	if err != nil || !bytes.Equal(got, archive) {
		t.Fatalf("read back: %q %v", got, err)
	}
	if got, err := edge.GetChart(s.eng.Meta(), edge.ChartDigest([]byte("other"))); got != nil || err != nil {
		t.Fatalf("an archive never stored: %q %v", got, err)
	}
	if _, err := edge.PutChart(s.eng.Meta(), make([]byte, edge.MaxChart+1)); err == nil {
		t.Fatal("an archive over the bound was kept")
	}

	testReleases.mu.Lock()
	testReleases.per["ace-x"] = []wire.HelmRelease{{Namespace: "apps", Bundle: "web", Version: "1.0.0",
		Chart: wire.Chart{Name: "web", Version: "1.0.0", Digest: digest}}}
	testReleases.mu.Unlock()
	t.Cleanup(func() {
		testReleases.mu.Lock()
		delete(testReleases.per, "ace-x")
		testReleases.mu.Unlock()
	})
	h := s.hub(edge.Options{})
	for _, tc := range []struct {
		cluster, digest string
		want            bool
	}{
		{"ace-x", digest, true},
		{"ace-y", digest, false}, // another cluster's chart
		{"ace-x", edge.ChartDigest([]byte("other")), false},
	} {
		named, err := h.NamesChart(tc.cluster, tc.digest)
		if err != nil || named != tc.want {
			t.Errorf("NamesChart(%s, %s) = %v, %v; want %v", tc.cluster, tc.digest, named, err, tc.want)
		}
	}
	if _, err := h.NamesChart("ace-z", digest); schema.KindOf(err) != schema.KindNotFound {
		t.Errorf("an undeclared cluster: %v", err)
	}
}
