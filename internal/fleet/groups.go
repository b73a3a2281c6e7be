package fleet

import (
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// inventorySet is the inventory model set whose clusters the groups select
// (read by its storage keys: the fleet's wing does not link the inventory's).
const inventorySet = "inventory"

// Children calls fn for each direct child object of a list under prefix
// ("…/cluster/" → each cluster, not its labels), with its unescaped key.
func Children(snap *config.Snapshot, prefix string, fn func(id string, o *config.Object)) {
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		seg := string(k[len(prefix):])
		if strings.Contains(seg, "/") {
			continue
		}
		if id, err := schema.UnescapeSegment(seg); err == nil {
			fn(id, o)
		}
	}
}

// ClusterLabels returns every declared inventory cluster's labels as of
// snap, by cluster id.
func ClusterLabels(snap *config.Snapshot) map[string]map[string]string {
	out := map[string]map[string]string{}
	inv := snap.Schema().Set(inventorySet, "")
	if inv == nil {
		return out
	}
	prefix := schema.RootKey(inv, "") + "/cluster/"
	Children(snap, prefix, func(id string, _ *config.Object) {
		out[id] = labelsAt(snap, prefix+schema.EscapeSegment(id))
	})
	return out
}

// ClusterLabelsOf returns one declared inventory cluster's labels as of
// snap (ok false: no such cluster).
func ClusterLabelsOf(snap *config.Snapshot, id string) (labels map[string]string, ok bool) {
	inv := snap.Schema().Set(inventorySet, "")
	if inv == nil {
		return nil, false
	}
	key := schema.RootKey(inv, "") + "/cluster/" + schema.EscapeSegment(id)
	if _, ok := snap.Get(key); !ok {
		return nil, false
	}
	return labelsAt(snap, key), true
}

// ClusterOfKey returns the inventory cluster a storage key is (or lies
// under): "inventory/1.0.0/cluster/ace-x/label/env" → ace-x.
func ClusterOfKey(sch *schema.Schema, key string) (string, bool) {
	inv := sch.Set(inventorySet, "")
	if inv == nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(key, schema.RootKey(inv, "")+"/cluster/")
	if !ok {
		return "", false
	}
	seg, _, _ := strings.Cut(rest, "/")
	id, err := schema.UnescapeSegment(seg)
	return id, err == nil
}

// labelsAt reads the label entries of the cluster stored under key.
func labelsAt(snap *config.Snapshot, key string) map[string]string {
	labels := map[string]string{}
	Children(snap, key+"/label/", func(name string, l *config.Object) {
		labels[name], _ = l.Data["value"].(string)
	})
	return labels
}

// Selector reads the match-label entries below an object key (a group, a
// bundle's target).
func Selector(snap *config.Snapshot, key string) map[string]string {
	sel := map[string]string{}
	Children(snap, key+"/match-label/", func(name string, o *config.Object) {
		sel[name], _ = o.Data["value"].(string)
	})
	return sel
}

// Matches reports whether labels carry every label of sel.
func Matches(labels, sel map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// GroupKey is the storage key of a cluster-group of set.
func GroupKey(set *schema.ModelSet, id string) string {
	return schema.RootKey(set, "") + "/cluster-group/" + schema.EscapeSegment(id)
}

// GroupMembers returns the declared clusters of group id as of snap, in
// id order: those whose labels match every match-label (a group without
// match-label selects none by label), plus those it names.
func GroupMembers(snap *config.Snapshot, set *schema.ModelSet, id string, labels map[string]map[string]string) []string {
	o, ok := snap.Get(GroupKey(set, id))
	if !ok {
		return nil
	}
	in := map[string]bool{}
	if sel := Selector(snap, o.Key); len(sel) > 0 {
		for c, l := range labels {
			if Matches(l, sel) {
				in[c] = true
			}
		}
	}
	named, _ := o.Data["cluster"].([]any)
	for _, n := range named {
		if c, ok := n.(string); ok {
			if _, declared := labels[c]; declared {
				in[c] = true
			}
		}
	}
	out := make([]string, 0, len(in))
	for c := range in {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
