package edge_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// staged is a source of these tests that reads operational state, as the
// fleet's helm-release source does: one object per fleet bundle with a
// deployment of the cluster whose staged-version is set (a bundle's
// deployments are config false, written with Engine.SetState). No other
// test stages anything, so their states hold none.
type staged struct{}

func init() { edge.RegisterSource(staged{}) }

const kindStaged = "test-staged"

func (staged) Kind() string { return kindStaged }

// bundleOf is the bundle id of a bundle's storage key.
func bundleOf(sch *schema.Schema, key string) (string, bool) {
	set := sch.Set("fleet", "")
	if set == nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(key, schema.RootKey(set, "")+"/bundle/")
	if !ok || strings.Contains(rest, "/") {
		return "", false
	}
	id, err := schema.UnescapeSegment(rest)
	return id, err == nil
}

// deployments are a bundle's staged versions by cluster, as of snap.
func deployments(snap *config.Snapshot, key string) map[string]string {
	out := map[string]string{}
	if snap.State == nil {
		return out // a point-in-time read (Engine.At) has no state
	}
	st, _ := snap.State.Get([]byte(key))
	list, _ := st["deployment"].([]any)
	for _, d := range list {
		m, _ := d.(map[string]any)
		c, _ := m["cluster"].(string)
		v, _ := m["staged-version"].(string)
		if c != "" && v != "" {
			out[c] = v
		}
	}
	return out
}

// Affects: a bundle's clusters as its state names them after the change;
// a deleted bundle's clusters are not known any more: every cluster.
func (staged) Affects(sch *schema.Schema, snap *config.Snapshot, ch edge.Change) []string {
	if _, ok := bundleOf(sch, ch.Key); !ok {
		return nil
	}
	if _, ok := snap.Get(ch.Key); !ok {
		return []string{edge.Wildcard}
	}
	var ids []string
	for c := range deployments(snap, ch.Key) {
		ids = append(ids, c)
	}
	return ids
}

func (staged) Objects(sch *schema.Schema, snap *config.Snapshot, id string) ([]wire.Object, error) {
	set := sch.Set("fleet", "")
	if set == nil {
		return nil, nil
	}
	var out []wire.Object
	prefix := schema.RootKey(set, "") + "/bundle/"
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, o, more := it.Next(); more; k, o, more = it.Next() {
		name, ok := bundleOf(sch, string(k))
		if !ok {
			continue
		}
		if v, ok := deployments(snap, o.Key)[id]; ok {
			out = append(out, wire.Object{Kind: kindStaged, Name: name, Spec: json.RawMessage(`{"version":"` + v + `"}`), Index: o.Modified})
		}
	}
	return out, nil
}

// TestStateWritesWakeTheirClusters: a bundle's staged versions are
// operational state, not commits. A state write that stages a version
// for ace-x answers ace-x's waiting agent and leaves ace-y's asleep; one
// that changes nothing of a desired state (a message) wakes no one;
// deleting the bundle (a change the source cannot attribute: Wildcard)
// rebuilds every cached cluster but wakes only ace-x, whose state held it.
func TestStateWritesWakeTheirClusters(t *testing.T) {
	s := newSite(t, clusters)
	h := s.hub(edge.Options{})
	ctx := context.Background()
	fleet := s.eng.Schema().Set("fleet", "")
	bundles, err := schema.Resolve(fleet, "", []string{"bundle"})
	if err != nil {
		t.Fatal(err)
	}
	processed(t, h, s.submit(config.Edit{Op: config.OpMerge, Loc: bundles, Value: s.decode(bundles,
		`[{"bundle-id":"upf","chart":{"repository":"https://charts.example.com","name":"upf","version":"1.0.0"}}]`)}))
	route, err := s.eng.Schema().ParseRoute(schema.RESTBase(fleet) + "/bundle/upf/deployment")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	// stage writes the bundle's deployments and waits until the hub has
	// applied the write: a waiter it woke is no longer waiting then.
	stage := func(body string) {
		t.Helper()
		n := h.StatesProcessed()
		var v any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), false, schema.DecodeOptions{AllowState: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.eng.SetState(ctx, loc, config.OpReplace, val); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); h.StatesProcessed() == n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the hub never applied the state write")
			}
		}
	}

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
	parked := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); h.Waiting(id) != 1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s's agent never waited", id)
			}
		}
	}
	asleep := func(id string, ch chan answer) {
		t.Helper()
		select {
		case a := <-ch:
			t.Fatalf("%s's waiter was answered: %+v %v", id, a.d, a.err)
		default:
		}
		if h.Waiting(id) != 1 {
			t.Fatalf("%s's waiter is gone", id)
		}
	}
	wx, wy := wait("ace-x", x), wait("ace-y", y)
	parked("ace-x")
	parked("ace-y")

	// Nothing staged (a message only): no desired state changes.
	stage(`[{"cluster":"ace-x","state":"pending","message":"planned"}]`)
	asleep("ace-x", wx)

	stage(`[{"cluster":"ace-x","staged-version":"1.0.0","state":"pending"}]`)
	a := <-wx
	if a.err != nil || a.d == nil || a.d.Full || len(a.d.Objects) != 1 || a.d.Objects[0].Kind != kindStaged ||
		a.d.Objects[0].Name != "upf" || string(a.d.Objects[0].Spec) != `{"version":"1.0.0"}` {
		t.Fatalf("ace-x's waiter: %+v %v", a.d, a.err)
	}
	asleep("ace-y", wy)

	// The same staged version again, with another state: no change.
	wx = wait("ace-x", a.d)
	parked("ace-x")
	stage(`[{"cluster":"ace-x","staged-version":"1.0.0","state":"ready"}]`)
	asleep("ace-x", wx)

	// The bundle deleted: ace-x's release goes, ace-y sleeps on.
	bundle, err := schema.Resolve(fleet, "", []string{"bundle", "upf"})
	if err != nil {
		t.Fatal(err)
	}
	s.submit(config.Edit{Op: config.OpDelete, Loc: bundle})
	a = <-wx
	if a.err != nil || a.d == nil || len(a.d.Removed) != 1 || a.d.Removed[0] != (wire.Ref{Kind: kindStaged, Name: "upf"}) {
		t.Fatalf("ace-x after the bundle's deletion: %+v %v", a.d, a.err)
	}
	asleep("ace-y", wy)
}
