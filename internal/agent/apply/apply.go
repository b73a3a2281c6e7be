// Package apply is the edge agent's applier registry: an Applier per kind
// of desired object (this cluster applier registers "namespace"
// and "node"; later ones add e.g. "helm-release" and "probe" without
// touching the agent's core). The registry applies a whole desired state
// in two passes: it validates EVERY object first (unknown kind, a spec
// whose digest does not match, a spec the kind's applier refuses) and acts
// only when all are valid, so a malformed desired state never half-applies;
// then it applies each object, reading it back (applied = verified), and
// removes what is no longer desired.
//
// It imports the standard library and internal/edge/wire only.
package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// Applier keeps one kind of object at the site.
type Applier interface {
	// Validate checks a spec before anything acts; its error is the
	// reason, naming the field.
	Validate(name string, spec json.RawMessage) error
	// Apply makes the site hold the object as spec says and reads it back.
	// It returns what it had to change (empty: the site already held it),
	// each a short phrase such as "label env: lab -> production".
	Apply(ctx context.Context, name string, spec json.RawMessage) (changed []string, err error)
	// Prune removes what AMP manages of this kind and keep does not name,
	// returning what it removed.
	Prune(ctx context.Context, keep map[string]bool) (removed []string, err error)
}

// Watcher is an Applier that sees changes made at the site (informers),
// so the agent corrects drift at once rather than at the next resync.
type Watcher interface {
	// Watch calls changed with the name of each object of its kind that
	// changed at the site, until ctx ends. It returns once it is watching.
	Watch(ctx context.Context, changed func(name string)) error
}

// Observer is an Applier whose objects run workloads: besides applied or
// failed, they are ready or not and run a version (helm-release).
type Observer interface {
	// Observed is what the last Apply of name found: ready (nil: not
	// known), the version the site runs, and why it is not ready.
	Observed(name string) (ready *bool, version, reason string)
}

// Registry maps kinds to their appliers.
type Registry struct {
	kinds map[string]Applier
	order []string // registration order: the order kinds are applied in
	// Now stamps the statuses (tests set it).
	Now func() time.Time
}

// NewRegistry is an empty registry.
func NewRegistry() *Registry {
	return &Registry{kinds: map[string]Applier{}, Now: time.Now}
}

// Register adds the applier of a kind. Kinds are applied in the order
// they were registered (a namespace before what lives in it) and pruned
// in the reverse order.
func (r *Registry) Register(kind string, a Applier) {
	if _, dup := r.kinds[kind]; dup {
		panic("apply: kind " + kind + " registered twice")
	}
	r.kinds[kind] = a
	r.order = append(r.order, kind)
}

// Kinds lists the registered kinds in registration order.
func (r *Registry) Kinds() []string { return append([]string(nil), r.order...) }

// Applier returns the applier of kind.
func (r *Registry) Applier(kind string) (Applier, bool) {
	a, ok := r.kinds[kind]
	return a, ok
}

// Invalid is a desired state refused before anything acted: one problem
// per object.
type Invalid struct{ Problems []wire.ObjectStatus }

func (e *Invalid) Error() string {
	parts := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		parts = append(parts, p.Kind+"/"+p.Name+": "+p.Message)
	}
	return "the desired state is invalid, nothing was applied: " + strings.Join(parts, "; ")
}

// Check validates every object of a desired state and refuses the whole
// of it, with every problem, when one is invalid.
func (r *Registry) Check(objects []wire.Object) error {
	var bad []wire.ObjectStatus
	seen := map[wire.Ref]bool{}
	now := r.Now().UTC()
	fail := func(o wire.Object, format string, a ...any) {
		bad = append(bad, wire.ObjectStatus{Kind: o.Kind, Name: o.Name, Digest: o.Digest, State: wire.StateFailed, Message: fmt.Sprintf(format, a...), At: now})
	}
	for _, o := range objects {
		ref := wire.Ref{Kind: o.Kind, Name: o.Name}
		a, ok := r.kinds[o.Kind]
		switch {
		case o.Name == "":
			fail(o, "name: empty")
		case seen[ref]:
			fail(o, "the desired state holds %s %s twice", o.Kind, o.Name)
		case !ok:
			fail(o, "kind: %q has no applier in this agent (it knows %s)", o.Kind, strings.Join(r.order, ", "))
		case wire.ObjectDigest(o.Spec) != o.Digest:
			fail(o, "digest: the spec's SHA-256 is %s, the object says %s", wire.ObjectDigest(o.Spec), o.Digest)
		default:
			if err := a.Validate(o.Name, o.Spec); err != nil {
				fail(o, "spec: %v", err)
			}
		}
		seen[ref] = true
	}
	if len(bad) > 0 {
		return &Invalid{Problems: bad}
	}
	return nil
}

