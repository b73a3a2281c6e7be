package probes

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// SetName is the model set that declares probes (models/monitor).
const SetName = "monitor"

// The built-in probes every cluster runs, and their defaults when no
// declared probe of their kind selects the cluster.
const (
	BuiltinControlPlane = wire.ProbeControlPlane
	BuiltinUserPlane    = wire.ProbeUserPlane
	// DefaultInternetTarget is the user-plane probe's target until one
	// is declared: a well-known endpoint that answers 204 to anyone.
	DefaultInternetTarget = "https://connectivitycheck.gstatic.com/generate_204"
	DefaultInterval       = 10 * time.Second
	DefaultTimeout        = 5 * time.Second
)

func init() { edge.RegisterSource(source{}) }

// source is the edge source of kind probe.
type source struct{}

// served are the clusters whose probes were built: a change of any probe
// declaration may change each of them (a probe selects by site, cluster
// or label, which the key alone does not say). The hub rebuilds only the
// clusters it caches, which are these.
var served sync.Map // cluster id → struct{}

func (source) Kind() string { return wire.KindProbe }

func (source) Affects(sch *schema.Schema, _ *config.Snapshot, ch edge.Change) []string {
	set := sch.Set(SetName, "")
	key := ch.Key
	if set == nil || ch.State || !strings.HasPrefix(key, set.Name+"/"+set.Version+"/") || !strings.Contains(key, "/probe/") {
		return nil
	}
	var ids []string
	served.Range(func(k, _ any) bool {
		ids = append(ids, k.(string))
		return true
	})
	return ids
}

// target is what a probe needs to know of a cluster to select it.
type target struct {
	cluster    *inventory.Cluster
	enterprise string // its site's tenant
}

// clusterOf reads a declared cluster and its enterprise.
func clusterOf(sch *schema.Schema, snap *config.Snapshot, id string) (target, bool) {
	o, enterprise, ok := clusterObject(sch, snap, id)
	if !ok {
		return target{}, false
	}
	tree, _ := snap.Tree(o)
	return target{cluster: inventory.ClusterOf(tree), enterprise: enterprise}, true
}

// clusterObject reads a declared cluster's own object (not its nodes
// and labels) and its site's enterprise.
func clusterObject(sch *schema.Schema, snap *config.Snapshot, id string) (o *config.Object, enterprise string, ok bool) {
	inv := inventory.Set(sch)
	if inv == nil {
		return nil, "", false
	}
	if o, ok = snap.Get(schema.RootKey(inv, "") + "/cluster/" + schema.EscapeSegment(id)); !ok {
		return nil, "", false
	}
	if site, _ := o.Data["site"].(string); site != "" {
		if s, ok := snap.Get(inventory.SiteKey(inv, site)); ok {
			enterprise, _ = s.Data["tenant"].(string)
		}
	}
	return o, enterprise, true
}

// Objects are the cluster's probes: the built-ins, each replaced by the
// first declared probe of its kind (in name order) that selects the
// cluster, and the declared http, tcp and icmp probes that select it.
func (source) Objects(sch *schema.Schema, snap *config.Snapshot, id string) ([]wire.Object, error) {
	t, ok := clusterOf(sch, snap, id)
	if !ok {
		return nil, nil
	}
	served.Store(id, struct{}{})
	objs := map[string]wire.Object{}
	add := func(name string, spec wire.ProbeSpec, index uint64) error {
		b, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		objs[name] = wire.Object{Kind: wire.KindProbe, Name: name, Spec: b, Index: index}
		return nil
	}
	for _, p := range declared(sch, snap, t) {
		name := p.name
		if p.spec.Kind == wire.ProbeControlPlane || p.spec.Kind == wire.ProbeUserPlane {
			name = p.spec.Kind
		}
		if _, taken := objs[name]; taken {
			continue
		}
		if err := add(name, p.spec, p.index); err != nil {
			return nil, err
		}
	}
	created := snap.Index
	if inv := inventory.Set(sch); inv != nil {
		if o, ok := snap.Get(schema.RootKey(inv, "") + "/cluster/" + schema.EscapeSegment(id)); ok {
			created = o.Created
		}
	}
	if _, ok := objs[BuiltinControlPlane]; !ok {
		if err := add(BuiltinControlPlane, wire.ProbeSpec{Kind: wire.ProbeControlPlane,
			Interval: wire.Duration(DefaultInterval), Timeout: wire.Duration(DefaultTimeout)}, created); err != nil {
			return nil, err
		}
	}
	if _, ok := objs[BuiltinUserPlane]; !ok {
		if err := add(BuiltinUserPlane, wire.ProbeSpec{Kind: wire.ProbeUserPlane, Target: DefaultInternetTarget, ExpectStatus: 204,
			Interval: wire.Duration(DefaultInterval), Timeout: wire.Duration(DefaultTimeout)}, created); err != nil {
			return nil, err
		}
	}
	out := make([]wire.Object, 0, len(objs))
	for _, name := range inventory.Sorted(objs) {
		out = append(out, objs[name])
	}
	return out, nil
}

