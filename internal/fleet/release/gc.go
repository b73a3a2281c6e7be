package release

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/schema"
)

// Collect removes the charts no one needs any more: the record of every
// version of a bundle that is neither wanted (its repo's newest commit,
// its chart's version, a rollout's version, a staged version) nor active
// at a cluster (a rollback goes back to it), with the records of deleted
// bundles; then every chart archive no record left names. It returns how
// many records and archives it removed.
func (p *Preparer) Collect(ctx context.Context) (records, archives int, err error) {
	snap := p.Engine.Snapshot()
	set := snap.Schema().Set(fleet.SetName, "")
	if set == nil {
		return 0, 0, nil
	}
	keep := map[string]bool{}
	for _, w := range wanted(snap, set) {
		keep[chartKey(w.bundle, w.version)] = true
	}
	for b, versions := range activeVersions(snap, set) {
		for _, v := range versions {
			keep[chartKey(b, v)] = true
		}
	}
	meta := p.Engine.Meta()
	var drop []string
	used := map[string]bool{} // archive digests the kept records name
	err = meta.Metas("fleet-chart/", func(key string, value []byte) error {
		if !keep[key] {
			drop = append(drop, key)
			return nil
		}
		var rec Prepared
		if json.Unmarshal(value, &rec) == nil {
			for _, c := range rec.Parts() {
				used[c.Chart.Digest] = true
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	cache, _ := found.LoadOrStore(meta, &sync.Map{})
	for _, key := range drop {
		if err := meta.DeleteMeta(key); err != nil {
			return records, 0, err
		}
		cache.(*sync.Map).Delete(key)
		p.mu.Lock()
		delete(p.done, key)
		delete(p.later, key)
		p.mu.Unlock()
		records++
	}
	var unused []string
	err = edge.Charts(meta, func(digest string) {
		if !used[digest] {
			unused = append(unused, digest)
		}
	})
	if err != nil {
		return records, 0, err
	}
	for _, digest := range unused {
		if ctx.Err() != nil {
			break
		}
		if err := edge.DeleteChart(meta, digest); err != nil {
			return records, archives, err
		}
		archives++
	}
	p.Metrics.collected.Add(float64(archives))
	return records, archives, nil
}

// activeVersions lists, by bundle, the versions its deployments have
// active at their clusters.
func activeVersions(snap *config.Snapshot, set *schema.ModelSet) map[string][]string {
	out := map[string][]string{}
	if snap.State == nil {
		return out
	}
	fleet.Children(snap, schema.RootKey(set, "")+"/bundle/", func(id string, o *config.Object) {
		st, _ := snap.State.Get([]byte(o.Key))
		list, _ := st["deployment"].([]any)
		for _, d := range list {
			m, _ := d.(map[string]any)
			if v, _ := m["active-version"].(string); v != "" {
				out[id] = append(out[id], v)
			}
		}
	})
	return out
}
