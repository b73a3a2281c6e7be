package config

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// legacyKey is key as the release before model-set versions wrote it.
func legacyKey(key string) string {
	if strings.HasPrefix(key, targetPrefix) {
		return key
	}
	name, rest, _ := strings.Cut(key, "/")
	_, rest, _ = strings.Cut(rest, "/")
	return name + "/" + rest
}

// legacyCopy writes into the empty dst what the release before model-set
// versions stored for src's content: the same objects, log records and
// checkpoint, every object key without its set version. src is closed.
func legacyCopy(t testing.TB, sch *schema.Schema, src, dst store.Store, checkpoint uint64) {
	t.Helper()
	var puts []store.KV
	if err := src.Objects(func(k string, v []byte) error {
		puts = append(puts, store.KV{Key: legacyKey(k), Value: append([]byte(nil), v...)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var commits []store.Commit
	if err := src.Log(src.FirstIndex(), src.LastIndex(), false, func(i uint64, raw []byte) error {
		r, err := decodeRecord(sch, raw)
		if err != nil {
			return err
		}
		for j := range r.Changes {
			r.Changes[j].Key = legacyKey(r.Changes[j].Key)
		}
		commits = append(commits, store.Commit{Index: i, Log: encodeRecord(r)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(dst.WriteObjects(puts, nil), dst.Commit(commits), dst.SetCheckpoint(checkpoint)); err != nil {
		t.Fatal(err)
	}
}

// movedObjects reads amp_store_upgrade_keys_total{kind="object"} from reg.
func movedObjects(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "amp_store_upgrade_keys_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "object" {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatal("no amp_store_upgrade_keys_total{kind=\"object\"}")
	return 0
}

// history is what a user reads of an engine: every object, the
// transaction list, each transaction's changes, the diff across the whole
// history and the configuration as it was at each index.
type history struct {
	Objects map[string]string
	List    []TxnInfo
	Changes [][]Change
	Diff    []Change
	At      []map[string]string
}

func readHistory(t *testing.T, e *Engine) history {
	t.Helper()
	objects := func(s *Snapshot) map[string]string {
		m := map[string]string{}
		s.Objects.Root().Walk(func(k []byte, o *Object) bool {
			m[string(k)] = string(encodeObject(o))
			return false
		})
		return m
	}
	last := e.Snapshot().Index
	h := history{Objects: objects(e.Snapshot())}
	var err error
	if h.List, err = e.ListTransactions(0, 100, ""); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= last; i++ {
		r, err := e.Transaction(i)
		if err != nil {
			t.Fatal(err)
		}
		h.Changes = append(h.Changes, e.Changes(r))
		at, err := e.At(i, "aether/")
		if err != nil {
			t.Fatal(err)
		}
		h.At = append(h.At, objects(at))
	}
	if h.Diff, err = e.Diff(0, last); err != nil {
		t.Fatal(err)
	}
	return h
}

// upgradeSource commits four transactions (a create, updates, a delete)
// to a fresh store and returns what a user reads of them.
func upgradeSource(t *testing.T) (*schema.Schema, *store.Bolt, history) {
	sch, st := newTestStore(t)
	e, err := Open(sch, st, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	set := sch.Set("aether", "2.1.x")
	ctx := context.Background()
	for _, req := range []*Request{
		{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}},
		{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":9}`), edit(t, set, OpMerge, "acme/site/s1", site)}},
		{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1/upf/u1", `{"port":8806}`), edit(t, set, OpMerge, "acme/site/s1", `{"display-name":"S1"}`)}},
		{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1/sim-card/sim2", `{"imsi":"001010000000002"}`)}},
		{Edits: []Edit{edit(t, set, OpDelete, "acme/site/s1/sim-card/sim2", "")}},
	} {
		if _, err := e.Submit(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	want := readHistory(t, e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return sch, st, want
}

// TestUpgradeLegacyStore: a store of the release before model-set versions
// (old keys in the objects and in the records after the checkpoint) opens
// with the same objects, history, diff and point-in-time reads as the
// store it was written from; its objects then carry versioned keys, and a
// restart does not upgrade again.
func TestUpgradeLegacyStore(t *testing.T) {
	sch, src, want := upgradeSource(t)
	dst, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	legacyCopy(t, sch, src, dst, 2)

	reg := prometheus.NewRegistry()
	e, err := Open(sch, dst, Options{Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	if got := readHistory(t, e); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the upgrade:\n%+v\nwant\n%+v", got, want)
	}
	objects := 0
	for k := range want.Objects {
		if !strings.HasPrefix(k, targetPrefix) {
			objects++
		}
	}
	if got := movedObjects(t, reg); got != float64(objects) {
		t.Errorf("amp_store_upgrade_keys_total{kind=object} = %v, want %d", got, objects)
	}
	// Old records take part in rollbacks like new ones.
	set := sch.Set("aether", "2.1.x")
	if _, err := e.Submit(context.Background(), &Request{Rollback: 3}); err != nil {
		t.Fatal(err)
	}
	if o, _ := e.Snapshot().Get("aether/2.1.x/acme/site/s1/upf/u1"); o == nil || o.Data["port"] != uint64(8805) {
		t.Fatalf("after rolling back transaction 3, upf u1 is %+v", o)
	}
	if _, err := e.Submit(context.Background(), &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/site/s1", `{"display-name":"new"}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Objects(func(k string, _ []byte) error {
		if _, legacy, _ := upgradeKey(sch, k); legacy {
			t.Errorf("object %s still has the old key form", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	reg = prometheus.NewRegistry()
	e, err = Open(sch, dst, Options{Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := movedObjects(t, reg); got != 0 {
		t.Errorf("second start moved %v objects, want none", got)
	}
	if o, _ := e.Snapshot().Get("aether/2.1.x/acme/site/s1"); o == nil || o.Data["display-name"] != "new" {
		t.Fatalf("after the restart site s1 is %+v", o)
	}
}

// failingStore fails every object write after the first n, as if the
// process died there.
type failingStore struct {
	store.Store
	n int
}

var errDied = errors.New("died")

func (f *failingStore) WriteObjects(puts []store.KV, deletes []string) error {
	if f.n == 0 {
		return errDied
	}
	f.n--
	return f.Store.WriteObjects(puts, deletes)
}

func (f *failingStore) PutMeta(key string, value []byte) error {
	if f.n == 0 {
		return errDied
	}
	return f.Store.PutMeta(key, value)
}

// TestUpgradeInterrupted stops the upgrade after every one of its writes in
// turn (each batch puts, then deletes, then the marker is written) and
// opens the store again: every time, the second start completes it with
// nothing lost or doubled.
func TestUpgradeInterrupted(t *testing.T) {
	sch, src, want := upgradeSource(t)
	defer func(b int) { upgradeBatch = b }(upgradeBatch)
	upgradeBatch = 7
	moved := 0
	for k := range want.Objects {
		if !strings.HasPrefix(k, targetPrefix) {
			moved++
		}
	}
	writes := (moved+upgradeBatch-1)/upgradeBatch*2 + 1 // puts and deletes per batch, the marker
	for n := 0; n < writes; n++ {
		dst, err := store.OpenBolt(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		legacyCopy(t, sch, src, dst, 2)
		if _, err := Open(sch, &failingStore{Store: dst, n: n}, Options{Logger: slog.New(slog.DiscardHandler)}); !errors.Is(err, errDied) {
			t.Fatalf("stopped after %d writes: Open returned %v", n, err)
		}
		e, err := Open(sch, dst, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("stopped after %d writes, then: %v", n, err)
		}
		if got := readHistory(t, e); !reflect.DeepEqual(got, want) {
			t.Fatalf("stopped after %d writes, then:\n%+v\nwant\n%+v", n, got, want)
		}
		e.Close()
		dst.Close()
	}
}

// TestUpgradeRefusesUnknownSet: an old key of a model set that is not
// loaded stops the start with the key and the reason, and changes nothing.
func TestUpgradeRefusesUnknownSet(t *testing.T) {
	sch, st := newTestStore(t)
	if err := st.WriteObjects([]store.KV{{Key: "aether/acme", Value: []byte{1, 1, 0}}, {Key: "fleetx/acme/rack/r1", Value: []byte{1, 1, 0}}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := Open(sch, st, Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "fleetx/acme/rack/r1") || !strings.Contains(err.Error(), `model set "fleetx", which is not loaded`) {
		t.Fatalf("Open = %v, want a refusal naming fleetx/acme/rack/r1", err)
	}
	var keys []string
	if err := st.Objects(func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"aether/acme", "fleetx/acme/rack/r1"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("objects after the refusal: %v, want %v", keys, want)
	}
}

// TestUpgradeEtcd: the same on etcd, where operational state is stored
// per object key too: it moves with the objects.
func TestUpgradeEtcd(t *testing.T) {
	sch, src, want := upgradeSource(t)
	c := etcd.Start(t, 1)
	dst, err := store.OpenEtcd(context.Background(), store.EtcdConfig{Endpoints: []string{c.Members[0].ClientURL}, Prefix: "/upgrade/"})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	legacyCopy(t, sch, src, dst, 2)
	state := appendMap(nil, map[string]any{"connected": "yes"})
	if _, err := dst.PutState("aether/acme/site/s1/device/d1", state); err != nil {
		t.Fatal(err)
	}
	e, err := Open(sch, dst, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := readHistory(t, e); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the upgrade:\n%+v\nwant\n%+v", got, want)
	}
	var keys []string
	if err := dst.States(func(k string, v []byte) error {
		if string(v) != string(state) {
			t.Errorf("state of %s changed", k)
		}
		keys = append(keys, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"aether/2.1.x/acme/site/s1/device/d1"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("state keys after the upgrade: %v, want %v", keys, want)
	}
	// The engine's feed of the stored state delivers it under the new key.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := e.Snapshot().State.Get([]byte(keys[0])); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the moved state never reached the snapshot")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
