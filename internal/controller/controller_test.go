package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// memAdapter renders one backend object per traffic class (body = its qci)
// into an in-memory backend that can fail or forget everything. It tests the
// controller's machinery; the SD-Core adapter has its own tests against the
// SD-Core emulator.
type memAdapter struct {
	mu      sync.Mutex
	held    map[string][]byte
	failing bool
	pushes  int
}

func (a *memAdapter) Name() string { return "mem" }

func (a *memAdapter) Render(snap *config.Snapshot) map[string]Desired {
	out := map[string]Desired{}
	set := snap.RootObject(aetherSet, "acme").Node.Set
	root := snap.RootObject(set, "acme")
	snap.Entries(root.Key, nil, set.Root.Child("traffic-class"), "", func(o *config.Object) bool {
		id := "tc/" + o.Data["traffic-class-id"].(string)
		body, _ := json.Marshal(o.Data["qci"])
		out[id] = Desired{Backend: "mem", Body: body, Sources: []string{o.Key}}
		return true
	})
	return out
}

func (a *memAdapter) Push(_ context.Context, id string, d Desired) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failing {
		return errors.New("backend says 503")
	}
	a.pushes++
	a.held[id] = d.Body
	return nil
}

func (a *memAdapter) Delete(_ context.Context, id, _ string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failing {
		return errors.New("backend says 503")
	}
	delete(a.held, id)
	return nil
}

func (a *memAdapter) Held(context.Context, string) (map[string]bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failing {
		return nil, errors.New("unreachable")
	}
	out := map[string]bool{}
	for id := range a.held {
		out[id] = true
	}
	return out, nil
}

func (a *memAdapter) get(id string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return string(a.held[id])
}

var aetherSet *schema.ModelSet

