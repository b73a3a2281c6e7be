package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Ref is a resolved ampx:refers-to: a string leaf (or leaf-list) that names
// an entry of a list, in its own model set or in another one. Plain YANG
// leafrefs cannot leave their set (each set is its own module collection);
// this extension can, and is resolved once every set is loaded.
type Ref struct {
	// Source is the argument as declared: "net:/site/site-id".
	Source string
	// Set is the set referred to: the newest loaded version of the named
	// set, or the referrer's own set when it names itself.
	Set *ModelSet
	// List is the list whose entries the leaf names, Key its one key leaf.
	List *Node
	Key  *Node
	// Containers are the containers between the set's root and List (the
	// list hangs off the root object: no other list lies above it).
	Containers []string
	// TenantLeaf is, for a global object referring into a set of tenant
	// scope, the path inside the referring object of its ampx:tenant leaf,
	// whose value is the tenant the reference resolves in.
	TenantLeaf []string
}

// Global reports whether the reference resolves in a global set (no
// tenant) rather than in a tenant's objects.
func (r *Ref) Global() bool { return r.Set.Global() }

// resolveRefs resolves every ampx:refers-to and checks every ampx:tenant
// of every loaded set. It runs after all sets are loaded, since a
// reference may point into a set loaded after its own.
func (s *Schema) resolveRefs() error {
	var errs []error
	for _, set := range s.Sets {
		set.Root.Walk(func(n *Node) {
			fail := func(ext, arg, format string, args ...any) {
				if arg != "" {
					ext += fmt.Sprintf(" %q", arg)
				}
				errs = append(errs, fmt.Errorf("model set %s %s: module %s: %s: ampx:%s: %s",
					set.Name, set.Version, n.Module, n.SchemaPath(), ext, fmt.Sprintf(format, args...)))
			}
			if n.TenantLeaf {
				if reason := checkTenantLeaf(n); reason != "" {
					fail("tenant", "", "%s", reason)
				}
			}
			if n.Ref != nil {
				if reason := s.resolveRef(n); reason != "" {
					fail("refers-to", n.Ref.Source, "%s", reason)
				}
			}
		})
	}
	return errors.Join(errs...)
}

// checkTenantLeaf returns why n cannot carry ampx:tenant, or "".
func checkTenantLeaf(n *Node) string {
	switch {
	case n.Kind != Leaf || n.Type.Base != TString:
		return "only a leaf of a string type can name a tenant"
	case !n.Set.Global():
		return fmt.Sprintf("model set %s is per tenant: its objects belong to the tenant of their path; only global objects name a tenant", n.Set.Name)
	}
	return ""
}

// resolveRef fills in n.Ref, or returns why it cannot be resolved.
func (s *Schema) resolveRef(n *Node) string {
	r := n.Ref
	if (n.Kind != Leaf && n.Kind != LeafList) || n.Type.Base != TString {
		return "only a leaf or leaf-list of a string type can refer to a list entry"
	}
	name, p, ok := strings.Cut(r.Source, ":")
	if !ok || !strings.HasPrefix(p, "/") || len(p) < 2 {
		return "want <set>:<absolute schema path of a list's key leaf>, e.g. net:/site/site-id"
	}
	r.Set = n.Set
	if name != n.Set.Name {
		r.Set = s.Set(name, "")
	}
	if r.Set == nil {
		return fmt.Sprintf("no model set %q is loaded", name)
	}
	cur := r.Set.Root
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		c := cur.Child(seg)
		if c == nil {
			return fmt.Sprintf("no %q in %s of model set %s", seg, describeNode(cur), r.Set.Name)
		}
		last := i == len(segs)-1
		switch {
		case last && !c.IsKey():
			return fmt.Sprintf("%s is not the key leaf of a list", c.SchemaPath())
		case last && len(c.Parent.Keys) != 1:
			return fmt.Sprintf("list %s has %d keys: only a list with one key can be referred to", c.Parent.SchemaPath(), len(c.Parent.Keys))
		case c.Kind == List && i != len(segs)-2:
			return fmt.Sprintf("%s is a list: only containers may lie above the list referred to", c.SchemaPath())
		case !last && c.Kind != Container && c.Kind != List:
			return fmt.Sprintf("%s is a %s and has no children", c.SchemaPath(), c.Kind)
		case c.Kind == Container:
			r.Containers = append(r.Containers, c.Name)
		}
		cur = c
	}
	r.Key, r.List = cur, cur.Parent
	if n.Set.Global() && !r.Set.Global() {
		r.TenantLeaf = tenantLeafIn(n.ObjectNode())
		if r.TenantLeaf == nil {
			return fmt.Sprintf("model set %s is per tenant: a global object referring into it needs a leaf marked ampx:tenant (in %s) naming the enterprise", r.Set.Name, describeNode(n.ObjectNode()))
		}
	}
	return ""
}

// TenantLeafPath returns the path, inside object node n, of the leaf
// marked ampx:tenant (the tenant a global object is tied to), or nil.
func (n *Node) TenantLeafPath() []string { return tenantLeafIn(n) }

// tenantLeafIn returns the path, inside object node o (not in its child
// lists), of the leaf marked ampx:tenant, or nil.
func tenantLeafIn(o *Node) []string {
	for _, c := range o.Children {
		switch {
		case c.TenantLeaf:
			return c.InObject()
		case c.Kind == Container:
			if p := tenantLeafIn(c); p != nil {
				return p
			}
		}
	}
	return nil
}
