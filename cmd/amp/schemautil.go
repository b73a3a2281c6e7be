package main

// The client verbs use the model sets' trees (modelsets.go: as the server
// describes them, or embedded in the binary) for knowing which path
// segments are list keys, typing values given on the command line, the
// "unchanged" lists of a compatibility layer's conventions, and shell
// completion; the SIM import checks CSV rows against the embedded models. Everything they send and read goes through package client.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

var (
	schemaOnce sync.Once
	schemaVal  *schema.Schema
	schemaErr  error
)

func loadSchema() (*schema.Schema, error) {
	schemaOnce.Do(func() { schemaVal, schemaErr = schema.Load(models.FS) })
	return schemaVal, schemaErr
}

// step is one schema step of a path: a node and, for a list entry, its keys.
type step struct {
	node *schema.Node
	keys []string // unescaped key values; nil when the step names the list itself
}

// walkPath resolves escaped segments below a set's root to schema
// steps. The last step of a path naming a list without keys has nil keys.
func walkPath(set *schema.ModelSet, segs []string) ([]step, error) {
	var steps []step
	n := set.Root
	for i := 0; i < len(segs); {
		name := segs[i]
		c := n.Child(name)
		if c == nil {
			return nil, fmt.Errorf("%s has no child %q (one of: %s)", nodeDesc(n), name, strings.Join(childNames(n), ", "))
		}
		i++
		st := step{node: c}
		if c.Kind == schema.List && i < len(segs) {
			if i+len(c.Keys) > len(segs) {
				return nil, fmt.Errorf("list %s needs %d key value(s) (%s)", c.Name, len(c.Keys), strings.Join(c.Keys, ", "))
			}
			for _, k := range segs[i : i+len(c.Keys)] {
				v, err := url.PathUnescape(k)
				if err != nil {
					return nil, fmt.Errorf("bad escape in %q", k)
				}
				st.keys = append(st.keys, v)
			}
			i += len(c.Keys)
		} else if (c.Kind == schema.Leaf || c.Kind == schema.LeafList) && i < len(segs) {
			return nil, fmt.Errorf("%s is a leaf; nothing is below it", c.Name)
		}
		steps = append(steps, st)
		n = c
	}
	return steps, nil
}

func nodeDesc(n *schema.Node) string {
	if n.Kind == schema.Root {
		return "the root of " + n.Set.Name
	}
	return n.Kind.String() + " " + n.Name
}

func childNames(n *schema.Node) []string {
	var out []string
	for _, c := range n.Children {
		if c.Config {
			out = append(out, c.Name)
		}
	}
	return out
}

// listNode returns the schema node of a path naming a list (for table
// columns), or nil.
func (c *catalog) listNode(restPath string) *schema.Node {
	mp, err := c.parse(restPath)
	if err != nil {
		return nil
	}
	steps, err := walkPath(mp.set, mp.segs)
	if err != nil || len(steps) == 0 {
		return nil
	}
	last := steps[len(steps)-1]
	if last.node.Kind == schema.List && last.keys == nil {
		return last.node
	}
	return nil
}

// leafType follows leafrefs to the type values are checked against.
func leafType(n *schema.Node) *schema.Type {
	t := n.Type
	for t != nil && t.Base == schema.TLeafref && t.Target != nil {
		t = t.Target.Type
	}
	return t
}

// typedValue turns a command-line value into the JSON value of leaf n:
// strings stay strings for string-typed leaves (so an IMSI keeps its
// leading zeros and is never sent as a number), booleans and numbers are
// parsed, and "null" deletes.
func typedValue(n *schema.Node, s string) any {
	if s == "null" {
		return nil
	}
	t := leafType(n)
	if t != nil {
		switch t.Base {
		case schema.TBool:
			if s == "true" || s == "false" {
				return s == "true"
			}
			return s // the server names the problem
		case schema.TInt, schema.TUint, schema.TDecimal:
			if json.Valid([]byte(s)) {
				var num json.Number
				if json.Unmarshal([]byte(s), &num) == nil {
					return num
				}
			}
			return s
		case schema.TUnion, schema.TEmpty:
		default:
			return s
		}
	}
	return genericValue(s)
}

// genericValue types a value without a schema: a JSON number, boolean or
// null is parsed, anything else is a string.
func genericValue(s string) any {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	var num json.Number
	if json.Unmarshal([]byte(s), &num) == nil && num.String() == s {
		return num
	}
	return s
}

