package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/client"
	"github.com/amp-edge/amp/internal/schema"
)

func newApplyCmd(g *globalOpts) *cobra.Command {
	var files []string
	var dryRun bool
	var message string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR [-f …]",
		Short: "Apply configuration files as one transaction",
		Long: `Apply YAML or JSON files as ONE transaction (PATCH /` + compatROC + `, merge
semantics). A directory applies all its *.yaml, *.yml and *.json files in
lexical order; several -f are applied together, in the order given. A YAML
file may hold several documents separated by "---".

Two document shapes are accepted:

(a) the ` + compatROC + ` top-level PATCH body:
` + applyBulkExample + `

(b) a path and a value, or a list of them:

    enterprise: acme              # optional with a full path or -e
    path: site/acme-chicago       # or ` + siteExample + `/acme-chicago
    value:
      display-name: Chicago plant

The path of (b) must be a top-level list entry (site/S, application/A,
template/T, traffic-class/C), a top-level list (site; value is a list of
entries) or the enterprise root (value is the enterprise tree, as
"amp export -o yaml" prints it). As in ` + compatROC + `, mandatory leaves of
every object sent must be given or listed in additionalProperties.unchanged.

The changes are always printed as a diff; --dry-run shows them without
committing; -o json|yaml prints the result.

Examples:
  amp apply -f site.yaml --dry-run
  amp apply -f ./config/ -m "rollout 42"`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("give the files to apply with -f FILE|DIR")
			}
			if _, err := g.outputFormat("table", "json", "yaml", "table"); err != nil {
				return err
			}
			var paths []string
			for _, f := range files {
				ps, err := expandFiles(f)
				if err != nil {
					return err
				}
				paths = append(paths, ps...)
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			b := &applyBatch{top: &client.TopLevel{DefaultTarget: g.enterprise, Updates: map[string][]any{}, Deletes: map[string][]any{}}, roots: map[string]map[string]any{}}
			for _, p := range paths {
				if err := g.addFile(ctx, b, p); err != nil {
					return err
				}
			}
			c := g.client(client.WithMessage(message))
			var res *client.WriteResult
			var err error
			switch topLen := len(b.top.Updates) + len(b.top.Deletes); {
			case topLen == 0 && len(b.order) == 0:
				return fmt.Errorf("nothing to apply in %s", strings.Join(files, ", "))
			case len(b.order) == 0:
				res, err = c.PatchTopLevel(ctx, b.top, dryRun)
			case topLen == 0 && len(b.order) == 1:
				res, err = c.Patch(ctx, b.order[0], b.roots[b.order[0]], dryRun)
			default:
				spans := b.order
				if topLen > 0 {
					spans = append([]string{"PATCH /" + compatROC}, spans...)
				}
				return fmt.Errorf("one transaction cannot span %s: PATCH /%s takes only the sets with %s's rules, and the others are written one root (an enterprise's in a set, or a global set's) per request; apply them in separate runs", strings.Join(spans, ", "), compatROC, compatROC)
			}
			if err != nil {
				return err
			}
			return g.reportWrite(cmd, c, res)
		}),
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "YAML or JSON file, or a directory of them (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the changes without committing them")
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message recorded in the history")
	return cmd
}

func expandFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			out = append(out, filepath.Join(p, e.Name()))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no *.yaml, *.yml or *.json files", p)
	}
	return out, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// readDocs reads the documents of a YAML or JSON file as JSON values.
func readDocs(p string) ([]any, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var chunks [][]byte
	if strings.EqualFold(filepath.Ext(p), ".json") {
		chunks = [][]byte{data}
	} else {
		for _, s := range docSeparator.Split(string(data), -1) {
			chunks = append(chunks, []byte(s))
		}
	}
	var out []any
	for i, ch := range chunks {
		if len(bytes.TrimSpace(ch)) == 0 {
			continue
		}
		j, err := yaml.YAMLToJSON(ch)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", p, i+1, err)
		}
		v, err := decode(j)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", p, i+1, err)
		}
		if v != nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// applyBatch is what apply sends as its one transaction: a bulk PATCH
// body for the sets with the compatibility layer's rules (compatROC), or one
// merge patch on the root of a set (an enterprise's or a global set's).
type applyBatch struct {
	top   *client.TopLevel
	roots map[string]map[string]any // root REST path -> merge patch
	order []string                  // roots in first-seen order
}

// addFile merges the documents of one file into b.
func (g *globalOpts) addFile(ctx context.Context, b *applyBatch, p string) error {
	docs, err := readDocs(p)
	if err != nil {
		return err
	}
	for _, d := range docs {
		items := []any{d}
		if l, ok := d.([]any); ok {
			items = l
		}
		for i, it := range items {
			where := p
			if len(items) > 1 {
				where = fmt.Sprintf("%s[%d]", p, i)
			}
			m, ok := it.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: expected an object (a top-level PATCH body or {path, value}), not %s", where, describeJSON(it))
			}
			if err := g.addDoc(ctx, b, m, where); err != nil {
				return err
			}
		}
	}
	return nil
}

