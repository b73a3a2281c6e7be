package release

import (
	"encoding/json"
	"net/url"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/store"
)

// Prepared is the outcome of preparing one version of a bundle's chart,
// kept in the store's metadata (fleet-chart/<bundle>/<version>): the
// chart, or why it cannot be had. A version's chart never changes once
// prepared (a commit's tree does not, and a chart repository's version is
// taken once), so a chart or a lasting error is final; a Transient error
// (the server did not answer) is tried again.
type Prepared struct {
	Chart     wire.Chart `json:"chart,omitzero"`
	Error     string     `json:"error,omitempty"`
	Transient bool       `json:"transient,omitempty"`
	At        time.Time  `json:"at"`
}

// Ok is a chart ready to be sent.
func (p Prepared) Ok() bool { return p.Error == "" && p.Chart.Digest != "" }

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
