package edge

import (
	"fmt"
	"sort"

	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/telemetry"
)

// state is one cluster's desired state: its objects in (kind, name) order,
// their digests, the state's index and digest. It is immutable once built.
type state struct {
	index   uint64
	digest  string
	objects []wire.Object
	byRef   map[wire.Ref]int // index into objects
	// commit is the span of the request that committed the change that
	// made this state (not valid: unknown, e.g. built at start or after a
	// state write): answers carry it so the agent's apply joins its trace.
	commit trace.SpanContext
}

// build reads a cluster's desired state from snap with every registered
// source. prev, when set, is the state the cluster had before: an object
// whose spec did not change keeps the index it had; at (the transaction
// that caused the rebuild, 0: none) is the index of every object that
// changed and, when the digest moved, of the state.
func build(sch *schema.Schema, snap *config.Snapshot, c Cluster, srcs []Source, prev *state, at uint64) (*state, error) {
	st := &state{index: c.Created, byRef: map[wire.Ref]int{}}
	for _, s := range srcs {
		objs, err := s.Objects(sch, snap, c.ID)
		if err != nil {
			return nil, fmt.Errorf("desired %s objects of cluster %s: %w", s.Kind(), c.ID, err)
		}
		for _, o := range objs {
			o.Digest = wire.ObjectDigest(o.Spec)
			ref := wire.Ref{Kind: o.Kind, Name: o.Name}
			if prev != nil {
				if i, ok := prev.byRef[ref]; ok && prev.objects[i].Digest == o.Digest {
					o.Index = prev.objects[i].Index
				} else if at != 0 {
					o.Index = at
				}
			}
			st.objects = append(st.objects, o)
		}
	}
	sort.Slice(st.objects, func(i, j int) bool { return less(st.objects[i], st.objects[j]) })
	for i, o := range st.objects {
		st.byRef[wire.Ref{Kind: o.Kind, Name: o.Name}] = i
		st.index = max(st.index, o.Index)
	}
	st.digest = wire.StateDigest(st.objects)
	if prev != nil && at != 0 && prev.digest != st.digest {
		st.index = max(st.index, at) // a removal changes no remaining object
	}
	return st, nil
}

func less(a, b wire.Object) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.Name < b.Name
}

// full is the whole state as an answer.
func (st *state) full(cluster string) *wire.Desired {
	return &wire.Desired{Cluster: cluster, Index: st.index, Digest: st.digest, Full: true, Objects: st.objects,
		Traceparent: telemetry.Traceparent(st.commit)}
}

// delta is the change from old to st: the objects added or changed, the
// refs removed.
func (st *state) delta(cluster string, old *state) *wire.Desired {
	d := &wire.Desired{Cluster: cluster, Index: st.index, Digest: st.digest, Objects: []wire.Object{},
		Traceparent: telemetry.Traceparent(st.commit)}
	for _, o := range st.objects {
		if i, ok := old.byRef[wire.Ref{Kind: o.Kind, Name: o.Name}]; !ok || old.objects[i].Digest != o.Digest {
			d.Objects = append(d.Objects, o)
		}
	}
	for _, o := range old.objects {
		ref := wire.Ref{Kind: o.Kind, Name: o.Name}
		if _, ok := st.byRef[ref]; !ok {
			d.Removed = append(d.Removed, ref)
		}
	}
	return d
}
