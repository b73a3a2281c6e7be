package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/models"
)

func newTestEngine(t testing.TB) (*Engine, *schema.ModelSet) {
	t.Helper()
	return newTestEngineWith(t, Options{})
}

// newTestEngineWith opens an engine with opts on a fresh store (see
// newTestStore); the engine is closed when the test ends.
func newTestEngineWith(t testing.TB, opts Options) (*Engine, *schema.ModelSet) {
	t.Helper()
	sch, st := newTestStore(t)
	e, err := Open(sch, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, sch.Set("aether", "2.1.x")
}

// newTestStore loads the embedded models and opens a fresh store in a
// temporary directory, closed when the test ends (after the engines the
// test closes or leaves to its cleanup).
func newTestStore(t testing.TB) (*schema.Schema, *store.Bolt) {
	t.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return sch, st
}

// edit builds an edit from a REST-style path and a JSON body.
func edit(t testing.TB, set *schema.ModelSet, op Op, path, body string) Edit {
	t.Helper()
	segs := schema.SplitPath(path)
	loc, err := schema.Resolve(set, segs[0], segs[1:])
	if err != nil {
		t.Fatal(err)
	}
	return withValue(t, Edit{Op: op, Loc: loc}, body)
}

// withValue decodes a JSON body (none: "") as the edit's value.
func withValue(t testing.TB, ed Edit, body string) Edit {
	t.Helper()
	loc := ed.Loc
	if body != "" {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), !loc.Collection, schema.DecodeOptions{OmitKeysOK: true})
		if err != nil {
			t.Fatal(err)
		}
		ed.Value = val
	}
	return ed
}

const site = `{"site-id":"s1","imsi-definition":{"mcc":"001","mnc":"01","enterprise":1,"format":"CCCNNNEEESSSSSS"},
 "sim-card":[{"sim-id":"sim1","iccid":"8900000000000000001","imsi":"001010000000001"}],
 "device":[{"device-id":"d1","imei":"123456789012345","sim-card":"sim1"}],
 "upf":[{"upf-id":"u1","address":"upf.local","port":8805}],
 "ip-domain":[{"ip-domain-id":"ip1","dnn":"internet","subnet":"10.0.0.0/24"}],
 "device-group":[{"device-group-id":"dg1","device":[{"device-id":"d1"}],"ip-domain":"ip1","mbr":{"uplink":1000,"downlink":2000},"traffic-class":"tc1"}],
 "slice":[{"slice-id":"sl1","default-behavior":"DENY-ALL","sst":"1","sd":"ABC","upf":"u1","device-group":[{"device-group":"dg1"}]}]}`

