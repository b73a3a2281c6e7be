package cluster

import (
	"slices"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// Report is what a cluster says it is, in the declaration's terms (the
// `report` state container its agent writes).
type Report struct {
	ReportedAt, Distribution, KubernetesVersion string
	CNI                                         []string
	Labels                                      map[string]string
	Nodes                                       map[string]*inventory.ClusterNode
}

// Registration is the agent's registration as recorded.
type Registration struct {
	RegisteredAt string `json:"registered-at"`
	TokenID      string `json:"token-id"`
	MintedBy     string `json:"minted-by"`
	Source       string `json:"source"`
}

// Key is the storage key of a cluster.
func Key(set *schema.ModelSet, id string) string {
	return schema.RootKey(set, "") + "/cluster/" + schema.EscapeSegment(id)
}

// Path is the REST path of a cluster (what the policy is asked about).
func Path(set *schema.ModelSet, id string) string {
	return schema.RESTBase(set) + "/cluster/" + schema.EscapeSegment(id)
}

// Load reads a cluster's declaration, its report (nil: none yet) and its
// registration (nil: not registered) as of snap; ok is false when no
// such cluster is declared.
func Load(snap *config.Snapshot, set *schema.ModelSet, id string) (decl *inventory.Cluster, rep *Report, reg *Registration, ok bool) {
	o, ok := snap.Get(Key(set, id))
	if !ok {
		return nil, nil, nil, false
	}
	tree, _ := snap.Tree(o)
	decl = inventory.ClusterOf(tree)
	state, _ := snap.State.Get([]byte(o.Key))
	if m, isMap := state["report"].(map[string]any); isMap {
		rep = reportOf(m)
	}
	if m, isMap := state["registration"].(map[string]any); isMap {
		reg = &Registration{RegisteredAt: str(m, "registered-at"), TokenID: str(m, "token-id"), MintedBy: str(m, "minted-by"), Source: str(m, "source")}
	}
	return decl, rep, reg, true
}

// reportOf reads the report container with the declaration's reader: it
// has the declaration's shape.
// What the report leaves out is unknown, not absent: an agent reports its
// nodes and version but not the distribution, CNI or the cluster's own
// labels (those are AMP's, not the site's), and the plan does not compare
// what it does not know.
func reportOf(m map[string]any) *Report {
	c := inventory.ClusterOf(m)
	rep := &Report{ReportedAt: str(m, "reported-at"), Distribution: str(m, "distribution"), KubernetesVersion: c.KubernetesVersion,
		CNI: c.CNI, Nodes: c.Nodes}
	if _, ok := m["label"]; ok {
		rep.Labels = c.Labels
	}
	return rep
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// Step is one thing to do to bring the cluster to its declaration.
type Step struct {
	// Action is create (the cluster), add, change or remove.
	Action string `json:"action"`
	// Object is what it acts on: cluster, distribution,
	// kubernetes-version, cni, label or node.
	Object string `json:"object"`
	Name   string `json:"name,omitempty"`
	From   any    `json:"from,omitempty"`
	To     any    `json:"to,omitempty"`
}

// NodeSpec is a node as a step shows it.
type NodeSpec struct {
	Device string   `json:"device,omitempty"`
	Host   string   `json:"host,omitempty"`
	Roles  []string `json:"roles"`
	Labels []string `json:"labels,omitempty"`
	Taints []string `json:"taints,omitempty"`
}

// Plan lists the steps that bring a cluster reporting rep (nil: nothing
// reported, the cluster does not exist yet) to decl, in the order they
// would be taken: the cluster, its labels, the nodes to add or change,
// then the nodes no longer declared.
func Plan(decl *inventory.Cluster, rep *Report) []Step {
	steps := []Step{}
	if rep == nil {
		steps = append(steps, Step{Action: "create", Object: "cluster", Name: decl.ID, To: map[string]any{
			"distribution": decl.Distribution, "kubernetes-version": decl.KubernetesVersion, "cni": orEmpty(decl.CNI)}})
		rep = &Report{Distribution: decl.Distribution, KubernetesVersion: decl.KubernetesVersion, CNI: decl.CNI, Labels: map[string]string{}}
	}
	if rep.Distribution != "" && rep.Distribution != decl.Distribution {
		steps = append(steps, Step{Action: "change", Object: "distribution", From: rep.Distribution, To: decl.Distribution})
	}
	if rep.KubernetesVersion != "" && decl.KubernetesVersion != "" && rep.KubernetesVersion != decl.KubernetesVersion {
		steps = append(steps, Step{Action: "change", Object: "kubernetes-version", From: rep.KubernetesVersion, To: decl.KubernetesVersion})
	}
	if rep.CNI != nil && !slices.Equal(rep.CNI, decl.CNI) {
		steps = append(steps, Step{Action: "change", Object: "cni", From: orEmpty(rep.CNI), To: orEmpty(decl.CNI)})
	}
	for _, k := range union(decl.Labels, rep.Labels) {
		if rep.Labels == nil {
			break // not reported
		}
		want, declared := decl.Labels[k]
		have, reported := rep.Labels[k]
		switch {
		case declared && !reported:
			steps = append(steps, Step{Action: "add", Object: "label", Name: k, To: want})
		case !declared:
			steps = append(steps, Step{Action: "remove", Object: "label", Name: k, From: have})
		case want != have:
			steps = append(steps, Step{Action: "change", Object: "label", Name: k, From: have, To: want})
		}
	}
	var removed []Step
	for _, name := range union(decl.Nodes, rep.Nodes) {
		want, declared := decl.Nodes[name]
		have, reported := rep.Nodes[name]
		switch {
		case declared && !reported:
			steps = append(steps, Step{Action: "add", Object: "node", Name: name, To: specOf(want)})
		case !declared:
			removed = append(removed, Step{Action: "remove", Object: "node", Name: name, From: specOf(have)})
		case !sameNode(want, have):
			from, to := specOf(have), specOf(want)
			from.Device, from.Host = "", "" // not reported: not compared
			steps = append(steps, Step{Action: "change", Object: "node", Name: name, From: from, To: to})
		}
	}
	return append(steps, removed...)
}

func specOf(n *inventory.ClusterNode) NodeSpec {
	return NodeSpec{Device: n.Device, Host: n.Host, Roles: sorted(n.Roles), Labels: sorted(n.Labels), Taints: sorted(n.Taints)}
}

// sameNode compares what a declared node runs and carries with what the
// site reports; order does not count. A node at the site carries labels
// and taints of its own (kubernetes.io/hostname, node.kubernetes.io/…)
// that are none of the declaration's business, so every declared one must
// be there and others may; roles are compared when reported.
func sameNode(want, have *inventory.ClusterNode) bool {
	if len(have.Roles) > 0 && !slices.Equal(sorted(want.Roles), sorted(have.Roles)) {
		return false
	}
	return subset(want.Labels, have.Labels) && subset(want.Taints, have.Taints)
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return orEmpty(slices.Compact(out))
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// union returns the keys of a and b, in order.
func union[A, B any](a map[string]A, b map[string]B) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
