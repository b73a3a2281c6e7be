package config

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/models"
)

// replicaEngine opens one more engine (an AMP replica) on the etcd prefix.
func replicaEngine(t testing.TB, endpoints, prefix string) (*Engine, *schema.ModelSet) {
	t.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenEtcd(context.Background(), store.EtcdConfig{Endpoints: strings.Split(endpoints, ","), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(sch, st, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); st.Close() })
	return e, sch.Set("aether", "2.1.x")
}

// TestReplicasShareOneStore: two engines on one etcd prefix, writers on
// both. Every transaction commits (a replica that loses the race for an
// index applies the winner's and retries), each replica applies the
// other's, their watches deliver one dense sequence, and both end with the
// same objects.
func TestReplicasShareOneStore(t *testing.T) {
	c := etcd.Start(t, 1)
	a, set := replicaEngine(t, c.Endpoints(), "/replicas/")
	b, _ := replicaEngine(t, c.Endpoints(), "/replicas/")
	ctx := context.Background()
	setupSite(t, a, set)

	// Read-your-writes across replicas: b waits for the index a returned.
	res, err := a.Submit(ctx, &Request{Edits: []Edit{simEdit(set, 1)}, Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	snap, err := b.WaitIndex(wctx, res.Index)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Get("aether/2.1.x/acme/site/s1/sim-card/sim-1"); !ok {
		t.Fatalf("replica b at index %d lacks the SIM replica a committed at %d", snap.Index, res.Index)
	}
	// A WaitIndex for an index nobody committed ends with the caller's
	// deadline and says how far this replica is.
	wctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = b.WaitIndex(wctx, res.Index+1000)
	cancel()
	if schema.KindOf(err) != schema.KindUnavailable || !strings.Contains(err.Error(), "not yet") {
		t.Fatalf("waiting for an index never committed: %v, want unavailable naming the applied index", err)
	}

	from := b.Snapshot().Index
	w, err := b.Watch(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	const perReplica, writers = 60, 6
	var n atomic.Int64
	n.Store(1)
	var wg sync.WaitGroup
	for _, e := range []*Engine{a, b} {
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perReplica / writers {
					if _, err := e.Submit(ctx, &Request{Edits: []Edit{simEdit(set, n.Add(1))}, Source: "test"}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	last := max(a.Snapshot().Index, b.Snapshot().Index)
	if want := from + 2*perReplica; last != want {
		t.Fatalf("after %d transactions from index %d the newest index is %d, want %d", 2*perReplica, from, last, want)
	}
	for next := from + 1; next <= last; next++ {
		select {
		case r := <-w.C:
			if r.Index != next {
				t.Fatalf("replica b's watch delivered %d, want %d", r.Index, next)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("replica b's watch stalled before index %d (err %v)", next, w.Err())
		}
	}
	for _, e := range []*Engine{a, b} {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := e.WaitIndex(wctx, last)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if ka, kb := objectKeys(a.Snapshot()), objectKeys(b.Snapshot()); strings.Join(ka, " ") != strings.Join(kb, " ") {
		t.Fatalf("the replicas differ: a has %d objects, b has %d", len(ka), len(kb))
	}
	// The unique index follows remote commits too: b refuses a SIM whose
	// ICCID a committed.
	dup := simEdit(set, 2)
	dup.Loc, _ = schema.Resolve(set, "acme", []string{"site", "s1", "sim-card", "dup"})
	dup.Value.(map[string]any)["sim-id"] = "dup"
	if _, err := b.Submit(ctx, &Request{Edits: []Edit{dup}}); schema.KindOf(err) != schema.KindConflict {
		t.Fatalf("b accepted a SIM with an ICCID a committed: %v", err)
	}
}

// TestMaintenanceFollowsTheElectedReplica: only the maintaining replica
// moves the checkpoint; a replica that takes over checkpoints what the
// previous one had not, so a fresh replica loads the same state.
func TestMaintenanceFollowsTheElectedReplica(t *testing.T) {
	c := etcd.Start(t, 1)
	a, set := replicaEngine(t, c.Endpoints(), "/maint/")
	b, _ := replicaEngine(t, c.Endpoints(), "/maint/")
	ctx := context.Background()
	setupSite(t, a, set)
	for i := range 20 {
		if _, err := a.Submit(ctx, &Request{Edits: []Edit{simEdit(set, int64(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	a.checkpoint()
	b.checkpoint()
	if cp := a.store.CheckpointIndex(); cp != 0 {
		t.Fatalf("a replica that does not maintain moved the checkpoint to %d", cp)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { b.Maintain(mctx); close(done) }()
	want := a.Snapshot().Index
	waitUntil(t, func() bool { return b.store.CheckpointIndex() >= want }, "b's checkpoint to reach index "+fmt.Sprint(want))
	stop()
	<-done

	fresh, _ := replicaEngine(t, c.Endpoints(), "/maint/")
	if ka, kf := objectKeys(a.Snapshot()), objectKeys(fresh.Snapshot()); strings.Join(ka, " ") != strings.Join(kf, " ") {
		t.Fatalf("a fresh replica loaded %d objects, a has %d", len(kf), len(ka))
	}
}

func objectKeys(s *Snapshot) []string {
	var keys []string
	s.Objects.Root().Walk(func(k []byte, o *Object) bool {
		keys = append(keys, fmt.Sprintf("%s@%d", k, o.Modified))
		return false
	})
	sort.Strings(keys)
	return keys
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicasShareOperationalState: state reported to one replica is
// served by the other; deleting the object removes it from the shared
// store, so a replica started later does not resurrect it.
func TestReplicasShareOperationalState(t *testing.T) {
	c := etcd.Start(t, 1)
	a, set := replicaEngine(t, c.Endpoints(), "/state/")
	b, _ := replicaEngine(t, c.Endpoints(), "/state/")
	ctx := context.Background()
	setupSite(t, a, set)
	res, err := a.Submit(ctx, &Request{Edits: []Edit{
		edit(t, set, OpMerge, "acme/site/s1/sim-card/sim1", `{"imsi":"315010001000001"}`),
		edit(t, set, OpMerge, "acme/site/s1/device/d1", `{"sim-card":"sim1"}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.WaitIndex(wctx, res.Index); err != nil {
		t.Fatal(err)
	}
	loc, err := schema.Resolve(set, "acme", []string{"site", "s1", "device", "d1", "state"})
	if err != nil {
		t.Fatal(err)
	}
	report := func(e *Engine, connected string) {
		t.Helper()
		v, err := schema.DecodeJSON(loc.Node, map[string]any{"ip-address": "10.250.0.7", "connected": connected}, loc.REST(), false, schema.DecodeOptions{AllowState: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetState(ctx, loc, OpReplace, v); err != nil {
			t.Fatal(err)
		}
	}
	stateOf := func(e *Engine) any {
		st, ok := e.Snapshot().State.Get([]byte(loc.ObjectKey))
		if !ok {
			return nil
		}
		s, _ := st["state"].(map[string]any)
		return s["connected"]
	}
	report(a, "Yes")
	waitUntil(t, func() bool { return stateOf(b) == "Yes" }, "replica b to serve the state reported to a")
	report(b, "Idle")
	waitUntil(t, func() bool { return stateOf(a) == "Idle" }, "replica a to serve the state reported to b")
	if got := stateOf(b); got != "Idle" {
		t.Fatalf("b's own newer report was overwritten: %v", got)
	}

	// Deleting the device through b drops its state everywhere, also from
	// the shared store a fresh replica loads.
	if _, err := b.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpDelete, "acme/site/s1/device/d1", "")}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return stateOf(a) == nil }, "replica a to drop the deleted device's state")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Members[0].ClientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "/state/state/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Fatalf("the shared store still holds %d state entries after the device was deleted", resp.Count)
	}
}
