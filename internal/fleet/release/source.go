package release

import (
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

func init() {
	edge.RegisterSource(source{})
	config.RegisterRule(fleet.SetName, config.Rule{Name: "fleet-values", Check: checkValues})
}

// engines maps each engine's schema to its metadata, for the source,
// which is handed the schema and a snapshot but reads the prepared charts
// from the store's metadata. Bind registers an engine (amp serve, when it
// builds its services); an engine not bound has no chart prepared, so its
// clusters get no release.
var engines sync.Map // *schema.Schema → store.Meta

// Bind lets the helm-release source of eng's schema read eng's charts.
func Bind(eng *config.Engine) { engines.Store(eng.Schema(), eng.Meta()) }

// source is the edge source of kind helm-release.
type source struct{}

func (source) Kind() string { return wire.KindHelmRelease }

// Affects: a bundle's configuration affects the clusters its deployments
// name; a write of its deployments (state), only the clusters whose
// deployment changed; a chart prepared for one of its versions (Notify,
// by the preparer: Aside is the version), the clusters staged at it or
// running it; a deleted bundle, every cluster (its deployments went with
// it). An inventory cluster's declaration (its labels choose the
// targets' values) affects it.
func (source) Affects(sch *schema.Schema, snap *config.Snapshot, ch edge.Change) []string {
	if id, ok := fleet.ClusterOfKey(sch, ch.Key); ok {
		if ch.State {
			return nil // the agent's reports
		}
		return []string{id}
	}
	set := sch.Set(fleet.SetName, "")
	if set == nil {
		return nil
	}
	rest, ok := strings.CutPrefix(ch.Key, schema.RootKey(set, "")+"/bundle/")
	if !ok {
		return nil
	}
	seg, _, _ := strings.Cut(rest, "/")
	key := schema.RootKey(set, "") + "/bundle/" + seg
	var ids []string
	switch {
	case ch.Aside != "":
		for c, d := range deployments(snap, key) {
			if d.Staged == ch.Aside || d.Active == ch.Aside {
				ids = append(ids, c)
			}
		}
	case ch.State:
		// Every field, not only those the releases are made of: the
		// rollouts rewrite a deployment's state when its staged
		// version's chart gets prepared, which a replica whose preparer
		// did not prepare it (replicas on one store) hears of only so.
		before, after := entriesOf(key, ch.Before), entriesOf(key, ch.After)
		for c, d := range after {
			if b, ok := before[c]; !ok || b != d {
				ids = append(ids, c)
			}
		}
		for c := range before {
			if _, ok := after[c]; !ok {
				ids = append(ids, c)
			}
		}
	default:
		if _, ok := snap.Get(key); !ok {
			return []string{edge.Wildcard}
		}
		for c := range deployments(snap, key) {
			ids = append(ids, c)
		}
	}
	return ids
}

// deployment is what a bundle's deployment of one cluster says the site
// should run, and (all) the rest of its entry, for Affects to compare.
type deployment struct {
	Staged   string
	Active   string // the version the site last reported applied
	HelmTest bool
	// State and Message are the ranked state, which no release is made of.
	State, Message string
}

// read is the last reading of a bundle's deployments: a cluster's
// rebuild looks its own up without reading the whole list again (a state
// write rebuilds every cluster whose entry changed).
type read struct {
	first *any // the list's first element: a new write is a new list
	n     int
	by    map[string]deployment
}

var reads sync.Map // bundle storage key → *read

// deployments reads a bundle's deployments (config false: the rollouts
// write them) by cluster. The answer is shared: not to be changed.
func deployments(snap *config.Snapshot, key string) map[string]deployment {
	if snap.State == nil {
		return nil // a point-in-time read (Engine.At) has no state
	}
	st, _ := snap.State.Get([]byte(key))
	return entriesOf(key, st)
}

// entriesOf reads the deployments in st, bundle key's state.
func entriesOf(key string, st map[string]any) map[string]deployment {
	list, _ := st["deployment"].([]any)
	if len(list) == 0 {
		return nil
	}
	if r, ok := reads.Load(key); ok && r.(*read).first == &list[0] && r.(*read).n == len(list) {
		return r.(*read).by
	}
	out := make(map[string]deployment, len(list))
	for _, d := range list {
		m, _ := d.(map[string]any)
		c, _ := m["cluster"].(string)
		if c == "" {
			continue
		}
		var e deployment
		e.Staged, _ = m["staged-version"].(string)
		e.HelmTest, _ = m["helm-test"].(bool)
		e.Active, _ = m["active-version"].(string)
		e.State, _ = m["state"].(string)
		e.Message, _ = m["message"].(string)
		out[c] = e
	}
	reads.Store(key, &read{first: &list[0], n: len(list), by: out})
	return out
}

// Objects are the cluster's releases: one per chart of each bundle whose
// deployment of the cluster has a staged version whose charts are
// prepared (ReleaseName; a bundle of several charts gives each its part
// of the values, chartValues). A version not
// prepared (or whose chart failed) gives the active version's release
// when the site runs one (nothing changes there), else none: its
// deployment says why (Blocked).
func (source) Objects(sch *schema.Schema, snap *config.Snapshot, cluster string) ([]wire.Object, error) {
	set := sch.Set(fleet.SetName, "")
	if set == nil {
		return nil, nil
	}
	var out []wire.Object
	taken := map[string]bool{}
	var meta store.Meta
	var labels map[string]string
	prefix := schema.RootKey(set, "") + "/bundle/"
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, o, more := it.Next(); more; k, o, more = it.Next() {
		seg := string(k[len(prefix):])
		if strings.Contains(seg, "/") {
			continue
		}
		d := deployments(snap, o.Key)[cluster]
		if d.Staged == "" {
			continue
		}
		bundle, err := schema.UnescapeSegment(seg)
		if err != nil {
			continue
		}
		if meta == nil {
			v, bound := engines.Load(sch)
			if !bound {
				return nil, nil // no fleet-charts service: no chart is prepared
			}
			meta = v.(store.Meta)
			labels, _ = fleet.ClusterLabelsOf(snap, cluster)
		}
		version := d.Staged
		p, ok, err := Lookup(meta, bundle, version)
		if err == nil && (!ok || !p.Ok()) && d.Active != "" && d.Active != version {
			// The staged version cannot be sent (its chart is not
			// prepared yet, or failed): the site keeps the version it
			// runs, rather than uninstalling it for want of a release.
			version = d.Active
			p, ok, err = Lookup(meta, bundle, version)
		}
		if err != nil {
			return nil, err
		}
		if !ok || !p.Ok() {
			continue
		}
		tree, index := snap.Tree(o)
		values, err := ValuesFor(tree, labels)
		if err != nil {
			continue // refused at commit (checkValues): not reachable
		}
		ns, _ := tree["namespace"].(string)
		if ns == "" {
			ns = "default"
		}
		for _, c := range p.Parts() {
			name := ReleaseName(bundle, c.Dir)
			if taken[name] {
				// Bundle a's chart b and bundle a-b would be one release:
				// the agent would refuse the whole state. The first (in
				// key order) keeps the name.
				slog.Warn("two bundles' charts have one release name at a cluster: the latter is not sent", "cluster", cluster, "release", name, "bundle", bundle)
				continue
			}
			taken[name] = true
			spec, err := json.Marshal(wire.HelmRelease{Namespace: ns, Bundle: bundle, Version: version, Chart: c.Chart, Values: chartValues(values, c.Dir), Test: d.HelmTest})
			if err != nil {
				return nil, err
			}
			out = append(out, wire.Object{Kind: wire.KindHelmRelease, Name: name, Spec: spec, Index: index})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
