package release

import (
	"encoding/json"
	"net/url"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/store"
)

// Prepared is the outcome of preparing one version of a bundle's charts,
// kept in the store's metadata (fleet-chart/<bundle>/<version>): the
// chart (a path that is a chart, or a chart repository's), the charts of
// a path of several, or why they cannot be had. A version's chart never changes once
// prepared (a commit's tree does not, and a chart repository's version is
// taken once), so a chart or a lasting error is final; a Transient error
// (the server did not answer) is tried again.
type Prepared struct {
	Chart wire.Chart `json:"chart,omitzero"`
	// Charts are a path's charts when it holds several, in the order
	// they are applied (their directories' names).
	Charts    []Part    `json:"charts,omitempty"`
	Error     string    `json:"error,omitempty"`
	Transient bool      `json:"transient,omitempty"`
	At        time.Time `json:"at"`
}

// Part is one chart of a bundle of several: Dir names its directory
// under the bundle's path.
type Part struct {
	Dir   string     `json:"dir"`
	Chart wire.Chart `json:"chart"`
}

// Ok is a chart, or charts, ready to be sent.
func (p Prepared) Ok() bool { return p.Error == "" && len(p.Parts()) > 0 }

// Parts are the prepared charts in apply order, the single chart's Dir
// being "".
func (p Prepared) Parts() []Part {
	if p.Chart.Digest != "" {
		return []Part{{Chart: p.Chart}}
	}
	return p.Charts
}

// ReleaseName is the name of the Helm release of a bundle's chart at a
// site: the bundle's own for its one chart, <bundle>-<dir> for each chart
// of a path of several, so a chart keeps its release from version to
// version while its directory keeps its name.
func ReleaseName(bundle, dir string) string {
	if dir == "" {
		return bundle
	}
	return bundle + "-" + dir
}

// Names are the releases of bundle's version at a site, in apply order:
// the prepared charts', or the bundle's own name when it has none
// prepared (one chart, or none yet).
func Names(meta store.Meta, bundle, version string) []string {
	p, ok, err := Lookup(meta, bundle, version)
	if err != nil || !ok || !p.Ok() {
		return []string{bundle}
	}
	var out []string
	for _, c := range p.Parts() {
		out = append(out, ReleaseName(bundle, c.Dir))
	}
	return out
}

func chartKey(bundle, version string) string {
	return "fleet-chart/" + url.PathEscape(bundle) + "/" + url.PathEscape(version)
}

// found caches the charts prepared, which never change: the edge source
// reads them at every rebuild of a cluster's state.
var found sync.Map // store.Meta → *sync.Map of chartKey → Prepared

// Lookup returns what the preparation of bundle's version gave (ok
// false: it was not tried yet).
func Lookup(meta store.Meta, bundle, version string) (Prepared, bool, error) {
	key := chartKey(bundle, version)
	cache, _ := found.LoadOrStore(meta, &sync.Map{})
	if p, ok := cache.(*sync.Map).Load(key); ok {
		return p.(Prepared), true, nil
	}
	b, err := meta.GetMeta(key)
	if err != nil || b == nil {
		return Prepared{}, false, err
	}
	var p Prepared
	if err := json.Unmarshal(b, &p); err != nil {
		return Prepared{}, false, err
	}
	if p.Ok() {
		cache.(*sync.Map).Store(key, p)
	}
	return p, true, nil
}

// record keeps the outcome of a preparation.
func record(meta store.Meta, bundle, version string, p Prepared) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return meta.PutMeta(chartKey(bundle, version), b)
}

// Blocked says why bundle's version cannot reach a site as a release
// ("": it can), and whether that is final (failed: the chart does not
// load or render, or cannot be had) or a wait (the chart is not prepared
// yet). The rollouts' deployments show it (internal/fleet/rollout).
func Blocked(meta store.Meta, bundle, version string) (reason string, failed bool) {
	p, ok, err := Lookup(meta, bundle, version)
	switch {
	case err != nil:
		return "the chart of version " + version + " cannot be read: " + err.Error(), false
	case !ok:
		return "the chart of version " + version + " is not prepared yet", false
	case p.Ok():
		return "", false
	case p.Transient:
		return "the chart of version " + version + " is not prepared yet: " + p.Error, false
	}
	return "the chart of version " + version + ": " + p.Error, true
}