func describeJSON(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case nil:
		return "null"
	}
	return "a scalar"
}

func (g *globalOpts) addDoc(ctx context.Context, b *applyBatch, m map[string]any, where string) error {
	_, hasU := m["Updates"]
	_, hasD := m["Deletes"]
	_, hasT := m["default-target"]
	if hasU || hasD || hasT {
		return addTopLevel(b.top, m, where)
	}
	if _, ok := m["value"]; ok {
		return g.addPathValue(ctx, b, m, where)
	}
	if _, ok := m["path"]; ok {
		return g.addPathValue(ctx, b, m, where)
	}
	return fmt.Errorf("%s: not a document apply understands: expected Updates/Deletes (a PATCH /%s body) or path and value", where, compatROC)
}

// addPathValue converts a {enterprise, path, value} document to top-level
// Updates entries (a set with compatROC's rules) or into the merge
// patch of its root (any other set).
func (g *globalOpts) addPathValue(ctx context.Context, b *applyBatch, m map[string]any, where string) error {
	for k := range m {
		if k != "enterprise" && k != "path" && k != "value" {
			return fmt.Errorf("%s: unknown field %q (expected enterprise, path, value)", where, k)
		}
	}
	ent, _ := m["enterprise"].(string)
	p, _ := m["path"].(string)
	value, ok := m["value"]
	if !ok {
		return fmt.Errorf("%s: no value", where)
	}
	cat := g.catalog(ctx)
	var full string
	if strings.HasPrefix(p, "/") {
		full = strings.TrimRight(p, "/")
	} else {
		if ent == "" {
			ent = g.enterprise
		}
		ms, rest, err := cat.shortSet(strings.Trim(p, "/"), ent != "")
		if err != nil {
			return fmt.Errorf("%s: %v", where, err)
		}
		if ent == "" && !ms.Global() {
			return fmt.Errorf("%s: path %q is short: give enterprise in the document or -e", where, p)
		}
		full = setRoot(ms, ent)
		if rest != "" {
			full += "/" + rest
		}
	}
	mp, err := cat.parse(full)
	if err != nil {
		return fmt.Errorf("%s: %v", where, err)
	}
	if ent != "" && !mp.set.Global() && mp.enterprise != ent {
		return fmt.Errorf("%s: path %s is in enterprise %q, not %q", where, full, mp.enterprise, ent)
	}
	set := mp.set
	steps, err := walkPath(set, mp.segs)
	if err != nil {
		return fmt.Errorf("%s: path %s: %v", where, full, err)
	}
	add := func(list *schema.Node, em map[string]any) {
		if set.HasCompat(compatROC) {
			b.top.AddUpdate(elementName(list.Name, set.Version), mp.enterprise, em)
			return
		}
		root := mp.root()
		patch, ok := b.roots[root]
		if !ok {
			patch = map[string]any{}
			b.roots[root] = patch
			b.order = append(b.order, root)
		}
		items, _ := patch[list.Name].([]any)
		patch[list.Name] = append(items, em)
	}
	addList := func(list *schema.Node, v any, at string) error {
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: the value of %s must be a list of %s entries", where, at, list.Name)
		}
		for i, it := range items {
			em, ok := it.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: %s[%d] must be an object", where, at, i)
			}
			add(list, em)
		}
		return nil
	}
	switch {
	case len(steps) == 0:
		tree, ok := value.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: the value of the root %s must be an object (its tree)", where, full)
		}
		for k, v := range tree {
			c := set.Root.Child(k)
			if c == nil || c.Kind != schema.List {
				return fmt.Errorf("%s: %q is not a top-level list of %s %s", where, k, set.Name, set.Version)
			}
			if err := addList(c, v, k); err != nil {
				return err
			}
		}
	case len(steps) == 1 && steps[0].keys == nil && steps[0].node.Kind == schema.List:
		return addList(steps[0].node, value, full)
	case len(steps) == 1 && steps[0].keys != nil:
		list := steps[0].node
		em, ok := value.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: the value of %s must be an object", where, full)
		}
		for j, k := range list.Keys {
			if v, ok := em[k]; ok && scalarText(v) != steps[0].keys[j] {
				return fmt.Errorf("%s: value has %s %q but the path names %q", where, k, scalarText(v), steps[0].keys[j])
			}
			em[k] = typedValue(list.Child(k), steps[0].keys[j])
		}
		add(list, em)
	default:
		return fmt.Errorf("%s: path %s is below a top-level list entry; apply takes top-level entries (e.g. %s/%s/<%s>) — put the value inside its entry, or use amp set", where, full, mp.root(), steps[0].node.Name, strings.Join(steps[0].node.Keys, "/"))
	}
	return nil
}
