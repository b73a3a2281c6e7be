package release

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

// A bundle of several charts names its releases <bundle>-<dir>, so bundle
// a's chart b and a bundle named a-b would be one Helm release at a site
// both reach: the agent would refuse the whole state. The clash is
// refused as early as it is knowable: at commit, a new bundle whose id is
// a release name already prepared for another bundle (checkReleaseNames);
// when a version is prepared (its chart directories are known only then),
// a version whose release names another bundle's prepared versions
// already use at a cluster both could reach fails, naming both bundles
// and the release (clash).

func init() {
	config.RegisterRule(fleet.SetName, config.Rule{Name: "fleet-release-names", Check: checkReleaseNames})
}

// checkReleaseNames refuses, at the new bundle's id, a bundle whose id is
// the release of another bundle's chart in a version already prepared.
func checkReleaseNames(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	set := tx.Schema().Set(fleet.SetName, "")
	if set == nil {
		return
	}
	v, bound := engines.Load(tx.Schema())
	if !bound {
		return // no chart is prepared without the fleet-charts service
	}
	meta := v.(store.Meta)
	prefix := schema.RootKey(set, "") + "/bundle/"
	for _, c := range changes {
		if c.Before != nil || c.After == nil || c.After.Node == nil || c.After.Node.Name != "bundle" {
			continue
		}
		seg, ok := strings.CutPrefix(c.Key, prefix)
		if !ok || strings.Contains(seg, "/") {
			continue
		}
		id, err := schema.UnescapeSegment(seg)
		if err != nil {
			continue
		}
		fleet.Children(tx, prefix, func(other string, _ *config.Object) {
			dir, ok := strings.CutPrefix(id, other+"-")
			if !ok || other == id {
				return
			}
			for _, names := range preparedNames(meta, other) {
				if names[id] {
					report(false, schema.RESTPathOfKey(set, c.Key, []string{"bundle-id"}, false, nil),
						fmt.Sprintf("bundle %q would have the Helm release name %q of bundle %q's chart %s (releases are named <bundle>-<chart directory>): choose another id", id, id, other, dir))
					return
				}
			}
		})
	}
}

// preparedNames are the release names of each version of bundle whose
// charts are prepared, by version.
func preparedNames(meta store.Meta, bundle string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	_ = meta.Metas("fleet-chart/"+url.PathEscape(bundle)+"/", func(key string, value []byte) error {
		var p Prepared
		if json.Unmarshal(value, &p) != nil || !p.Ok() {
			return nil
		}
		names := map[string]bool{}
		for _, c := range p.Parts() {
			names[ReleaseName(bundle, c.Dir)] = true
		}
		out[key] = names
		return nil
	})
	return out
}

// reach are the clusters a bundle could be sent to as of snap: those its
// deployments name and the members of its rollouts' groups.
func reach(snap *config.Snapshot, set *schema.ModelSet, bundle string, labels map[string]map[string]string) map[string]bool {
	out := map[string]bool{}
	for c := range deployments(snap, fleet.BundleKey(set, bundle)) {
		out[c] = true
	}
	fleet.Children(snap, schema.RootKey(set, "")+"/rollout/", func(id string, o *config.Object) {
		if b, _ := o.Data["bundle"].(string); b != bundle {
			return
		}
		for _, st := range fleet.Stages(snap, set, id) {
			for _, c := range fleet.GroupMembers(snap, set, st.Group, labels) {
				out[c] = true
			}
		}
	})
	return out
}

// clash is why parts of bundle's version cannot be released (nil: they
// can): one of their release names is a release of another bundle's
// prepared version, and both bundles could reach a cluster.
func clash(snap *config.Snapshot, set *schema.ModelSet, meta store.Meta, bundle string, parts []Part) error {
	mine := map[string]bool{}
	for _, c := range parts {
		mine[ReleaseName(bundle, c.Dir)] = true
	}
	var labels map[string]map[string]string
	var mineReach map[string]bool
	var err error
	fleet.Children(snap, schema.RootKey(set, "")+"/bundle/", func(other string, _ *config.Object) {
		if other == bundle || err != nil {
			return
		}
		var same []string
		for _, names := range preparedNames(meta, other) {
			for n := range names {
				if mine[n] && !slices.Contains(same, n) {
					same = append(same, n)
				}
			}
		}
		if len(same) == 0 {
			return
		}
		if labels == nil {
			labels = fleet.ClusterLabels(snap)
			mineReach = reach(snap, set, bundle, labels)
		}
		var both []string
		for c := range reach(snap, set, other, labels) {
			if mineReach[c] {
				both = append(both, c)
			}
		}
		if len(both) == 0 {
			return
		}
		sort.Strings(same)
		sort.Strings(both)
		err = permanent("release %q of bundle %q is also a release of bundle %q, and both bundles reach cluster %s: a site cannot run two releases of one name (releases are named <bundle>-<chart directory>); rename the chart directory or the bundle",
			same[0], bundle, other, strings.Join(both, ", "))
	})
	return err
}
