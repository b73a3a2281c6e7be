package edge_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/provision/cluster"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv"
)

const clusters = `[{"cluster-id":"ace-x","namespace":["ran","core"],
  "node":[{"name":"server-1","host":"10.0.1.1","role":["worker"],"node-label":["a=1","zone=east"]},
          {"name":"server-2","host":"10.0.1.2","role":["worker"],"taint":["gpu=true:NoSchedule"]}]},
  {"cluster-id":"ace-y","node":[{"name":"n1","host":"10.0.2.1","role":["worker"],"node-label":["b=2"]}]}]`

// site is an engine with the inventory's clusters declared.
type site struct {
	t   testing.TB
	eng *config.Engine
	st  *store.Bolt
	set *schema.ModelSet
}

func newSite(t testing.TB, body string) *site {
	t.Helper()
	eng, st := testenv.Engine(t, false)
	s := &site{t: t, eng: eng, st: st, set: inventory.Set(eng.Schema())}
	loc, err := schema.Resolve(s.set, "", []string{"cluster"})
	if err != nil {
		t.Fatal(err)
	}
	s.submit(config.Edit{Op: config.OpMerge, Loc: loc, Value: s.decode(loc, body)})
	return s
}

func (s *site) decode(loc *schema.Location, body string) any {
	s.t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		s.t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), len(loc.Keys) > 0, schema.DecodeOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return val
}

func (s *site) submit(edits ...config.Edit) uint64 {
	s.t.Helper()
	res, err := s.eng.Submit(context.Background(), &config.Request{Principal: "test", Edits: edits})
	if err != nil {
		s.t.Fatal(err)
	}
	return res.Index
}

// put replaces what the cluster's REST path rest (e.g.
// "ace-x/namespace") holds with body.
func (s *site) put(rest, body string) uint64 {
	s.t.Helper()
	id, sub, _ := strings.Cut(rest, "/")
	route, err := s.eng.Schema().ParseRoute(cluster.Path(s.set, id) + "/" + sub)
	if err != nil {
		s.t.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		s.t.Fatal(err)
	}
	return s.submit(config.Edit{Op: config.OpReplace, Loc: loc, Value: s.decode(loc, body)})
}

func (s *site) hub(opts edge.Options) *edge.Hub {
	s.t.Helper()
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := edge.NewHub(s.eng, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(h.Close)
	return h
}

// processed waits until the hub's watch has applied index i.
func processed(t testing.TB, h *edge.Hub, i uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); h.Processed() < i; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hub never applied transaction %d (at %d)", i, h.Processed())
		}
	}
}

func refs(objs []wire.Object) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.Kind+"/"+o.Name+" "+string(o.Spec))
	}
	return out
}

// apply is what an agent does with an answer: a delta on top of what it
// holds, or the whole state.
func apply(held []wire.Object, d *wire.Desired) []wire.Object {
	if d.Full {
		return d.Objects
	}
	m := map[wire.Ref]wire.Object{}
	for _, o := range held {
		m[wire.Ref{Kind: o.Kind, Name: o.Name}] = o
	}
	for _, o := range d.Objects {
		m[wire.Ref{Kind: o.Kind, Name: o.Name}] = o
	}
	for _, r := range d.Removed {
		delete(m, r)
	}
	out := make([]wire.Object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+out[i].Name < out[j].Kind+out[j].Name })
	return out
}

