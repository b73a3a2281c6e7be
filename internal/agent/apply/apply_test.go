package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// site is an in-memory site of one kind: the applier keeps a set of
// names with their specs, validates that specs are JSON objects without
// the field "bad", and records every call.
type site struct {
	kind    string
	held    map[string]string
	calls   *[]string
	failing map[string]bool
}

func newSite(kind string, calls *[]string) *site {
	return &site{kind: kind, held: map[string]string{}, calls: calls, failing: map[string]bool{}}
}

func (s *site) Validate(name string, spec json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(spec, &m); err != nil {
		return fmt.Errorf("not an object: %v", err)
	}
	if _, bad := m["bad"]; bad {
		return errors.New("bad: not allowed")
	}
	return nil
}

func (s *site) Apply(_ context.Context, name string, spec json.RawMessage) ([]string, error) {
	*s.calls = append(*s.calls, "apply "+s.kind+"/"+name)
	if s.failing[name] {
		return nil, errors.New("the site refused " + name)
	}
	if s.held[name] == string(spec) {
		return nil, nil
	}
	s.held[name] = string(spec)
	return []string{"set " + string(spec)}, nil
}

func (s *site) Prune(_ context.Context, keep map[string]bool) ([]string, error) {
	*s.calls = append(*s.calls, "prune "+s.kind)
	var gone []string
	for name := range s.held {
		if !keep[name] {
			delete(s.held, name)
			gone = append(gone, name)
		}
	}
	return gone, nil
}

func obj(kind, name, spec string) wire.Object {
	return wire.Object{Kind: kind, Name: name, Spec: json.RawMessage(spec), Digest: wire.ObjectDigest(json.RawMessage(spec))}
}

func registry() (*Registry, *site, *site, *[]string) {
	var calls []string
	r := NewRegistry()
	ns, node := newSite("namespace", &calls), newSite("node", &calls)
	r.Register("namespace", ns)
	r.Register("node", node)
	return r, ns, node, &calls
}

// One invalid object anywhere refuses the whole desired state before
// anything acts: no apply, no prune; every problem names its object and
// reason.
func TestInvalidStateActsOnNothing(t *testing.T) {
	r, ns, _, calls := registry()
	ns.held["keep-me"] = "{}"
	tampered := obj("node", "n3", `{}`)
	tampered.Spec = json.RawMessage(`{"labels":{}}`)
	objects := []wire.Object{
		obj("namespace", "apps", `{}`),
		obj("node", "n1", `{"labels":{"env":"prod"}}`),
		obj("node", "n2", `{"bad":1}`),
		tampered,
		obj("probe", "p1", `{}`),
		obj("node", "n1", `{}`),
	}
	outs, removed, err := r.ApplyAll(context.Background(), objects)
	var inv *Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("err %v, want *Invalid", err)
	}
	if len(*calls) != 0 || outs != nil || removed != nil || ns.held["keep-me"] != "{}" {
		t.Fatalf("a refused state acted: calls %v, outcomes %v, removed %v", *calls, outs, removed)
	}
	want := map[string]string{
		"node/n2":  "bad: not allowed",
		"node/n3":  "digest",
		"probe/p1": `kind: "probe" has no applier`,
		"node/n1":  "twice",
	}
	if len(inv.Problems) != len(want) {
		t.Fatalf("problems %+v, want %d", inv.Problems, len(want))
	}
	for _, p := range inv.Problems {
		w, ok := want[p.Kind+"/"+p.Name]
		if !ok || p.State != wire.StateFailed || !strings.Contains(p.Message, w) {
			t.Errorf("problem %s/%s: %s %q, want failed %q", p.Kind, p.Name, p.State, p.Message, w)
		}
	}
}

// A valid state is applied kind by kind in registration order, then
// pruned in reverse order; an object no longer desired is removed, and
// an object the site refuses fails alone.
func TestApplyThenPrune(t *testing.T) {
	r, ns, node, calls := registry()
	ns.held["old"] = "{}"
	node.failing["n2"] = true
	outs, removed, err := r.ApplyAll(context.Background(), []wire.Object{
		obj("node", "n2", `{}`),
		obj("node", "n1", `{"labels":{"env":"prod"}}`),
		obj("namespace", "apps", `{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"apply namespace/apps", "apply node/n1", "apply node/n2", "prune node", "prune namespace"}
	if !reflect.DeepEqual(*calls, wantCalls) {
		t.Fatalf("calls %v, want %v", *calls, wantCalls)
	}
	if !reflect.DeepEqual(removed, []string{"namespace/old"}) {
		t.Fatalf("removed %v", removed)
	}
	states := map[string]string{}
	for _, o := range outs {
		states[o.Status.Kind+"/"+o.Status.Name] = o.Status.State + " " + o.Status.Message
	}
	if states["namespace/apps"] != "applied set {}" || !strings.HasPrefix(states["node/n1"], "applied set") || states["node/n2"] != "failed the site refused n2" {
		t.Fatalf("outcomes %v", states)
	}
	// Applied again unchanged: nothing to change, nothing removed.
	*calls = nil
	outs, removed, err = r.ApplyAll(context.Background(), []wire.Object{obj("namespace", "apps", `{}`)})
	if err != nil || len(outs) != 1 || len(outs[0].Changed) != 0 || len(removed) != 1 || removed[0] != "node/n1" {
		t.Fatalf("second apply: %+v %v %v", outs, removed, err)
	}
}
