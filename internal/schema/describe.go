package schema

import (
	"fmt"
	"strings"
)

// A SetDescription is what GET /models tells a client about one loaded
// model set version: its descriptor, its modules and, on request, the shape
// of its tree (TreeNode). A client that does not embed the set's YANG (the
// CLI facing a server started with --models) rebuilds a tree from it with
// Tree and works with it as with an embedded set.
type SetDescription struct {
	Descriptor
	Modules []ModuleInfo `json:"modules"`
	Tree    *TreeNode    `json:"tree,omitempty"`
}

// TreeNode is one node of a described tree: enough for a client to know
// which path segments are list keys, which leaves are mandatory and how to
// type a value typed on a command line, not a full schema (the server
// checks every restriction).
type TreeNode struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // root, container, list, leaf, leaf-list
	// Keys of a list, in order.
	Keys []string `json:"keys,omitempty"`
	// State is true for config false (operational state) nodes.
	State     bool `json:"state,omitempty"`
	Mandatory bool `json:"mandatory,omitempty"`
	// Type is a leaf's built-in type, a leafref's followed to its target
	// (string, int, uint, boolean, enumeration, decimal64, empty, binary,
	// bits, identityref, union, instance-identifier).
	Type     string      `json:"type,omitempty"`
	Children []*TreeNode `json:"children,omitempty"`
}

var baseNames = map[Base]string{
	TString: "string", TInt: "int", TUint: "uint", TBool: "boolean", TEnum: "enumeration",
	TDecimal: "decimal64", TEmpty: "empty", TBinary: "binary", TBits: "bits",
	TIdentityref: "identityref", TUnion: "union", TLeafref: "leafref", TInstanceID: "instance-identifier",
}

// Describe returns the set's description, with its tree when withTree.
func (ms *ModelSet) Describe(withTree bool) SetDescription {
	d := SetDescription{Descriptor: ms.Descriptor, Modules: append([]ModuleInfo{}, ms.Modules...)}
	if d.Compat == nil {
		d.Compat = []string{}
	}
	if withTree {
		d.Tree = treeOf(ms.Root)
	}
	return d
}

func treeOf(n *Node) *TreeNode {
	t := &TreeNode{Name: n.Name, Kind: n.Kind.String(), Keys: n.Keys, State: !n.Config, Mandatory: n.Mandatory}
	if n.Kind == Root {
		t.Name = ""
	}
	if ty := n.Type; ty != nil {
		for ty.Base == TLeafref && ty.Target != nil {
			ty = ty.Target.Type
		}
		t.Type = baseNames[ty.Base]
	}
	for _, c := range n.Children {
		t.Children = append(t.Children, treeOf(c))
	}
	return t
}

// ModelSet rebuilds a model set from a description that carries its tree:
// nodes with names, kinds, keys, config and mandatory flags and types
// reduced to their base (no restrictions, no leafref targets).
func (d SetDescription) ModelSet() (*ModelSet, error) {
	if d.Tree == nil || d.Tree.Kind != Root.String() {
		return nil, fmt.Errorf("model set %s %s: the description has no tree", d.Name, d.Version)
	}
	ms := &ModelSet{Descriptor: d.Descriptor, Modules: d.Modules}
	ms.Root = &Node{Kind: Root, Config: true, Set: ms}
	if err := rebuildChildren(ms.Root, d.Tree, ms); err != nil {
		return nil, fmt.Errorf("model set %s %s: %w", d.Name, d.Version, err)
	}
	return ms, nil
}

var kindsByName = map[string]NodeKind{"container": Container, "list": List, "leaf": Leaf, "leaf-list": LeafList}

func rebuildChildren(parent *Node, t *TreeNode, ms *ModelSet) error {
	for _, ct := range t.Children {
		kind, ok := kindsByName[ct.Kind]
		if !ok || ct.Name == "" || strings.Contains(ct.Name, "/") {
			return fmt.Errorf("%s: bad node %q of kind %q", parent.SchemaPath(), ct.Name, ct.Kind)
		}
		n := &Node{Name: ct.Name, Kind: kind, Keys: ct.Keys, Config: parent.Config && !ct.State, Mandatory: ct.Mandatory, Set: ms}
		if kind == Leaf || kind == LeafList {
			n.Type = &Type{Name: ct.Type, Base: baseOf(ct.Type)}
		}
		parent.addChild(n)
		if err := rebuildChildren(n, ct, ms); err != nil {
			return err
		}
		if kind == List {
			for _, k := range n.Keys {
				if n.Child(k) == nil {
					return fmt.Errorf("%s: key %q is not a leaf of the list", n.SchemaPath(), k)
				}
			}
		}
	}
	return nil
}

// baseOf is the base of a described type; an unknown name is a string (the
// client then sends the value as typed, and the server judges it).
func baseOf(name string) Base {
	for b, n := range baseNames {
		if n == name {
			return b
		}
	}
	return TString
}