func TestEngineBasics(t *testing.T) {
	e, set := newTestEngine(t)
	ctx := context.Background()
	_, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}, Principal: "op", WantChanges: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Submit(ctx, &Request{Edits: []Edit{
		edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":9}`),
		edit(t, set, OpMerge, "acme/site/s1", site),
	}, WantChanges: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Index != 2 || len(res.Changes) == 0 {
		t.Fatalf("result %+v", res)
	}
	// Cross-site reference fails.
	_, err = e.Submit(ctx, &Request{Edits: []Edit{
		edit(t, set, OpMerge, "acme/site/s2", `{"imsi-definition":{"mcc":"001","mnc":"01","enterprise":1,"format":"CCCNNNEEESSSSSS"},"device-group":[{"device-group-id":"dg2","device":[{"device-id":"d1"}],"mbr":{"uplink":1,"downlink":1},"traffic-class":"tc1"}]}`),
	}})
	if err == nil || !strings.Contains(err.Error(), "device-group/dg2/device/d1/device-id") {
		t.Fatalf("want cross-site leafref error, got %v", err)
	}
	t.Log(err)
	// Deleting a referenced device fails.
	_, err = e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpDelete, "acme/site/s1/device/d1", "")}})
	if err == nil {
		t.Fatal("want reference error")
	}
	t.Log(err)
	// sst immutable.
	_, err = e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1/slice/sl1", `{"sst":"2"}`)}})
	if err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("want immutable, got %v", err)
	}
	// DG in two slices.
	_, err = e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1/slice/sl2", `{"default-behavior":"DENY-ALL","sst":"1","sd":"ABD","upf":"u1","device-group":[{"device-group":"dg1"}]}`)}})
	if err == nil {
		t.Fatal("want must error")
	}
	t.Log(err)
	// Duplicate imei.
	_, err = e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1/device/d2", `{"imei":"123456789012345"}`)}})
	if err == nil {
		t.Fatal("want unique error")
	}
	t.Log(err)
	// Change then rollback of an older transaction.
	r3, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1/device-group/dg1/mbr", `{"uplink":5000}`)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1/upf/u1", `{"port":9999}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(ctx, &Request{Rollback: r3.Index}); err != nil {
		t.Fatal(err)
	}
	o, _ := e.Snapshot().Get("aether/2.1.x/acme/site/s1/device-group/dg1")
	if got := o.Data["mbr"].(map[string]any)["uplink"]; got != uint64(1000) {
		t.Fatalf("uplink after rollback = %v", got)
	}
	at, err := e.At(r3.Index, "aether/2.1.x/acme/")
	if err != nil {
		t.Fatal(err)
	}
	o, _ = at.Get("aether/2.1.x/acme/site/s1/device-group/dg1")
	if got := o.Data["mbr"].(map[string]any)["uplink"]; got != uint64(5000) {
		t.Fatalf("uplink at %d = %v", r3.Index, got)
	}
	d, err := e.Diff(1, e.Snapshot().Index)
	if err != nil || len(d) == 0 {
		t.Fatal(d, err)
	}
}

func TestRollbackConflictReport(t *testing.T) {
	e, set := newTestEngine(t)
	ctx := context.Background()
	e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}})
	if _, err := e.Submit(ctx, &Request{Edits: []Edit{
		edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":9}`),
		edit(t, set, OpMerge, "acme/site/s1", site),
	}}); err != nil {
		t.Fatal(err)
	}
	r1, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1/upf/u1", `{"port":1000}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1/upf/u1", `{"port":2000}`)}, Principal: "bob"}); err != nil {
		t.Fatal(err)
	}
	before := e.Snapshot().Index
	_, err = e.Submit(ctx, &Request{Rollback: r1.Index})
	var se *schema.Error
	if !errors.As(err, &se) || se.Kind != schema.KindConflict || len(se.Problems) != 1 {
		t.Fatalf("want one conflict, got %v", err)
	}
	if p := se.Problems[0]; p.Path != "/aether/v2.1.x/acme/site/s1/upf/u1/port" || !strings.Contains(p.Reason, "transaction 4") || !strings.Contains(p.Reason, "bob") {
		t.Fatalf("conflict %+v", p)
	}
	if e.Snapshot().Index != before {
		t.Fatal("a refused rollback committed")
	}
	// Rolling back the later one first, then the earlier one, works.
	if _, err := e.Submit(ctx, &Request{Rollback: before}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(ctx, &Request{Rollback: r1.Index}); err != nil {
		t.Fatal(err)
	}
	o, _ := e.Snapshot().Get("aether/2.1.x/acme/site/s1/upf/u1")
	if o.Data["port"] != uint64(8805) {
		t.Fatalf("port %v", o.Data["port"])
	}
}

func TestRestartReplaysLog(t *testing.T) {
	sch, _ := schema.Load(models.FS)
	dir := t.TempDir()
	st, _ := store.OpenBolt(dir)
	e, err := Open(sch, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	set := sch.Set("aether", "2.1.x")
	ctx := context.Background()
	e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}})
	e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":9}`), edit(t, set, OpMerge, "acme/site/s1", site)}})
	// Simulate a crash before any checkpoint: close the store under the
	// engine without Close (which would checkpoint).
	st.Close()
	st2, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if st2.CheckpointIndex() != 0 {
		t.Fatalf("checkpoint index %d", st2.CheckpointIndex())
	}
	e2, err := Open(sch, st2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if _, ok := e2.Snapshot().Get("aether/2.1.x/acme/site/s1/slice/sl1"); !ok || e2.Snapshot().Index != 2 {
		t.Fatal("state not rebuilt from the log")
	}
	// References were re-indexed: deleting a referenced device still fails.
	if _, err := e2.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpDelete, "acme/site/s1/device/d1", "")}}); err == nil {
		t.Fatal("reference index not rebuilt")
	}
}

