package main

// The client verbs learn the server's model sets from GET /models, asked
// once per invocation (completion included): each set's scope, REST prefix,
// CLI name and tree. Short paths, typed values, table columns and
// completion then work alike for every set, embedded or loaded with
// --models. When the server cannot be asked (offline completion, a server
// older than GET /models), the sets embedded in this binary stand in.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/amp-edge/amp/client"
	"github.com/amp-edge/amp/internal/schema"
)

// catalog is the model sets a server serves.
type catalog struct {
	sets []*schema.ModelSet // as the server lists them
	// askErr is why the server could not be asked (the embedded sets
	// stand in): told when a path fits none of them.
	askErr error
}

// catalog returns the server's model sets, asking it on the first call.
func (g *globalOpts) catalog(ctx context.Context) *catalog {
	g.catalogOnce.Do(func() { g.catalogVal = g.fetchCatalog(ctx) })
	return g.catalogVal
}

func (g *globalOpts) fetchCatalog(ctx context.Context) *catalog {
	listed, err := g.client().Models(ctx, true)
	if err != nil {
		cat := embeddedCatalog()
		cat.askErr = err
		return cat
	}
	cat := &catalog{}
	for _, ls := range listed {
		for _, v := range ls.Versions {
			ms, err := modelSetOf(v)
			if err != nil {
				continue // a set this client cannot read stays unknown to it
			}
			cat.sets = append(cat.sets, ms)
		}
	}
	return cat
}

// modelSetOf rebuilds a set from its GET /models description.
func modelSetOf(v client.ModelSetVersion) (*schema.ModelSet, error) {
	d := schema.SetDescription{Descriptor: schema.Descriptor{
		Name: v.Name, Version: v.Version, Scope: schema.Scope(v.Scope), RESTPrefix: v.RESTPrefix,
		GNMIOrigin: v.GNMIOrigin, OpenAPIPrefix: v.OpenAPIPrefix, CLIName: v.CLIName, Compat: v.Compat,
	}}
	for _, m := range v.Modules {
		d.Modules = append(d.Modules, schema.ModuleInfo(m))
	}
	if len(v.Tree) > 0 {
		d.Tree = &schema.TreeNode{}
		if err := json.Unmarshal(v.Tree, d.Tree); err != nil {
			return nil, err
		}
	}
	return d.ModelSet()
}

func embeddedCatalog() *catalog {
	s, err := loadSchema()
	if err != nil {
		return &catalog{}
	}
	return &catalog{sets: s.Sets}
}

// newest returns the newest version of every set, in the server's order.
func (c *catalog) newest() []*schema.ModelSet {
	var out []*schema.ModelSet
	at := map[string]int{}
	for _, ms := range c.sets {
		i, seen := at[ms.Name]
		switch {
		case !seen:
			at[ms.Name] = len(out)
			out = append(out, ms)
		case schema.NewerVersion(ms.Version, out[i].Version):
			out[i] = ms
		}
	}
	return out
}

// byREST finds a set by the first two segments of its REST paths.
func (c *catalog) byREST(prefix, version string) *schema.ModelSet {
	for _, ms := range c.sets {
		if ms.RESTPrefix == prefix && ms.Version == version {
			return ms
		}
	}
	return nil
}

// byCLIName finds the newest version of the set with this CLI name.
func (c *catalog) byCLIName(name string) *schema.ModelSet {
	for _, ms := range c.newest() {
		if ms.CLIName == name {
			return ms
		}
	}
	return nil
}

// setRoot is the REST path of a set's root: an enterprise's for a tenant
// set, the operator's (no enterprise) for a global one.
func setRoot(ms *schema.ModelSet, ent string) string {
	p := "/" + ms.RESTPrefix + "/v" + ms.Version
	if ms.Global() {
		return p
	}
	return p + "/" + url.PathEscape(ent)
}

// restPath turns a path argument into a REST path: a full path
// (/lab/v1.0.0/rack, /{set}/v{version}/{tenant}/site) stays as it is; a short one
// is relative to a set's root, the set named by its CLI name as the first
// segment (wl/deployment/d1) or, when one set alone has it, by its
// top-level node (site/s1); a tenant set's root is the enterprise's (-e).
func (g *globalOpts) restPath(ctx context.Context, p string) (string, error) {
	p = strings.TrimSpace(p)
	if strings.HasPrefix(p, "/") {
		if len(p) > 1 {
			p = strings.TrimRight(p, "/")
		}
		return p, nil
	}
	ms, rest, err := g.catalog(ctx).shortSet(strings.Trim(p, "/"), g.enterprise != "")
	if err != nil {
		return "", err
	}
	if !ms.Global() && g.enterprise == "" {
		return "", usagef("%q is a short path in %s (per enterprise): give the enterprise with -e/--enterprise (or AMP_ENTERPRISE), or a full path %s/%s", p, ms.Name, setRoot(ms, "<enterprise>"), rest)
	}
	root := setRoot(ms, g.enterprise)
	if rest == "" {
		return root, nil
	}
	return root + "/" + rest, nil
}