// openAcme opens an engine with the embedded models on a fresh store, sets
// aetherSet and creates the target "acme". The context is cancelled, then
// the engine and the store closed, when the test ends.
func openAcme(t *testing.T) (*config.Engine, context.Context) {
	t.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	aetherSet = sch.Set("aether", "2.1.x")
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng, err := config.Open(sch, st, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := eng.Submit(ctx, &config.Request{Targets: []config.TargetEdit{{Op: config.OpCreate, Name: "acme"}}}); err != nil {
		t.Fatal(err)
	}
	return eng, ctx
}

// submitJSON commits one edit of target acme at path (below the target),
// its value the JSON body (none for a delete), and returns its index.
func submitJSON(t *testing.T, ctx context.Context, eng *config.Engine, op config.Op, path, body string) uint64 {
	t.Helper()
	loc, err := schema.Resolve(aetherSet, "acme", schema.SplitPath(path))
	if err != nil {
		t.Fatal(err)
	}
	ed := config.Edit{Op: op, Loc: loc}
	if body != "" {
		var v any
		d := json.NewDecoder(strings.NewReader(body))
		d.UseNumber()
		_ = d.Decode(&v)
		ed.Value, err = schema.DecodeJSON(loc.Node, v, "", true, schema.DecodeOptions{OmitKeysOK: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := eng.Submit(ctx, &config.Request{Edits: []config.Edit{ed}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Index
}

func TestControllerConverges(t *testing.T) {
	eng, ctx := openAcme(t)
	submit := func(op config.Op, path, body string) uint64 {
		t.Helper()
		return submitJSON(t, ctx, eng, op, path, body)
	}
	submit(config.OpMerge, "traffic-class/tc1", `{"qci":1}`)

	ad := &memAdapter{held: map[string][]byte{"tc/stale": []byte("0")}}
	c := New(eng, ad, Options{ProbeEvery: 50 * time.Millisecond, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	go c.Run(ctx)
	wait := func(idx uint64) []Status {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		sts, err := c.WaitApplied(wctx, idx)
		if err != nil {
			t.Fatalf("wait for %d: %v (statuses %+v)", idx, err, sts)
		}
		return sts
	}
	// Full reconcile at start: pushes tc1, deletes the stray object.
	wait(eng.Snapshot().Index)
	for start := time.Now(); ad.get("tc/tc1") != "1" || ad.get("tc/stale") != ""; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("after start: %v", ad.held)
		}
	}
	// A change is pushed; an unchanged object is not pushed again.
	pushes := ad.pushes
	idx := submit(config.OpMerge, "traffic-class/tc2", `{"qci":2}`)
	sts := wait(idx)
	if ad.get("tc/tc2") != "2" || ad.pushes != pushes+1 || len(sts) != 1 || sts[0].ID != "tc/tc2" || sts[0].AppliedIndex != idx {
		t.Fatalf("after a change: pushes %d→%d, statuses %+v", pushes, ad.pushes, sts)
	}
	// The backend fails: the object is in error, retried, and converges
	// once the backend is back.
	ad.mu.Lock()
	ad.failing = true
	ad.mu.Unlock()
	idx = submit(config.OpMerge, "traffic-class/tc1", `{"qci":5}`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		sts = c.Statuses()
		if sts[0].Status == Error && strings.Contains(sts[0].Message, "503") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error status: %+v", sts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ad.mu.Lock()
	ad.failing = false
	ad.mu.Unlock()
	for ad.get("tc/tc1") != "5" {
		if time.Now().After(deadline) {
			t.Fatalf("not retried: %+v", c.Statuses())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The backend restarts empty: the probe notices and resyncs it.
	ad.mu.Lock()
	ad.held = map[string][]byte{}
	ad.mu.Unlock()
	for ad.get("tc/tc1") != "5" || ad.get("tc/tc2") != "2" {
		if time.Now().After(deadline) {
			t.Fatalf("not resynced: %v", ad.held)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Deleting the config deletes the backend object.
	idx = submit(config.OpDelete, "traffic-class/tc2", "")
	wait(idx)
	for ad.get("tc/tc2") != "" {
		if time.Now().After(deadline) {
			t.Fatal("not deleted in the backend")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := fmt.Sprint(len(c.Statuses())); got != "1" {
		t.Fatalf("statuses after delete: %+v", c.Statuses())
	}
}

// TestPushContinuesTheRequestTrace: the controller's reconcile and push
// spans continue the trace of the request that committed the change.
func TestPushContinuesTheRequestTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(prev)

	eng, ctx := openAcme(t)
	ad := &memAdapter{held: map[string][]byte{}}
	c := New(eng, ad, Options{ProbeEvery: time.Hour})
	go c.Run(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	c.WaitApplied(wctx, eng.Snapshot().Index)

	reqCtx, span := otel.Tracer("test").Start(ctx, "http model")
	loc, _ := schema.Resolve(aetherSet, "acme", []string{"traffic-class", "tc9"})
	res, err := eng.Submit(reqCtx, &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: map[string]any{"traffic-class-id": "tc9", "qci": uint64(9)}}}})
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitApplied(wctx, res.Index); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range exp.GetSpans() {
		if s.Name == "controller.push" && s.SpanContext.TraceID() == span.SpanContext().TraceID() {
			found = true
		}
	}
	if !found {
		t.Fatal("no controller.push span in the request's trace")
	}
}

type narrowAdapter struct {
	*memAdapter
	renders int
}

func (n *narrowAdapter) Watches() []string { return []string{"aether/2.1.x/acme/traffic-class"} }
func (n *narrowAdapter) Render(s *config.Snapshot) map[string]Desired {
	n.mu.Lock()
	n.renders++
	n.mu.Unlock()
	return n.memAdapter.Render(s)
}

// TestWatchesLimitsWakeups: a transaction outside what an adapter watches
// does not make it render, yet waiting for its index still returns.
func TestWatchesLimitsWakeups(t *testing.T) {
	eng, ctx := openAcme(t)
	ad := &narrowAdapter{memAdapter: &memAdapter{held: map[string][]byte{}}}
	c := New(eng, ad, Options{ProbeEvery: time.Hour})
	go c.Run(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	c.WaitApplied(wctx, eng.Snapshot().Index)
	ad.mu.Lock()
	before := ad.renders
	ad.mu.Unlock()
	loc, _ := schema.Resolve(aetherSet, "acme", []string{"application", "app1"})
	res, err := eng.Submit(ctx, &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: map[string]any{"application-id": "app1", "address": "10.0.0.1/32"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitApplied(wctx, res.Index); err != nil {
		t.Fatal(err)
	}
	ad.mu.Lock()
	defer ad.mu.Unlock()
	if ad.renders != before {
		t.Fatalf("an unwatched change caused %d renders", ad.renders-before)
	}
}
