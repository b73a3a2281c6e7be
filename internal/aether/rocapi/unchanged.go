package rocapi

import (
	"strings"

	"github.com/amp-edge/amp/internal/schema"
)

// checkUnchanged enforces aether-roc-api's rule for POST: every mandatory
// leaf of each object sent must be in the body or named in its
// additionalProperties.unchanged list.
func checkUnchanged(n *schema.Node, val any, path string, collection bool) error {
	var probs schema.Problems
	var walk func(n *schema.Node, v any, path string)
	walk = func(n *schema.Node, v any, path string) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		unchanged := map[string]bool{}
		if ap, ok := m[schema.ExtraKey].(map[string]any); ok {
			if u, ok := ap["unchanged"].(string); ok {
				for _, f := range strings.Split(u, ",") {
					unchanged[strings.TrimSpace(f)] = true
				}
			}
		}
		for _, c := range n.Children {
			cv, present := m[c.Name]
			switch {
			case c.Kind == schema.Leaf && c.Mandatory && c.Config && !present && !unchanged[c.Name]:
				probs.Add(path+"/"+c.Name, "mandatory field '%s' of '%s' must be provided or added to 'unchanged'", c.Name, n.Name)
			case c.Kind == schema.Container && present:
				walk(c, cv, path+"/"+c.Name)
			case c.Kind == schema.List && present:
				items, _ := cv.([]any)
				for _, it := range items {
					em, _ := it.(map[string]any)
					walk(c, it, path+"/"+c.Name+"/"+schema.KeyString(c, em))
				}
			}
		}
	}
	if collection {
		items, _ := val.([]any)
		for _, it := range items {
			em, _ := it.(map[string]any)
			walk(n, it, path+"/"+schema.KeyString(n, em))
		}
	} else if n.Kind == schema.Leaf || n.Kind == schema.LeafList {
		return nil
	} else {
		walk(n, val, path)
	}
	return probs.Err()
}
