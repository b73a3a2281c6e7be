package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// The inventory's clusters are the agent link's directory, and their
// declarations the source of this kinds of desired state
// (docs/agent.md): node (the declared node labels and taints) and
// namespace (the declared namespaces).
func init() {
	edge.SetDirectory(directory{})
	edge.RegisterSource(nodeSource{})
	edge.RegisterSource(namespaceSource{})
}

// Kinds of desired state the clusters' declarations give.
const (
	KindNode      = "node"
	KindNamespace = "namespace"
)

// desiredNode is a node's desired state: the labels and taints the agent
// keeps on it (only these keys: others are the site's).
type desiredNode struct {
	Labels map[string]string `json:"labels"`
	Taints []string          `json:"taints"`
}

type directory struct{}

// declared returns the cluster object of id in snap.
func declared(sch *schema.Schema, snap *config.Snapshot, id string) (*schema.ModelSet, *config.Object, bool) {
	set := inventory.Set(sch)
	if set == nil {
		return nil, nil, false
	}
	o, ok := snap.Get(Key(set, id))
	return set, o, ok
}

func (directory) Cluster(sch *schema.Schema, snap *config.Snapshot, id string) (edge.Cluster, bool) {
	set, o, ok := declared(sch, snap, id)
	if !ok {
		return edge.Cluster{}, false
	}
	site, _ := o.Data["site"].(string)
	return edge.Cluster{ID: id, Site: site, Path: Path(set, id), Prefix: o.Key, Created: o.Created}, true
}

func (directory) Path(sch *schema.Schema, id string) string {
	if set := inventory.Set(sch); set != nil {
		return Path(set, id)
	}
	return "/clusters/" + schema.EscapeSegment(id)
}

func (d directory) Clusters(sch *schema.Schema, snap *config.Snapshot) []edge.Cluster {
	set := inventory.Set(sch)
	if set == nil {
		return nil
	}
	var out []edge.Cluster
	prefix := schema.RootKey(set, "") + "/cluster/"
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, _, ok := it.Next(); ok; k, _, ok = it.Next() {
		seg := string(k[len(prefix):])
		if strings.Contains(seg, "/") {
			continue // a node or label of a cluster
		}
		if id, err := schema.UnescapeSegment(seg); err == nil {
			if c, ok := d.Cluster(sch, snap, id); ok {
				out = append(out, c)
			}
		}
	}
	slices.SortFunc(out, func(a, b edge.Cluster) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (directory) State(sch *schema.Schema, snap *config.Snapshot, id string) map[string]map[string]any {
	_, o, ok := declared(sch, snap, id)
	if !ok {
		return nil
	}
	st, _ := snap.State.Get([]byte(o.Key))
	out := map[string]map[string]any{}
	for _, c := range []string{"report", "agent"} {
		if m, ok := st[c].(map[string]any); ok {
			out[c] = m
		}
	}
	return out
}

func (directory) Record(ctx context.Context, eng *config.Engine, id, container string, op config.Op, value map[string]any) error {
	set := inventory.Set(eng.Schema())
	if set == nil {
		return schema.Errorf(schema.KindNotFound, "/inventory", "the inventory model set is not loaded")
	}
	return setState(ctx, eng, set, id, container, op, value)
}

// setState writes one state container (or a list in one) of a declared
// cluster; value is in JSON terms (nil for a removal).
func setState(ctx context.Context, eng *config.Engine, set *schema.ModelSet, id, container string, op config.Op, value map[string]any) error {
	route, err := eng.Schema().ParseRoute(Path(set, id) + "/" + container)
	if err != nil {
		return err
	}
	loc, err := route.Resolve()
	if err != nil {
		return err
	}
	var val any
	if value != nil {
		// Through JSON text, so numbers reach the decoder as JSON numbers
		// whatever Go type the caller held them in.
		b, err := json.Marshal(value)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if val, err = schema.DecodeJSON(loc.Node, v, loc.REST(), false, schema.DecodeOptions{AllowState: true}); err != nil {
			return err
		}
	}
	return eng.SetState(ctx, loc, op, val)
}

// affects is both sources' Affects: a change of a cluster's declaration
// (the cluster entry, its nodes and labels) affects that cluster only; its
// operational state (the agent's reports) affects none.
func affects(sch *schema.Schema, ch edge.Change) []string {
	set := inventory.Set(sch)
	if set == nil || ch.State {
		return nil
	}
	rest, ok := strings.CutPrefix(ch.Key, schema.RootKey(set, "")+"/cluster/")
	if !ok {
		return nil
	}
	seg, _, _ := strings.Cut(rest, "/")
	id, err := schema.UnescapeSegment(seg)
	if err != nil {
		return nil
	}
	return []string{id}
}

type nodeSource struct{}

func (nodeSource) Kind() string { return KindNode }
func (nodeSource) Affects(sch *schema.Schema, _ *config.Snapshot, ch edge.Change) []string {
	return affects(sch, ch)
}

// Objects are the declared nodes: their node-label (key=value) and taint
// (key=value:Effect) leaves.
func (nodeSource) Objects(sch *schema.Schema, snap *config.Snapshot, id string) ([]wire.Object, error) {
	_, o, ok := declared(sch, snap, id)
	if !ok {
		return nil, nil
	}
	tree, _ := snap.Tree(o)
	decl := inventory.ClusterOf(tree)
	out := make([]wire.Object, 0, len(decl.Nodes))
	for _, name := range inventory.Sorted(decl.Nodes) {
		n := decl.Nodes[name]
		spec := desiredNode{Labels: map[string]string{}, Taints: sorted(n.Taints)}
		for _, l := range n.Labels {
			k, v, _ := strings.Cut(l, "=")
			spec.Labels[k] = v
		}
		b, err := json.Marshal(spec)
		if err != nil {
			return nil, err
		}
		idx := o.Modified
		if no, ok := snap.Get(o.Key + "/node/" + schema.EscapeSegment(name)); ok {
			idx = no.Modified
		}
		out = append(out, wire.Object{Kind: KindNode, Name: name, Spec: b, Index: idx})
	}
	return out, nil
}

type namespaceSource struct{}

func (namespaceSource) Kind() string { return KindNamespace }
func (namespaceSource) Affects(sch *schema.Schema, _ *config.Snapshot, ch edge.Change) []string {
	return affects(sch, ch)
}

// Objects are the declared namespaces (spec {}).
func (namespaceSource) Objects(sch *schema.Schema, snap *config.Snapshot, id string) ([]wire.Object, error) {
	_, o, ok := declared(sch, snap, id)
	if !ok {
		return nil, nil
	}
	var out []wire.Object
	for _, ns := range sorted(inventory.ClusterOf(o.Data).Namespaces) {
		out = append(out, wire.Object{Kind: KindNamespace, Name: ns, Spec: json.RawMessage(`{}`), Index: o.Modified})
	}
	return out, nil
}