func TestWatchResumesWithoutGapsOrRepeats(t *testing.T) {
	e, set := newTestEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}})
	e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":1}`)}})
	w, err := e.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Two from the log, then live ones.
	for i := 2; i <= 4; i++ {
		e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", fmt.Sprintf(`{"qci":%d}`, i))}})
	}
	var got []uint64
	for len(got) < 5 {
		r := <-w.C
		got = append(got, r.Index)
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("indexes %v", got)
	}
	// Resume from the middle.
	w2, err := e.Watch(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r := <-w2.C; r.Index != 4 || len(r.Changes) != 1 || r.Changes[0].After.Data["qci"] != uint64(3) {
		t.Fatalf("resumed at %d", r.Index)
	}
}

// TestRetentionCompactsHistory, on both backends: history beyond the
// retention limits (by count, then by age) is dropped after a checkpoint;
// within the window rollback and point-in-time reads stay exact, also after
// a restart from the checkpoint; before it they answer "gone".
func TestRetentionCompactsHistory(t *testing.T) {
	for _, backend := range []string{"bbolt", "etcd"} {
		t.Run(backend, func(t *testing.T) {
			var open func() store.Store
			switch backend {
			case "bbolt":
				dir := t.TempDir()
				open = func() store.Store {
					st, err := store.OpenBolt(dir)
					if err != nil {
						t.Fatal(err)
					}
					return st
				}
			case "etcd":
				c := etcd.Start(t, 1)
				open = func() store.Store {
					st, err := store.OpenEtcd(context.Background(), store.EtcdConfig{Endpoints: []string{c.Members[0].ClientURL}, Prefix: "/retention/"})
					if err != nil {
						t.Fatal(err)
					}
					return st
				}
			}
			testRetention(t, open)
		})
	}
}

func testRetention(t *testing.T, open func() store.Store) {
	sch, _ := schema.Load(models.FS)
	set := sch.Set("aether", "2.1.x")
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	// The test's time passes on both clocks.
	origin := now
	elapsed := func() time.Duration { return now.Sub(origin) }
	st := open()
	e, err := Open(sch, st, Options{RetainCount: 3, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	go e.Maintain(mctx) // the elected maintainer on etcd; always so on bbolt
	e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}})
	for i := 1; i <= 6; i++ { // indexes 2..7, qci i
		now = now.Add(time.Hour)
		if _, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", fmt.Sprintf(`{"qci":%d}`, i))}}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { return e.maintaining.Load() }, "the engine to maintain")
	e.checkpoint()
	e.commitMu.Lock()
	e.compact()
	e.commitMu.Unlock()
	if st.FirstIndex() != 5 {
		t.Fatalf("first retained index %d, want 5 (keep 3 of 7)", st.FirstIndex())
	}
	check := func(e *Engine, when string) {
		t.Helper()
		if _, err := e.At(2, "aether/2.1.x/acme/"); schema.KindOf(err) != schema.KindGone {
			t.Fatalf("%s: read before retention: %v", when, err)
		}
		if _, err := e.Submit(ctx, &Request{Rollback: 2}); schema.KindOf(err) != schema.KindGone {
			t.Fatalf("%s: rollback before retention: %v", when, err)
		}
		at, err := e.At(5, "aether/2.1.x/acme/")
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if o, _ := at.Get("aether/2.1.x/acme/traffic-class/tc1"); o.Data["qci"] != uint64(4) {
			t.Fatalf("%s: qci at 5 = %v, want 4", when, o.Data["qci"])
		}
	}
	check(e, "after compaction")
	stop()
	e.Close()
	st.Close()

	// Restart from the checkpoint and the retained log.
	st = open()
	defer st.Close()
	e, err = Open(sch, st, Options{RetainAge: 30 * time.Minute, Now: clock, Elapsed: elapsed})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mctx, stop = context.WithCancel(ctx)
	defer stop()
	go e.Maintain(mctx)
	check(e, "after a restart")
	// Rolling back the newest retained transaction restores qci 5.
	if _, err := e.Submit(ctx, &Request{Rollback: 7}); err != nil {
		t.Fatalf("rollback within retention: %v", err)
	}
	if o, _ := e.Snapshot().Get("aether/2.1.x/acme/traffic-class/tc1"); o.Data["qci"] != uint64(5) {
		t.Fatalf("after rolling back 7, qci = %v, want 5", o.Data["qci"])
	}
	// By age: 30 minutes keeps index 7 (at +6h) and the rollback, 8; index
	// 6 (at +5h) goes.
	waitUntil(t, func() bool { return e.maintaining.Load() }, "the engine to maintain")
	e.checkpoint()
	e.commitMu.Lock()
	e.compact()
	e.commitMu.Unlock()
	if st.FirstIndex() != 7 {
		t.Fatalf("first retained index by age %d, want 7", st.FirstIndex())
	}
	// The state after 6 is still known (from 7's before-images); 5 is not.
	if _, err := e.At(6, "aether/2.1.x/acme/"); err != nil {
		t.Fatalf("read at the edge of the age window: %v", err)
	}
	if _, err := e.At(5, "aether/2.1.x/acme/"); schema.KindOf(err) != schema.KindGone {
		t.Fatalf("read before the age window: %v", err)
	}
}