// TestDesiredState: the full state of a declared cluster (its nodes'
// labels and taints, its namespaces) with each object's digest and the
// state's; the same digest is answered "unchanged"; a label change and a
// namespace removal come as a delta (changed objects, removed refs) from
// the state before, and two changes as one delta from an older index
// (a point-in-time read), or everything from an index older than the
// retained history; applying a delta gives the state's digest. An
// undeclared cluster is not found.
func TestDesiredState(t *testing.T) {
	s := newSite(t, clusters)
	h := s.hub(edge.Options{})
	ctx := context.Background()
	full, err := h.Desired(ctx, "ace-x", 0, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`namespace/core {}`, `namespace/ran {}`,
		`node/server-1 {"labels":{"a":"1","zone":"east"},"taints":[]}`,
		`node/server-2 {"labels":{},"taints":["gpu=true:NoSchedule"]}`,
	}
	if !full.Full || full.Cluster != "ace-x" || !reflect.DeepEqual(refs(full.Objects), want) {
		t.Fatalf("full state: %+v\n%q", full, refs(full.Objects))
	}
	for _, o := range full.Objects {
		if o.Digest != wire.ObjectDigest(o.Spec) || o.Index == 0 || o.Index > full.Index {
			t.Errorf("object %s/%s: digest %s index %d (state %d)", o.Kind, o.Name, o.Digest, o.Index, full.Index)
		}
	}
	if full.Digest != wire.StateDigest(full.Objects) {
		t.Fatalf("state digest %s, want %s", full.Digest, wire.StateDigest(full.Objects))
	}
	if d, err := h.Desired(ctx, "ace-x", full.Index, full.Digest, 0); d != nil || err != nil {
		t.Fatalf("the current digest: %+v %v, want unchanged", d, err)
	}

	// One transaction: a label changed, a namespace removed.
	i1 := s.submit(s.edit("ace-x/node/server-1/node-label", `["a=2","zone=east"]`), s.edit("ace-x/namespace", `["core"]`))
	processed(t, h, i1)
	d1, err := h.Desired(ctx, "ace-x", full.Index, full.Digest, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d1.Full || d1.Index != i1 || !reflect.DeepEqual(refs(d1.Objects), []string{`node/server-1 {"labels":{"a":"2","zone":"east"},"taints":[]}`}) ||
		!reflect.DeepEqual(d1.Removed, []wire.Ref{{Kind: "namespace", Name: "ran"}}) || d1.Objects[0].Index != i1 {
		t.Fatalf("delta: %+v", d1)
	}
	held1 := apply(full.Objects, d1)
	if wire.StateDigest(held1) != d1.Digest {
		t.Fatal("the delta applied does not give the state's digest")
	}

	// A second change; an agent still at the first state asks.
	i2 := s.put("ace-x/node/server-2/taint", `[]`)
	processed(t, h, i2)
	d2, err := h.Desired(ctx, "ace-x", full.Index, full.Digest, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Full || d2.Index != i2 || len(d2.Objects) != 2 || len(d2.Removed) != 1 || wire.StateDigest(apply(full.Objects, d2)) != d2.Digest {
		t.Fatalf("delta over two changes: %+v", d2)
	}
	// From the first change: only the second.
	d3, _ := h.Desired(ctx, "ace-x", d1.Index, d1.Digest, 0)
	if d3 == nil || !reflect.DeepEqual(refs(d3.Objects), []string{`node/server-2 {"labels":{},"taints":[]}`}) || len(d3.Removed) != 0 {
		t.Fatalf("delta from the first change: %+v", d3)
	}
	// An index from the future (a restored store): everything.
	if d, _ := h.Desired(ctx, "ace-x", i2+100, "x", 0); d == nil || !d.Full || d.Digest != d2.Digest {
		t.Fatalf("since in the future: %+v", d)
	}
	// Another cluster's change leaves ace-x's state and digest alone.
	processed(t, h, s.put("ace-y/node/n1/node-label", `["b=3"]`))
	if d, err := h.Desired(ctx, "ace-x", d2.Index, d2.Digest, 0); d != nil || err != nil {
		t.Fatalf("ace-x after a change of ace-y: %+v %v", d, err)
	}
	// History before i2 compacted away (once checkpointed): an agent
	// still at the first state gets everything.
	for deadline := time.Now().Add(20 * time.Second); s.st.CheckpointIndex() < i2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the engine never checkpointed")
		}
	}
	if err := s.st.Compact(i2); err != nil {
		t.Fatal(err)
	}
	if d, err := h.Desired(ctx, "ace-x", full.Index, full.Digest, 0); err != nil || d == nil || !d.Full || d.Digest != d2.Digest || len(d.Objects) != 3 {
		t.Fatalf("since older than the history: %+v %v", d, err)
	}
	if _, err := h.Desired(ctx, "nope", 0, "", 0); schema.KindOf(err) != schema.KindNotFound || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("an undeclared cluster: %v", err)
	}
}

