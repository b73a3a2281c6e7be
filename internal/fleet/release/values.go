package release

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/schema"
)

// parseValues reads Helm values written as YAML: a map, or nothing.
func parseValues(text string) (map[string]any, error) {
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		return nil, fmt.Errorf("not a YAML map of Helm values: %v", err)
	}
	return m, nil
}

// merge returns over merged into base as Helm merges values files: maps
// key by key, anything else replaced.
func merge(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = merge(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// ValuesFor is the values a cluster carrying labels gets of the bundle
// whose tree is given: the bundle's, then the values of every target
// whose match-labels the cluster carries, merged in the order the tree
// holds them (by name: AMP keeps lists in key order), as Helm merges
// `-f bundle.yaml -f a.yaml -f b.yaml`: a later target wins over an
// earlier one, and each over the bundle's (amp-fleet.yang).
func ValuesFor(tree map[string]any, labels map[string]string) (map[string]any, error) {
	_, values, err := targetValues(tree, labels)
	return values, err
}

// targetValues is ValuesFor with the names of the targets merged.
func targetValues(tree map[string]any, labels map[string]string) ([]string, map[string]any, error) {
	text, _ := tree["values"].(string)
	values, err := parseValues(text)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	targets, _ := tree["target"].([]any)
	for _, t := range targets {
		tm, _ := t.(map[string]any)
		if !fleet.Matches(labels, selector(tm)) {
			continue
		}
		text, _ := tm["values"].(string)
		over, err := parseValues(text)
		if err != nil {
			return nil, nil, err
		}
		name, _ := tm["name"].(string)
		names = append(names, name)
		values = merge(values, over)
	}
	return names, values, nil
}

// valueSets are the distinct values the bundle whose tree is given gives
// the declared clusters (labels by cluster), each with the targets merged
// into it, the bundle's own values first: what a chart is checked with.
func valueSets(tree map[string]any, labels map[string]map[string]string) ([][]string, []map[string]any, error) {
	names, values, err := targetValues(tree, nil)
	if err != nil {
		return nil, nil, err
	}
	sets, vals := [][]string{names}, []map[string]any{values}
	seen := map[string]bool{"": true}
	ids := slices.Sorted(maps.Keys(labels))
	for _, id := range ids {
		names, values, err := targetValues(tree, labels[id])
		if err != nil {
			return nil, nil, err
		}
		if sig := strings.Join(names, "\x00"); !seen[sig] {
			seen[sig] = true
			sets, vals = append(sets, names), append(vals, values)
		}
	}
	return sets, vals, nil
}

// selector reads a target's match-label entries from its tree.
func selector(tm map[string]any) map[string]string {
	sel := map[string]string{}
	list, _ := tm["match-label"].([]any)
	for _, l := range list {
		lm, _ := l.(map[string]any)
		name, _ := lm["name"].(string)
		sel[name], _ = lm["value"].(string)
	}
	return sel
}

// checkValues refuses a bundle's or a target's values that are not a YAML
// map, at the values leaf: Helm could not take them at any site.
func checkValues(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	set := tx.Schema().Set(fleet.SetName, "")
	if set == nil {
		return
	}
	for _, c := range changes {
		if c.After == nil || c.After.Node == nil || (c.After.Node.Name != "bundle" && c.After.Node.Name != "target") {
			continue
		}
		text, _ := c.After.Data["values"].(string)
		if _, err := parseValues(text); err != nil {
			report(false, schema.RESTPathOfKey(set, c.Key, []string{"values"}, false, nil), err.Error())
		}
	}
}

// chartValues are the values of the chart in directory dir of a bundle of
// several ("" : the bundle's one chart takes them all): as an umbrella
// chart gives a subchart its own, the map under the chart's directory
// name, with the bundle's global: map merged over the chart's global:.
// So one values text (and each target's) sets every chart of the bundle.
func chartValues(values map[string]any, dir string) map[string]any {
	if dir == "" {
		return values
	}
	own, _ := values[dir].(map[string]any)
	out := maps.Clone(own)
	if out == nil {
		out = map[string]any{}
	}
	if g, ok := values["global"].(map[string]any); ok {
		mine, _ := out["global"].(map[string]any)
		out["global"] = merge(mine, g)
	}
	return out
}