// TestRetentionByAgeSurvivesClockSteps: a wall clock stepped forward a
// year used to make every transaction look older than --history-retain-age
// and drop the whole history in one pass. Now age is measured on the
// monotonic clock too: a forward step drops nothing, a backward one keeps
// history longer, and time that really passes drops what is old.
func TestRetentionByAgeSurvivesClockSteps(t *testing.T) {
	sch, _ := schema.Load(models.FS)
	set := sch.Set("aether", "2.1.x")
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	wall, mono := t0, time.Duration(0)
	pass := func(d time.Duration) { wall, mono = wall.Add(d), mono+d }
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := Open(sch, st, Options{RetainAge: time.Hour, Now: func() time.Time { return wall }, Elapsed: func() time.Duration { return mono }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	commit := func(qci int) {
		t.Helper()
		pass(time.Minute)
		if _, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", fmt.Sprintf(`{"qci":%d}`, qci))}}); err != nil {
			t.Fatal(err)
		}
	}
	compact := func(want uint64, when string) {
		t.Helper()
		e.checkpoint()
		e.commitMu.Lock()
		e.compact()
		e.commitMu.Unlock()
		if got := st.FirstIndex(); got != want {
			t.Fatalf("%s: the oldest retained transaction is %d, want %d", when, got, want)
		}
	}
	pass(time.Minute)
	e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}}) // 1 at t0+1m
	commit(1)                                                                    // 2 at t0+2m
	commit(2)                                                                    // 3 at t0+3m

	wall = wall.Add(365 * 24 * time.Hour) // the wall clock jumps a year ahead
	pass(time.Minute)
	compact(1, "after the wall clock jumped forward")

	wall = t0.Add(5 * time.Minute) // and is put right
	mono = 5 * time.Minute
	commit(4) // 4 at t0+6m
	pass(time.Hour)
	compact(4, "an hour later, on both clocks")

	wall = wall.Add(-365 * 24 * time.Hour) // the wall clock steps a year back
	commit(5)
	pass(2 * time.Hour)
	compact(4, "after the wall clock stepped back")
}

// A write that changes nothing is answered with the current index and leaves
// no transaction behind; the same write with a real change is recorded.
func TestUnchangedWriteRecordsNothing(t *testing.T) {
	e, set := newTestEngine(t)
	ctx := context.Background()
	if _, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}}); err != nil {
		t.Fatal(err)
	}
	put := func(qci string) *Result {
		t.Helper()
		res, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":`+qci+`}`)}, WantChanges: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := put("9")
	for range 2 { // the same value again, twice
		again := put("9")
		if !again.Unchanged || again.Index != first.Index || again.ID != "" || len(again.Changes) != 0 {
			t.Fatalf("repeat of transaction %d answered %+v", first.Index, again)
		}
	}
	if got := e.Snapshot().Index; got != first.Index {
		t.Fatalf("index moved from %d to %d", first.Index, got)
	}
	txns, err := e.ListTransactions(0, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(txns) != 2 {
		t.Fatalf("history has %d transactions, want 2 (enterprise, first write): %+v", len(txns), txns)
	}
	// The next real change takes the next index.
	changed := put("8")
	if changed.Unchanged || changed.Index != first.Index+1 {
		t.Fatalf("a real change answered %+v", changed)
	}
}