func (s *site) edit(rest, body string) config.Edit {
	s.t.Helper()
	id, sub, _ := strings.Cut(rest, "/")
	route, err := s.eng.Schema().ParseRoute(cluster.Path(s.set, id) + "/" + sub)
	if err != nil {
		s.t.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		s.t.Fatal(err)
	}
	return config.Edit{Op: config.OpReplace, Loc: loc, Value: s.decode(loc, body)}
}

// TestWaitersWokenByTheirCluster: agents waiting on ace-x and ace-y; a
// commit that changes ace-y's state answers ace-y's waiter with the delta
// and leaves ace-x's waiting; a commit that touches no cluster wakes no
// one; a commit that touches ace-x without changing its desired state
// (a node's host) wakes no one either; a wait that ends unchanged is nil;
// deleting the cluster ends its wait with not found.
func TestWaitersWokenByTheirCluster(t *testing.T) {
	s := newSite(t, clusters)
	reg := prometheus.NewRegistry()
	h := s.hub(edge.Options{Registry: reg})
	ctx := context.Background()
	x, _ := h.Desired(ctx, "ace-x", 0, "", 0)
	y, _ := h.Desired(ctx, "ace-y", 0, "", 0)
	type answer struct {
		d   *wire.Desired
		err error
	}
	wait := func(id string, held *wire.Desired) chan answer {
		ch := make(chan answer, 1)
		go func() {
			d, err := h.Desired(ctx, id, held.Index, held.Digest, time.Minute)
			ch <- answer{d, err}
		}()
		return ch
	}
	waiting := func(n float64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); metric(t, reg, "amp_edge_waiting_agents") != n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting agents never reached %v", n)
			}
		}
	}
	wx, wy := wait("ace-x", x), wait("ace-y", y)
	waiting(2)

	// Touches no cluster: an organization.
	org, err := schema.Resolve(s.set, "", []string{"organization"})
	if err != nil {
		t.Fatal(err)
	}
	processed(t, h, s.submit(config.Edit{Op: config.OpMerge, Loc: org, Value: s.decode(org, `[{"org-id":"o1"}]`)}))
	// Touches ace-x but not its desired state.
	processed(t, h, s.put("ace-x/node/server-1/host", `"10.0.1.9"`))
	if h.Waiting("ace-x") != 1 {
		t.Fatal("a commit that changed nothing of ace-x's desired state woke its waiters")
	}

	iy := s.put("ace-y/node/n1/node-label", `["b=3"]`)
	a := <-wy
	if a.err != nil || a.d == nil || a.d.Full || a.d.Index != iy || len(a.d.Objects) != 1 || a.d.Objects[0].Name != "n1" {
		t.Fatalf("ace-y's waiter: %+v %v", a.d, a.err)
	}
	if h.Waiting("ace-x") != 1 {
		t.Fatal("a commit of ace-y woke ace-x's waiters")
	}
	select {
	case a := <-wx:
		t.Fatalf("ace-x's waiter was answered: %+v %v", a.d, a.err)
	default:
	}
	waiting(1)
	if got := metric(t, reg, "amp_edge_desired_answers_total", "answer", "delta"); got != 1 {
		t.Fatalf("delta answers %v", got)
	}

	// A short wait that ends unchanged.
	if d, err := h.Desired(ctx, "ace-y", a.d.Index, a.d.Digest, time.Millisecond); d != nil || err != nil {
		t.Fatalf("an unchanged wait: %+v %v", d, err)
	}
	// ace-x deleted: its waiter is told.
	route, _ := s.eng.Schema().ParseRoute(cluster.Path(s.set, "ace-x"))
	loc, _ := route.Resolve()
	s.submit(config.Edit{Op: config.OpDelete, Loc: loc})
	if a := <-wx; schema.KindOf(a.err) != schema.KindNotFound {
		t.Fatalf("the waiter of a deleted cluster: %+v %v", a.d, a.err)
	}
}

// metric is the value of the series of name with the labels given as
// name, value pairs (-1: no such series).
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}
