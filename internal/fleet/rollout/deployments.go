package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/fleet/release"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

// Entry is what AMP wants of one bundle on one cluster, kept in the
// store's metadata (so it survives restarts, where the embedded store
// forgets operational state, and moves with backups): the deployment's
// staged-version, and the rollout that plans another.
type Entry struct {
	Staged  string `json:"staged,omitempty"`  // the version the site should run ("": none)
	Planned string `json:"planned,omitempty"` // a version a rollout will stage here later
	Note    string `json:"note,omitempty"`    // why: the rollout and partition, a rollback's reason
	// HelmTest: the release's Helm tests run after each install or
	// upgrade (the staging stage asked for them).
	HelmTest bool `json:"helm-test,omitempty"`
}

// Deployments are the entries of every bundle, by bundle then cluster.
type Deployments struct{ Meta store.Meta }

const deployPrefix = "fleet-deploy/"

// Get returns bundle's entries.
func (d Deployments) Get(bundle string) (map[string]Entry, error) {
	b, err := d.Meta.GetMeta(deployPrefix + bundle)
	if err != nil || b == nil {
		return map[string]Entry{}, err
	}
	m := map[string]Entry{}
	return m, json.Unmarshal(b, &m)
}

// Update changes bundle's entries with fn and stores them.
func (d Deployments) Update(bundle string, fn func(m map[string]Entry)) error {
	m, err := d.Get(bundle)
	if err != nil {
		return err
	}
	fn(m)
	for c, e := range m {
		if e == (Entry{}) {
			delete(m, c)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return d.Meta.PutMeta(deployPrefix+bundle, b)
}

// Bundles lists the bundles with entries.
func (d Deployments) Bundles() ([]string, error) {
	var out []string
	err := d.Meta.Metas(deployPrefix, func(key string, _ []byte) error {
		out = append(out, key[len(deployPrefix):])
		return nil
	})
	return out, err
}

// Release is a helm-release object's outcome as a site's agent reported it.
type Release struct {
	Reported  bool   // the agent reports the release
	Connected bool   // the cluster's agent is connected
	State     string // applied, failed, pending
	Version   string // the bundle version it runs
	Ready     bool
	Drift     bool
	Message   string
	At        time.Time // when the agent last applied or checked it
	// Blocked says why the staged version cannot reach the site ("": it
	// can): its chart is not prepared yet, or failed for good
	// (ChartFailed); release.Blocked.
	Blocked     string
	ChartFailed bool
}

// FailedAt reports whether the release failed at version: reported
// failed for that version, or failed in a report made since staged (an
// applier that keeps the old version running when an upgrade fails).
func (r Release) FailedAt(version string, staged time.Time) bool {
	return r.Reported && r.State == wire.StateFailed && (r.Version == version || !r.At.Before(staged.Truncate(time.Second)))
}

// Good is a release running version, applied and ready.
func (r Release) Good(version string) bool {
	return r.Reported && r.State == wire.StateApplied && r.Version == version && r.Ready
}

// ReleaseOf reads what cluster's agent reports of a bundle's releases
// (the helm-release objects names, release.Names: the bundle's one, or
// one per chart of a bundle of several) as one: failed when one failed,
// naming it; applied, ready and at a version when every one is; drifted
// when one did.
func ReleaseOf(hub *edge.Hub, cluster string, names []string) Release {
	st, err := hub.Status(cluster, true)
	if err != nil {
		return Release{}
	}
	return releaseOf(st.Connected, st.ObjectStates, names)
}

// releaseOf is ReleaseOf of an agent's object states.
func releaseOf(connected bool, states []map[string]any, names []string) Release {
	r := Release{Connected: connected}
	byName := map[string]map[string]any{}
	for _, o := range states {
		if o["kind"] == wire.KindHelmRelease {
			name, _ := o["name"].(string)
			byName[name] = o
		}
	}
	// about prefixes a release's message with its name in a bundle of
	// several, so the deployment's reason names the failing chart.
	about := func(name, msg string) string {
		if len(names) == 1 || msg == "" {
			return msg
		}
		return "release " + name + ": " + msg
	}
	var fail, drifted, missing, unready, lag, failVersion string
	var failAt time.Time
	ready, failed := true, false
	for _, name := range names {
		o, ok := byName[name]
		if !ok {
			if missing == "" {
				missing = "release " + name + " is not reported yet"
			}
			ready = false
			continue
		}
		state, _ := o["state"].(string)
		version, _ := o["version"].(string)
		ok, _ = o["ready"].(bool)
		drift, _ := o["drift"].(bool)
		msg, _ := o["message"].(string)
		var at time.Time
		if s, isStr := o["at"].(string); isStr {
			at, _ = time.Parse(time.RFC3339, s)
		}
		if !r.Reported {
			r.Version, r.State, r.Message = version, state, msg
		}
		r.Reported = true
		if version != r.Version && lag == "" {
			lag = version // not every release runs one version yet
		}
		if r.State == wire.StateApplied && state != wire.StateApplied {
			r.State = state
		}
		if at.After(r.At) {
			r.At = at
		}
		if state == wire.StateFailed && !failed {
			failed, fail, failVersion, failAt = true, about(name, msg), version, at
		}
		if drift && !r.Drift {
			r.Drift, drifted = true, about(name, msg)
		}
		if !ok && unready == "" {
			unready = about(name, msg)
		}
		ready = ready && ok
	}
	r.Ready = ready && r.Reported
	switch {
	case failed:
		r.State, r.Version, r.Message, r.At = wire.StateFailed, failVersion, fail, failAt
		return r
	case missing != "":
		r.Version = "" // the site does not run every chart of the version
	case lag != "":
		r.Version = lag
	}
	if len(names) > 1 {
		r.Message = firstOf(drifted, missing, unready)
	}
	return r
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// deploymentOf is a deployment's state, ranked as amp-fleet.yang says.
func deploymentOf(cluster string, e Entry, r Release) map[string]any {
	d := map[string]any{"cluster": cluster}
	if e.Staged != "" {
		d["staged-version"] = e.Staged
	}
	if e.HelmTest {
		d["helm-test"] = true
	}
	if r.Reported && r.State == wire.StateApplied && r.Version != "" {
		d["active-version"] = r.Version
	}
	state, msg := "ready", ""
	switch {
	case r.Reported && r.State == wire.StateFailed:
		state, msg = "error", r.Message
	case !r.Connected:
		state, msg = "waiting", "the cluster's agent is not connected"
	case r.Drift:
		state, msg = "modified", r.Message
	case e.Planned != "" && e.Planned != e.Staged:
		state, msg = "pending", e.Note
	case e.Staged == "" && r.Reported:
		state, msg = "out-of-sync", "no version is staged: the release is being removed"
	case e.Staged == "":
		state, msg = "pending", e.Note
	case r.ChartFailed:
		state, msg = "error", r.Blocked
	case r.Blocked != "" && r.Version != e.Staged:
		state, msg = "pending", r.Blocked
	case !r.Reported || r.Version != e.Staged:
		state, msg = "out-of-sync", fmt.Sprintf("staged %s; the site reports %s", e.Staged, orNone(r.Version))
	case r.State != wire.StateApplied:
		state, msg = "out-of-sync", "the site has not applied it yet"
	case !r.Ready:
		state, msg = "not-ready", r.Message
	}
	if msg == "" && e.Note != "" {
		msg = e.Note
	}
	d["state"] = state
	if msg != "" {
		d["message"] = msg
	}
	return d
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Reconciler writes every bundle's deployment list (config false) from
// the entries and the agents' reports, when it changed, and counts the
// deployments by state.
type Reconciler struct {
	Engine  *config.Engine
	Hub     *edge.Hub
	Metrics *Metrics

	mu   sync.Mutex
	last map[string][]any // written last, per bundle
}

// Pass reconciles every bundle with entries.
func (rc *Reconciler) Pass(ctx context.Context) error {
	d := Deployments{Meta: rc.Engine.Meta()}
	bundles, err := d.Bundles()
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, b := range bundles {
		list, err := rc.Bundle(ctx, b)
		if err != nil {
			return err
		}
		for _, x := range list {
			counts[x.(map[string]any)["state"].(string)]++
		}
	}
	rc.Metrics.setDeployments(counts)
	return nil
}

// Bundle reconciles one bundle and returns its deployments.
func (rc *Reconciler) Bundle(ctx context.Context, bundle string) ([]any, error) {
	entries, err := (Deployments{Meta: rc.Engine.Meta()}).Get(bundle)
	if err != nil {
		return nil, err
	}
	clusters := make([]string, 0, len(entries))
	for c := range entries {
		clusters = append(clusters, c)
	}
	sort.Strings(clusters)
	list := make([]any, 0, len(clusters))
	for _, c := range clusters {
		e := entries[c]
		var blocked string
		var chartFailed bool
		if e.Staged != "" {
			blocked, chartFailed = release.Blocked(rc.Engine.Meta(), bundle, e.Staged)
		}
		// The releases of the staged version; when it cannot be sent (the
		// site is sent the version it runs) or none is staged (the bundle
		// is being removed), those of the version the site ran.
		version := e.Staged
		if a := rc.active(bundle, c); a != "" && (version == "" || blocked != "") {
			version = a
		}
		r := ReleaseOf(rc.Hub, c, release.Names(rc.Engine.Meta(), bundle, version))
		r.Blocked, r.ChartFailed = blocked, chartFailed
		list = append(list, deploymentOf(c, e, r))
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.last == nil {
		rc.last = map[string][]any{}
	}
	if reflect.DeepEqual(rc.last[bundle], list) {
		return list, nil
	}
	set := rc.Engine.Schema().Set(fleet.SetName, "")
	if _, ok := rc.Engine.Snapshot().Get(fleet.BundleKey(set, bundle)); !ok {
		return list, nil // the bundle was deleted: its state went with it
	}
	if err := writeState(ctx, rc.Engine, fleet.BundlePath(set, bundle)+"/deployment", list); err != nil {
		return nil, err
	}
	rc.last[bundle] = list
	return list, nil
}

// active is the version the deployment of bundle at cluster last wrote
// as active ("": none, or not since this replica started).
func (rc *Reconciler) active(bundle, cluster string) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, x := range rc.last[bundle] {
		if d := x.(map[string]any); d["cluster"] == cluster {
			v, _ := d["active-version"].(string)
			return v
		}
	}
	return ""
}

// writeState replaces the operational state at a REST path.
func writeState(ctx context.Context, eng *config.Engine, path string, value any) error {
	route, err := eng.Schema().ParseRoute(path)
	if err != nil {
		return err
	}
	loc, err := route.Resolve()
	if err != nil {
		return err
	}
	// In JSON terms, as the schema decodes (numbers as json.Number).
	b, err := json.Marshal(value)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), false, schema.DecodeOptions{AllowState: true})
	if err != nil {
		return err
	}
	return eng.SetState(ctx, loc, config.OpReplace, val)
}
