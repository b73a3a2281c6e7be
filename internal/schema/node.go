package schema

import (
	"strings"
)

// NodeKind is the YANG data node kind.
type NodeKind int

const (
	// Root is the synthetic root of a model set's tree (one per target).
	Root NodeKind = iota
	Container
	List
	Leaf
	LeafList
)

func (k NodeKind) String() string {
	return [...]string{"root", "container", "list", "leaf", "leaf-list"}[k]
}

// Must is a compiled YANG must statement.
type Must struct {
	Source       string
	ErrorMessage string
	Expr         Expr
}

// Choice is a YANG choice: at most one of its cases may have nodes in an
// instance (RFC 7950 7.9), exactly one when it is mandatory.
type Choice struct {
	Name      string
	Mandatory bool
	In        *Case // the case the choice itself is in (nil: none)
}

// Case is one case of a choice.
type Case struct {
	Choice *Choice
	Name   string
}

// Node is one schema node. Nodes are built once at load time and never
// modified afterwards, so they are shared freely between goroutines.
type Node struct {
	Name        string
	Module      string // module that defines the node (RFC 7951 qualifier)
	Kind        NodeKind
	Description string
	Units       string
	Config      bool // false for "config false" (operational state) subtrees
	Presence    bool // presence container
	Mandatory   bool
	// Case is the case of a choice the node is in (nil: none). Choices and
	// cases are no nodes of the data tree: their nodes are their parent's
	// children, and the engine holds them to one case per choice.
	Case      *Case
	Immutable bool // ampx:immutable: fixed once the list entry exists
	// LegacyDecimal (ampx:legacy-decimal) lets a hex-string leaf also take a
	// JSON number as the decimal value of the identifier, as clients
	// written before a model's hex change send it.
	LegacyDecimal bool
	// Backend (ampx:backend-endpoint) names the kind of backend ("core",
	// "upf") a URI leaf makes AMP connect to. Such a leaf belongs to the
	// operator: the engine lets it hold only a backend the operator granted
	// to the leaf's enterprise (docs/security.md, "Backend endpoints").
	Backend string
	// Ref (ampx:refers-to) is the list entry, possibly in another model
	// set, that the leaf names; resolved once every set is loaded.
	Ref *Ref
	// TenantLeaf (ampx:tenant) marks the leaf of a global object that
	// names the enterprise the object belongs to.
	TenantLeaf bool

	Parent   *Node
	Children []*Node // in schema order
	byName   map[string]*Node

	// List only.
	Keys   []string
	Unique [][]string // each a list of descendant leaf paths ("a/b")
	// Leaf and leaf-list only.
	Type    *Type
	Default []string

	Musts []*Must

	Set *ModelSet // the model set the node belongs to
}

// Child returns the child with the given local name (a module prefix
// "mod:name" is accepted and ignored when the local name is unique).
func (n *Node) Child(name string) *Node {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return n.byName[name]
}

// IsKey reports whether the leaf is a key of its parent list.
func (n *Node) IsKey() bool {
	if n.Parent == nil || n.Parent.Kind != List {
		return false
	}
	for _, k := range n.Parent.Keys {
		if k == n.Name {
			return true
		}
	}
	return false
}

// IsObject reports whether instances of n are stored as separate objects:
// list entries are; containers and leaves live inside their object.
func (n *Node) IsObject() bool { return n.Kind == List || n.Kind == Root }

// ObjectNode returns the nearest ancestor-or-self that is stored as an object.
func (n *Node) ObjectNode() *Node {
	for m := n; m != nil; m = m.Parent {
		if m.IsObject() {
			return m
		}
	}
	return nil
}

// SchemaPath returns the node's path from the root of its set, e.g.
// "/site/device-group/mbr/uplink".
func (n *Node) SchemaPath() string {
	if n.Kind == Root {
		return "/"
	}
	var parts []string
	for m := n; m != nil && m.Kind != Root; m = m.Parent {
		parts = append(parts, m.Name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

// InObject returns the path of n relative to its object node, as names, e.g.
// ["mbr", "uplink"] for /site/device-group/mbr/uplink.
func (n *Node) InObject() []string {
	var parts []string
	for m := n; m != nil && !m.IsObject(); m = m.Parent {
		parts = append(parts, m.Name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return parts
}

// Walk calls fn for n and every descendant, depth first in schema order.
func (n *Node) Walk(fn func(*Node)) {
	fn(n)
	for _, c := range n.Children {
		c.Walk(fn)
	}
}

func (n *Node) addChild(c *Node) {
	c.Parent = n
	n.Children = append(n.Children, c)
	if n.byName == nil {
		n.byName = map[string]*Node{}
	}
	n.byName[c.Name] = c
}

// ModelSet is one versioned set of models, e.g. lab 1.0.0: a tree whose
// root holds the top-level nodes of every module in the set, instantiated
// once per target (enterprise).
type ModelSet struct {
	Descriptor // Name "lab", Version "1.0.0", Scope, prefixes, …
	Modules    []ModuleInfo
	Root       *Node
}

// ModuleInfo describes one loaded module for Capabilities-style listings.
type ModuleInfo struct {
	Name         string `json:"name"`
	Revision     string `json:"revision,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	Organization string `json:"organization,omitempty"`
}