// Outcome is what applying one object did.
type Outcome struct {
	Status wire.ObjectStatus
	// Changed is what the applier had to change; with a previous
	// "applied" status of the same digest, that is drift corrected.
	Changed []string
}

// Apply applies one object whose desired state was checked (Check) and
// returns its status: applied (read back as desired) or failed.
func (r *Registry) Apply(ctx context.Context, o wire.Object) Outcome {
	st := wire.ObjectStatus{Kind: o.Kind, Name: o.Name, Digest: o.Digest}
	a, ok := r.kinds[o.Kind]
	var changed []string
	var err error
	if !ok {
		err = fmt.Errorf("kind %q has no applier", o.Kind)
	} else {
		if fn, _ := ctx.Value(startingKey{}).(func(wire.Object)); fn != nil {
			fn(o)
		}
		changed, err = a.Apply(ctx, o.Name, o.Spec)
	}
	st.At = r.Now().UTC()
	if err != nil {
		st.State, st.Message = wire.StateFailed, err.Error()
	} else {
		st.State = wire.StateApplied
		if len(changed) > 0 {
			st.Message = strings.Join(changed, "; ")
		}
	}
	if ob, ok := a.(Observer); ok {
		var reason string
		st.Ready, st.Version, reason = ob.Observed(o.Name)
		if err == nil && st.Ready != nil && !*st.Ready && reason != "" {
			st.Message = strings.TrimPrefix(st.Message+"; not ready: "+reason, "; ")
		}
	}
	return Outcome{Status: st, Changed: changed}
}

type startingKey struct{}

// Starting returns ctx with fn, which Apply calls with each object just
// before its applier acts: the agent learns which object a long apply
// (a release waited on until ready) is busy with, to interrupt it when a
// new desired state changes or withdraws that object.
func Starting(ctx context.Context, fn func(wire.Object)) context.Context {
	return context.WithValue(ctx, startingKey{}, fn)
}

// ApplyAll checks a whole desired state and, when it is valid, applies
// every object (kinds in registration order) and prunes every kind of
// what is no longer desired. It returns each object's outcome (in the
// order applied) and what pruning removed; a refused state returns
// *Invalid and has changed nothing. When ctx ends midway it stops there
// (nothing more applied, nothing pruned) and returns ctx's cause: what is
// left is the next apply's.
func (r *Registry) ApplyAll(ctx context.Context, objects []wire.Object) ([]Outcome, []string, error) {
	if err := r.Check(objects); err != nil {
		return nil, nil, err
	}
	byKind := map[string][]wire.Object{}
	for _, o := range objects {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	var out []Outcome
	for _, kind := range r.order {
		objs := byKind[kind]
		sort.Slice(objs, func(i, j int) bool { return objs[i].Name < objs[j].Name })
		for _, o := range objs {
			if ctx.Err() != nil {
				return out, nil, context.Cause(ctx)
			}
			out = append(out, r.Apply(ctx, o))
		}
	}
	if ctx.Err() != nil {
		return out, nil, context.Cause(ctx)
	}
	var removed []string
	var errs []string
	for i := len(r.order) - 1; i >= 0; i-- {
		kind := r.order[i]
		keep := map[string]bool{}
		for _, o := range byKind[kind] {
			keep[o.Name] = true
		}
		gone, err := r.kinds[kind].Prune(ctx, keep)
		for _, g := range gone {
			removed = append(removed, kind+"/"+g)
		}
		if err != nil {
			errs = append(errs, kind+": "+err.Error())
		}
	}
	if len(errs) > 0 {
		return out, removed, fmt.Errorf("remove what is no longer desired: %s", strings.Join(errs, "; "))
	}
	return out, removed, nil
}