// declaredProbe is one probe entry of the monitor set.
type declaredProbe struct {
	name  string
	spec  wire.ProbeSpec
	index uint64
}

// declared returns the enabled probes that select the cluster, in name
// order: in a tenant set, only its enterprise's (none for a cluster at no
// enterprise's site).
func declared(sch *schema.Schema, snap *config.Snapshot, t target) []declaredProbe {
	set := sch.Set(SetName, "")
	if set == nil || set.Root.Child("probe") == nil {
		return nil
	}
	tenant := ""
	if !set.Global() {
		if t.enterprise == "" {
			return nil
		}
		tenant = t.enterprise
	}
	var out []declaredProbe
	snap.Entries(schema.RootKey(set, tenant), nil, set.Root.Child("probe"), "", func(o *config.Object) bool {
		if p, ok := probeOf(o, t); ok {
			out = append(out, p)
		}
		return true
	})
	return out
}

// probeOf reads a probe entry and whether it selects the cluster.
func probeOf(o *config.Object, t target) (declaredProbe, bool) {
	d := o.Data
	if on, ok := d["enabled"].(bool); ok && !on {
		return declaredProbe{}, false
	}
	sites, clusters, labels := stringList(d["site"]), stringList(d["cluster"]), stringList(d["cluster-label"])
	if len(sites) > 0 && !slices.Contains(sites, t.cluster.Site) {
		return declaredProbe{}, false
	}
	if len(clusters) > 0 && !slices.Contains(clusters, t.cluster.ID) {
		return declaredProbe{}, false
	}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		if have, ok := t.cluster.Labels[k]; !ok || have != v {
			return declaredProbe{}, false
		}
	}
	name, _ := d["name"].(string)
	return declaredProbe{name: name, spec: specOf(d), index: o.Modified}, true
}

// specOf is the spec a probe entry gives its agents.
func specOf(d map[string]any) wire.ProbeSpec {
	spec := wire.ProbeSpec{Interval: wire.Duration(DefaultInterval), Timeout: wire.Duration(DefaultTimeout)}
	spec.Kind, _ = d["kind"].(string)
	spec.Target, _ = d["target"].(string)
	spec.SourceAddress, _ = d["source-address"].(string)
	if n := number(d["interval"]); n > 0 {
		spec.Interval = wire.Duration(time.Duration(n) * time.Second)
	}
	if n := number(d["timeout"]); n > 0 {
		spec.Timeout = wire.Duration(time.Duration(n) * time.Second)
	}
	spec.ExpectStatus = int(number(d["expect-status"]))
	return spec
}

// stringList reads a stored leaf-list of strings.
func stringList(v any) []string {
	switch l := v.(type) {
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case []string:
		return l
	}
	return nil
}

// number reads a stored integer whatever Go type holds it.
func number(v any) int64 {
	switch n := v.(type) {
	case uint64:
		return int64(n)
	case int64:
		return n
	case uint32:
		return int64(n)
	case uint16:
		return int64(n)
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// Placement is where a declared cluster stands: its site and that site's
// enterprise ("" for none); ok is false for a cluster not declared.
// Every probe push and every site query asks: it reads the cluster's own
// object, not its tree.
func Placement(sch *schema.Schema, snap *config.Snapshot, id string) (site, enterprise string, ok bool) {
	o, enterprise, ok := clusterObject(sch, snap, id)
	if !ok {
		return "", "", false
	}
	site, _ = o.Data["site"].(string)
	return site, enterprise, true
}
