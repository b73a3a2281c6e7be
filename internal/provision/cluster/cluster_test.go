package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv"
)

func decode(t *testing.T, n *schema.Node, path, body string, state bool) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(n, v, path, false, schema.DecodeOptions{AllowState: state})
	if err != nil {
		t.Fatal(err)
	}
	return val
}

// declare creates the cluster list's entries and returns the engine.
func declare(t *testing.T, body string) (*config.Engine, *schema.ModelSet) {
	t.Helper()
	eng, _ := testenv.Engine(t, false)
	set := inventory.Set(eng.Schema())
	loc, err := schema.Resolve(set, "", []string{"cluster"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Principal: "test",
		Edits: []config.Edit{{Op: config.OpCreate, Loc: loc, Value: decode(t, loc.Node, loc.REST(), body, false)}}}); err != nil {
		t.Fatal(err)
	}
	return eng, set
}

func report(t *testing.T, eng *config.Engine, set *schema.ModelSet, id, body string) {
	t.Helper()
	route, err := eng.Schema().ParseRoute(Path(set, id) + "/report")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.SetState(context.Background(), loc, config.OpReplace, decode(t, loc.Node, loc.REST(), body, true)); err != nil {
		t.Fatal(err)
	}
}

func planJSON(t *testing.T, steps []Step) string {
	t.Helper()
	b, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const aceX = `[{"cluster-id":"ace-x","kubernetes-version":"v1.31.4","cni":["calico","multus"],
  "label":[{"name":"env","value":"production"},{"name":"coreType","value":"5g"}],
  "node":[{"name":"server-1","host":"10.0.1.1","role":["etcd","controlplane","worker"],"node-label":["a=1"]},
          {"name":"server-2","host":"10.0.1.2","role":["worker"],"taint":["gpu=true:NoSchedule"]}]}]`

// TestPlanEmptyReport: a cluster that has not reported is created whole,
// with its declared distribution (the model's default), labels and nodes.
func TestPlanEmptyReport(t *testing.T) {
	eng, set := declare(t, aceX)
	decl, rep, reg, ok := Load(eng.Snapshot(), set, "ace-x")
	if !ok || rep != nil || reg != nil {
		t.Fatalf("load: ok %v report %v registration %v", ok, rep, reg)
	}
	got := planJSON(t, Plan(decl, rep))
	want := `[{"action":"create","object":"cluster","name":"ace-x","to":{"cni":["calico","multus"],"distribution":"rke2","kubernetes-version":"v1.31.4"}},` +
		`{"action":"add","object":"label","name":"coreType","to":"5g"},{"action":"add","object":"label","name":"env","to":"production"},` +
		`{"action":"add","object":"node","name":"server-1","to":{"host":"10.0.1.1","roles":["controlplane","etcd","worker"],"labels":["a=1"]}},` +
		`{"action":"add","object":"node","name":"server-2","to":{"host":"10.0.1.2","roles":["worker"],"taints":["gpu=true:NoSchedule"]}}]`
	if got != want {
		t.Fatalf("plan:\n got %s\nwant %s", got, want)
	}
	if _, _, _, ok := Load(eng.Snapshot(), set, "nope"); ok {
		t.Fatal("an undeclared cluster loaded")
	}
}

// TestPlanPartialReport: against a report written as operational state,
// only the differences are steps: a version and CNI change, a changed, a
// missing and an undeclared label, a node to add, a node whose roles
// (in another order: no change) and taints differ, and a node to remove
// last.
func TestPlanPartialReport(t *testing.T) {
	eng, set := declare(t, aceX)
	report(t, eng, set, "ace-x", `{"reported-at":"2026-12-07T06:00:00Z","distribution":"rke2","kubernetes-version":"v1.30.2","cni":["calico"],
	  "label":[{"name":"env","value":"staging"},{"name":"old","value":"x"}],
	  "node":[{"name":"server-1","role":["worker","controlplane","etcd"],"node-label":["a=1"]},
	          {"name":"server-9","role":["worker"]}]}`)
	decl, rep, _, _ := Load(eng.Snapshot(), set, "ace-x")
	if rep == nil || rep.ReportedAt != "2026-12-07T06:00:00Z" {
		t.Fatalf("report %+v", rep)
	}
	got := planJSON(t, Plan(decl, rep))
	want := `[{"action":"change","object":"kubernetes-version","from":"v1.30.2","to":"v1.31.4"},` +
		`{"action":"change","object":"cni","from":["calico"],"to":["calico","multus"]},` +
		`{"action":"add","object":"label","name":"coreType","to":"5g"},` +
		`{"action":"change","object":"label","name":"env","from":"staging","to":"production"},` +
		`{"action":"remove","object":"label","name":"old","from":"x"},` +
		`{"action":"add","object":"node","name":"server-2","to":{"host":"10.0.1.2","roles":["worker"],"taints":["gpu=true:NoSchedule"]}},` +
		`{"action":"remove","object":"node","name":"server-9","from":{"roles":["worker"]}}]`
	if got != want {
		t.Fatalf("plan:\n got %s\nwant %s", got, want)
	}

	// The cluster as declared: nothing to do.
	report(t, eng, set, "ace-x", `{"distribution":"rke2","kubernetes-version":"v1.31.4","cni":["calico","multus"],
	  "label":[{"name":"env","value":"production"},{"name":"coreType","value":"5g"}],
	  "node":[{"name":"server-1","role":["etcd","controlplane","worker"],"node-label":["a=1"]},
	          {"name":"server-2","role":["worker"],"taint":["gpu=true:NoSchedule"]}]}`)
	decl, rep, _, _ = Load(eng.Snapshot(), set, "ace-x")
	if steps := Plan(decl, rep); len(steps) != 0 {
		t.Fatalf("a cluster that matches its declaration: %s", planJSON(t, steps))
	}
	// The CNI order counts (ordered-by user); a distribution change is a step.
	report(t, eng, set, "ace-x", `{"distribution":"k3s","kubernetes-version":"v1.31.4","cni":["multus","calico"],
	  "label":[{"name":"env","value":"production"},{"name":"coreType","value":"5g"}],
	  "node":[{"name":"server-1","role":["etcd","controlplane","worker"],"node-label":["a=1"]},
	          {"name":"server-2","role":["worker","etcd"],"taint":["gpu=true:NoSchedule"]}]}`)
	decl, rep, _, _ = Load(eng.Snapshot(), set, "ace-x")
	got = planJSON(t, Plan(decl, rep))
	want = `[{"action":"change","object":"distribution","from":"k3s","to":"rke2"},` +
		`{"action":"change","object":"cni","from":["multus","calico"],"to":["calico","multus"]},` +
		`{"action":"change","object":"node","name":"server-2","from":{"roles":["etcd","worker"],"taints":["gpu=true:NoSchedule"]},"to":{"host":"10.0.1.2","roles":["worker"],"taints":["gpu=true:NoSchedule"]}}]`
	if got != want {
		t.Fatalf("plan:\n got %s\nwant %s", got, want)
	}
}

// TestRecordRegistration: the registration is the cluster's operational
// state, read back by Load; an undeclared cluster has none to record.
func TestRecordRegistration(t *testing.T) {
	eng, set := declare(t, aceX)
	reg := Registration{RegisteredAt: "2026-12-07T06:00:00Z", TokenID: "0123456789ab", MintedBy: "admin", Source: "192.0.2.7:4242"}
	if err := Record(context.Background(), eng, set, "ace-x", reg); err != nil {
		t.Fatal(err)
	}
	_, _, got, _ := Load(eng.Snapshot(), set, "ace-x")
	if got == nil || *got != reg {
		t.Fatalf("registration %+v, want %+v", got, reg)
	}
	err := Record(context.Background(), eng, set, "nope", reg)
	if schema.KindOf(err) != schema.KindNotFound {
		t.Fatalf("recording an undeclared cluster: %v", err)
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func tokens(t *testing.T) (Tokens, *clock, store.Meta) {
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)}
	return Tokens{Meta: st, Now: c.now}, c, st
}

// TestTokens: a minted token is stored as a hash only, listed without it,
// works once, not after its expiry, not after revocation, and not with a
// wrong secret; another cluster's tokens are not listed or revoked.
func TestTokens(t *testing.T) {
	ts, c, st := tokens(t)
	secret, tok, err := ts.Mint("ace-x", "admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "ampreg_"+tok.ID+"_") || tok.Hash != "" || tok.MintedBy != "admin" || !tok.Expires.Equal(c.t.Add(time.Hour)) {
		t.Fatalf("minted %q %+v", secret, tok)
	}
	sec := strings.TrimPrefix(secret, "ampreg_"+tok.ID+"_")
	if err := st.Metas("", func(k string, v []byte) error {
		if strings.Contains(string(v), sec) {
			t.Errorf("the store holds the secret under %s: %s", k, v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	other, _, err := ts.Mint("ace-y", "admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	list, err := ts.List("ace-x")
	if err != nil || len(list) != 1 || list[0].ID != tok.ID || list[0].Hash != "" {
		t.Fatalf("list ace-x: %+v %v", list, err)
	}
	for _, bad := range []string{"", "ampreg_", "amp_" + tok.ID + "_" + sec, "ampreg_" + tok.ID + "_x" + sec, "ampreg_000000000000_" + sec} {
		if _, err := ts.Check(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("check %q: %v, want ErrInvalid", bad, err)
		}
	}
	got, err := ts.Check(secret)
	if err != nil || got.Cluster != "ace-x" {
		t.Fatalf("check: %+v %v", got, err)
	}
	if err := ts.Take(got); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Check(secret); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a used token: %v, want ErrInvalid", err)
	}
	if err := ts.Take(got); !errors.Is(err, ErrInvalid) {
		t.Fatalf("taking a used token again: %v", err)
	}
	// Restore (the registration could not be recorded): it works again.
	if err := ts.Restore(got); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Check(secret); err != nil {
		t.Fatalf("a restored token: %v", err)
	}

	// Expiry, by the clock.
	c.t = c.t.Add(time.Hour)
	if _, err := ts.Check(secret); !errors.Is(err, ErrExpired) {
		t.Fatalf("an expired token: %v, want ErrExpired", err)
	}
	// Revocation: only of the cluster's own tokens.
	if ok, err := ts.Revoke("ace-x", strings.Split(other, "_")[1]); ok || err != nil {
		t.Fatalf("revoking ace-y's token as ace-x's: %v %v", ok, err)
	}
	if ok, err := ts.Revoke("ace-x", tok.ID); !ok || err != nil {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if _, err := ts.Check(secret); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a revoked token: %v, want ErrInvalid", err)
	}
}

// TestTokensBounded: a cluster holds at most MaxLive unexpired tokens;
// minting drops the expired ones.
func TestTokensBounded(t *testing.T) {
	ts, c, _ := tokens(t)
	for range MaxLive {
		if _, _, err := ts.Mint("ace-x", "admin", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ts.Mint("ace-x", "admin", time.Minute); !errors.Is(err, ErrTooMany) {
		t.Fatalf("minting past the bound: %v", err)
	}
	c.t = c.t.Add(time.Minute)
	if _, _, err := ts.Mint("ace-x", "admin", time.Minute); err != nil {
		t.Fatalf("minting once the others expired: %v", err)
	}
	if list, _ := ts.List("ace-x"); len(list) != 1 {
		t.Fatalf("%d tokens listed, want the new one only", len(list))
	}
}