// mandatoryMissing lists the mandatory config leaves of n missing from m,
// for the compatibility layer's additionalProperties.unchanged.
func mandatoryMissing(n *schema.Node, m map[string]any) []string {
	var out []string
	for _, c := range n.Children {
		if c.Kind == schema.Leaf && c.Mandatory && c.Config {
			if _, ok := m[c.Name]; !ok {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// addUnchanged walks a tree of node n and names every missing mandatory
// leaf in additionalProperties.unchanged, so a partial update is accepted by
// the bulk PATCH (the server still checks new objects are complete).
func addUnchanged(n *schema.Node, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	if miss := mandatoryMissing(n, m); len(miss) > 0 {
		ap, _ := m["additionalProperties"].(map[string]any)
		if ap == nil {
			ap = map[string]any{}
			m["additionalProperties"] = ap
		}
		ap["unchanged"] = strings.Join(miss, ",")
	}
	for _, c := range n.Children {
		cv, ok := m[c.Name]
		if !ok {
			continue
		}
		switch c.Kind {
		case schema.Container:
			addUnchanged(c, cv)
		case schema.List:
			items, _ := cv.([]any)
			for _, it := range items {
				addUnchanged(c, it)
			}
		}
	}
}

// completePath completes a path argument from the server's model sets
// (GET /models, asked once) and, for list keys and enterprises, the
// server's data when it answers quickly.
func (g *globalOpts) completePath(cmd *cobra.Command, toComplete string) ([]string, cobra.ShellCompDirective) {
	nospace := cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	cat := g.catalog(ctx)
	var set *schema.ModelSet
	var prefix string // what is above the set's root in the typed text
	var segs []string
	ent := g.enterprise
	if strings.HasPrefix(toComplete, "/") {
		parts := strings.Split(strings.TrimPrefix(toComplete, "/"), "/")
		if len(parts) <= 2 {
			return cat.completeSetPrefix(parts), nospace
		}
		set = cat.byREST(parts[0], strings.TrimPrefix(parts[1], "v"))
		if set == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		above := 2
		if !set.Global() {
			if len(parts) == 3 {
				return g.completeEnterprises(ctx, "/"+parts[0]+"/"+parts[1]+"/"), nospace
			}
			ent, above = parts[2], 3
		}
		prefix = "/" + strings.Join(parts[:above], "/") + "/"
		segs = parts[above:]
	} else {
		segs = strings.Split(toComplete, "/")
		if len(segs) == 1 {
			return cat.completeShortStart(segs[0], ent != ""), nospace
		}
		if set = cat.byCLIName(segs[0]); set != nil {
			prefix, segs = segs[0]+"/", segs[1:]
		} else if set, _, _ = cat.shortSet(segs[0], ent != ""); set == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		if !set.Global() && ent == "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
	}
	done, partial := segs[:len(segs)-1], segs[len(segs)-1]
	base := prefix + strings.Join(done, "/")
	if len(done) > 0 {
		base += "/"
	}
	// Find where the completed segments leave us.
	n := set.Root
	for i := 0; i < len(done); {
		c := n.Child(done[i])
		if c == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		i++
		if c.Kind == schema.List {
			if i+len(c.Keys) > len(done) {
				// Completing a key value: ask the server.
				listPath := setRoot(set, ent) + "/" + strings.Join(done[:i], "/")
				return g.completeKeys(ctx, listPath, c, base), nospace
			}
			i += len(c.Keys)
		}
		n = c
	}
	return childCompletions(n, base, partial), nospace
}

// childCompletions are n's configuration children starting with partial.
func childCompletions(n *schema.Node, base, partial string) []string {
	var out []string
	for _, c := range n.Children {
		if !c.Config || c.IsKey() {
			continue
		}
		if strings.HasPrefix(c.Name, partial) {
			s := base + c.Name
			if c.Kind == schema.List || c.Kind == schema.Container {
				s += "/"
			}
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// completeShortStart completes the first segment of a short path: the
// top-level nodes of the sets (of tenant sets only with an enterprise)
// and the sets' CLI names.
func (c *catalog) completeShortStart(partial string, haveEnterprise bool) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if strings.HasPrefix(s, partial) && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sets := c.newest()
	for _, ms := range sets {
		if !ms.Global() && !haveEnterprise {
			continue
		}
		for _, s := range childCompletions(ms.Root, "", partial) {
			// Offer only what resolves: a node several sets have needs
			// the set's name without an enterprise.
			if set, _, _ := c.shortSet(strings.TrimSuffix(s, "/"), haveEnterprise); set != nil {
				add(s)
			}
		}
		if len(sets) > 1 {
			add(ms.CLIName + "/")
		}
	}
	sort.Strings(out)
	return out
}

// completeSetPrefix completes the first two segments of a full path.
func (c *catalog) completeSetPrefix(parts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, ms := range c.sets {
		s := "/" + ms.RESTPrefix + "/"
		if len(parts) == 2 {
			if parts[0] != ms.RESTPrefix {
				continue
			}
			s += "v" + ms.Version + "/"
		}
		if strings.HasPrefix(s, "/"+strings.Join(parts, "/")) && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func (g *globalOpts) completeKeys(ctx context.Context, listPath string, list *schema.Node, base string) []string {
	raw, _, err := g.client().Get(ctx, listPath, url.Values{"limit": {"1000"}})
	if err != nil {
		return nil
	}
	var items []map[string]any
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []string
	for _, it := range items {
		var ks []string
		for _, k := range list.Keys {
			ks = append(ks, url.PathEscape(scalarText(it[k])))
		}
		out = append(out, base+strings.Join(ks, "/")+"/")
	}
	return out
}

func (g *globalOpts) completeEnterprises(ctx context.Context, base string) []string {
	ents, err := g.client().Enterprises(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, base+url.PathEscape(e.ID)+"/")
	}
	return out
}