// shortSet finds the set a short path lies in and the path below its root.
// A top-level node several sets have (a tenant set's and a global one's)
// is the tenant set's when an enterprise is given (haveEnterprise: -e), as
// it was before a global set had it; without one it is ambiguous, and the
// error says how to name either.
func (c *catalog) shortSet(p string, haveEnterprise bool) (*schema.ModelSet, string, error) {
	if p == "." {
		p = ""
	}
	first, rest, _ := strings.Cut(p, "/")
	if ms := c.byCLIName(first); ms != nil && first != "" {
		return ms, rest, nil
	}
	var in []*schema.ModelSet
	for _, ms := range c.newest() {
		if first == "" || ms.Root.Child(first) != nil {
			in = append(in, ms)
		}
	}
	switch {
	case len(in) == 1:
		return in[0], p, nil
	case len(in) == 0 && c.askErr != nil:
		return nil, "", fmt.Errorf("%q: no model set built into amp has %q at its root, and the server's could not be listed: %w", p, first, c.askErr)
	case len(in) == 0:
		return nil, "", usagef("%q: no model set has %q at its root; start a short path with a set's name (%s) or a top-level node (%s)", p, first, strings.Join(c.cliNames(), ", "), strings.Join(c.topNames(), ", "))
	}
	var names, tenantSets []string
	var tenantSet *schema.ModelSet
	for _, ms := range in {
		names = append(names, ms.CLIName)
		if !ms.Global() {
			tenantSet = ms
			tenantSets = append(tenantSets, ms.CLIName)
		}
	}
	if first == "" {
		return nil, "", usagef("%q: which model set? Name it: %s", p, strings.Join(names, ", "))
	}
	if haveEnterprise && len(tenantSets) == 1 {
		return tenantSet, p, nil
	}
	hint := ""
	if len(tenantSets) == 1 {
		hint = fmt.Sprintf(" (with -e/--enterprise, %s's)", tenantSets[0])
	}
	return nil, "", usagef("%q: %q is in several model sets%s; start with the set's name: %s", p, first, hint, joinPrefixed(names, "/"+p))
}

func (c *catalog) cliNames() []string {
	var out []string
	for _, ms := range c.newest() {
		out = append(out, ms.CLIName)
	}
	return out
}

// topNames are the configuration nodes at the roots of the sets.
func (c *catalog) topNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, ms := range c.newest() {
		for _, n := range ms.Root.Children {
			if n.Config && !seen[n.Name] {
				seen[n.Name] = true
				out = append(out, n.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// modelPath is a REST model path split into its parts.
type modelPath struct {
	set        *schema.ModelSet
	enterprise string   // "" in a global set
	segs       []string // below the set's root, still escaped
}

// parse splits a full REST model path: /{prefix}/v{version}/{enterprise}/…
// for a tenant set, /{prefix}/v{version}/… for a global one.
func (c *catalog) parse(p string) (*modelPath, error) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if len(parts) < 2 || !strings.HasPrefix(parts[1], "v") || parts[0] == "" {
		return nil, fmt.Errorf("%q is not a model path /<set>/v<version>/…", p)
	}
	ms := c.byREST(parts[0], strings.TrimPrefix(parts[1], "v"))
	if ms == nil {
		return nil, fmt.Errorf("%q: the server has no model set /%s/%s", p, parts[0], parts[1])
	}
	mp := &modelPath{set: ms}
	below := parts[2:]
	if !ms.Global() {
		if len(parts) < 3 {
			return nil, fmt.Errorf("%q: %s is per enterprise: /%s/%s/<enterprise>/…", p, ms.Name, parts[0], parts[1])
		}
		ent, err := url.PathUnescape(parts[2])
		if err != nil || ent == "" {
			return nil, fmt.Errorf("%q: bad enterprise id", p)
		}
		mp.enterprise, below = ent, parts[3:]
	}
	for _, s := range below {
		if s == "" {
			return nil, fmt.Errorf("%q has an empty path segment", p)
		}
		mp.segs = append(mp.segs, s)
	}
	return mp, nil
}

func (mp *modelPath) root() string { return setRoot(mp.set, mp.enterprise) }

func (mp *modelPath) String() string {
	if len(mp.segs) == 0 {
		return mp.root()
	}
	return mp.root() + "/" + strings.Join(mp.segs, "/")
}

// joinPrefixed lists each name followed by suffix, joined by "or".
func joinPrefixed(names []string, suffix string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + suffix
	}
	return strings.Join(out, " or ")
}
