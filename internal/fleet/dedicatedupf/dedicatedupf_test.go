package dedicatedupf

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/fleet/rollout"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/workflow"

	_ "github.com/amp-edge/amp/internal/provision/cluster"
)

// fixture is an engine with enterprise acme, Aether site s1 backed by
// inventory site lab and its cluster edge-1, slices video and iot, and
// fleet bundle upf (a chart of a chart repository at 1.4.2); its
// controller and workflow engine are driven by hand, and the site's agent
// is played through the hub's check-in.
type fixture struct {
	t    *testing.T
	eng  *config.Engine
	wf   *workflow.Engine
	c    *Controller
	hub  *edge.Hub
	ctx  context.Context
	aset *schema.ModelSet
}

func newFixture(t *testing.T) *fixture {
	eng, _ := testenv.Engine(t, false)
	f := &fixture{t: t, eng: eng, ctx: context.Background()}
	if _, err := eng.Submit(f.ctx, &config.Request{Targets: []config.TargetEdit{{Op: config.OpCreate, Name: "acme"}}, Principal: "test", Source: "api"}); err != nil {
		t.Fatal(err)
	}
	f.apply("aether", "acme", `{"site":[{"site-id":"s1",
	  "imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"},
	  "slice":[{"slice-id":"video","sst":"1","sd":"000001","default-behavior":"DENY-ALL"},
	           {"slice-id":"iot","sst":"1","sd":"000002","default-behavior":"DENY-ALL"}]},
	  {"site-id":"s2","imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"},
	  "slice":[{"slice-id":"far","sst":"1","sd":"000003","default-behavior":"DENY-ALL"}]}]}`)
	f.apply("inventory", "", `{"organization":[{"org-id":"acme","tenant":"acme"}],
	  "site":[{"site-id":"lab","organization":"acme","tenant":"acme","aether-site":["s1"]}],
	  "cluster":[{"cluster-id":"edge-1","site":"lab","label":[{"name":"env","value":"lab"}]}]}`)
	f.apply(fleet.SetName, "", `{"bundle":[{"bundle-id":"upf","chart":{"repository":"https://charts.example.com/aether","name":"bess-upf","version":"1.4.2"},
	  "namespace":"upf","allowed-for-dedicated-upf":["acme"],"values":"image: bess\n","target":[{"name":"lab","match-label":[{"name":"env","value":"lab"}],"values":"upf:\n  port: 8806\n"}]}]}`)
	hub, err := edge.For(eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.hub = hub
	f.wf = workflow.New(eng.Meta(), workflow.Env{Engine: eng, Now: time.Now}, workflow.MetricsFor(nil))
	f.c = &Controller{Engine: eng, Workflow: f.wf, Log: slog.New(slog.DiscardHandler)}
	f.aset = eng.Schema().Set(aetherSet, "")
	return f
}

func (f *fixture) apply(setName, tenant, body string) {
	f.t.Helper()
	set := f.eng.Schema().Set(setName, "")
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		f.t.Fatal(err)
	}
	loc, err := schema.Resolve(set, tenant, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	val, err := schema.DecodeJSON(set.Root, v, loc.REST(), true, schema.DecodeOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.eng.Submit(f.ctx, &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}}, Principal: "test", Source: "api"}); err != nil {
		f.t.Fatal(err)
	}
}

// ask makes slice ask for req and lets the controller see the commit.
func (f *fixture) ask(slice, req string) {
	f.t.Helper()
	f.apply("aether", "acme", `{"site":[{"site-id":"s1","slice":[{"slice-id":"`+slice+`","dedicated-upf":`+req+`}]}]}`)
	if err := f.c.Pass(f.ctx, nil); err != nil {
		f.t.Fatal(err)
	}
}

// steps runs the workflow runner's passes n times.
func (f *fixture) steps(n int) {
	for range n {
		if err := f.wf.Pass(f.ctx); err != nil {
			f.t.Fatal(err)
		}
		time.Sleep(Poll + 50*time.Millisecond) // a wait's retry time
	}
}

// agent reports what the site runs (no release: objects nil).
func (f *fixture) agent(objects ...wire.ObjectStatus) {
	f.t.Helper()
	ck := &wire.Checkin{AgentVersion: "test", AgentTime: time.Now(), Facts: wire.Facts{Nodes: []wire.Node{{Name: "n1", Ready: true}}}, Objects: objects}
	if _, _, err := f.hub.Checkin(f.ctx, "edge-1", ck, edge.Credential{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) slice(id string) map[string]any {
	o, ok := f.eng.Snapshot().Get(Slice{"acme", "s1", id}.key(f.aset))
	if !ok {
		f.t.Fatalf("no slice %s", id)
	}
	tree, _ := f.eng.Snapshot().Tree(o)
	return tree
}

func (f *fixture) status(id string) map[string]any {
	d, _ := f.slice(id)["dedicated-upf"].(map[string]any)
	st, _ := d["status"].(map[string]any)
	return st
}

func (f *fixture) bundle(id string) (map[string]any, bool) {
	set := f.eng.Schema().Set(fleet.SetName, "")
	o, ok := f.eng.Snapshot().Get(fleet.BundleKey(set, id))
	if !ok {
		return nil, false
	}
	tree, _ := f.eng.Snapshot().Tree(o)
	return tree, true
}

// TestDedicatedUPFReady: a slice asks; the run declares the release's
// bundle (the asked one's chart, its values naming the slice) and stages
// it on the cluster of the slice's site; it waits while the agent does
// not report it ready; once it does, the UPF object (port from the
// target's values) and the slice's upf are committed by the workflow.
func TestDedicatedUPFReady(t *testing.T) {
	f := newFixture(t)
	f.agent()
	f.ask("video", `{"bundle":"upf"}`)
	rel := Slice{"acme", "s1", "video"}.Release()
	f.steps(2)
	b, ok := f.bundle(rel)
	if !ok || !strings.Contains(b["values"].(string), "slice: video") || b["namespace"] != "upf" {
		t.Fatalf("the release's bundle %s: %v", rel, b)
	}
	entries, _ := rollout.Deployments{Meta: f.eng.Meta()}.Get(rel)
	if entries["edge-1"].Staged != "1.4.2" {
		t.Fatalf("staged on edge-1: %+v", entries)
	}
	st := f.status("video")
	if st["state"] != "pending" || st["cluster"] != "edge-1" || st["release"] != rel || !strings.Contains(st["message"].(string), "not prepared yet") {
		t.Fatalf("status while the agent has not reported the release: %v", st)
	}
	if f.slice("video")["upf"] != nil {
		t.Fatalf("the slice's upf was set before the release was ready")
	}
	ready := true
	f.agent(wire.ObjectStatus{Kind: wire.KindHelmRelease, Name: rel, State: wire.StateApplied, Version: "1.4.2", Ready: &ready, At: time.Now()})
	f.steps(2)
	if got := f.slice("video")["upf"]; got != rel {
		t.Fatalf("slice upf %v, want %s (status %v)", got, rel, f.status("video"))
	}
	if st := f.status("video"); st["state"] != "ready" {
		t.Fatalf("status %v", st)
	}
	o, ok := f.eng.Snapshot().Get(schema.RootKey(f.aset, "acme") + "/site/s1/upf/" + rel)
	if !ok || o.Data["address"] != rel+".upf.svc.cluster.local" || fmt.Sprint(o.Data["port"]) != "8806" {
		t.Fatalf("UPF object %s: %v", rel, o)
	}
	txns, err := f.eng.ListTransactions(0, 1, "")
	if err != nil || len(txns) != 1 || !strings.HasPrefix(txns[0].Principal, "workflow:dedicated-"+rel) {
		t.Fatalf("the newest transaction should be the workflow's: %+v %v", txns, err)
	}

	// Withdrawn: the UPF object, the slice's upf and the release go.
	loc, err := locate(f.eng, Slice{"acme", "s1", "video"}.path(f.aset)+"/dedicated-upf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Submit(f.ctx, &config.Request{Edits: []config.Edit{{Op: config.OpDelete, Loc: loc}}, Principal: "test", Source: "api"}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Pass(f.ctx, nil); err != nil {
		t.Fatal(err)
	}
	f.steps(2)
	if _, ok := f.bundle(rel); ok || f.slice("video")["upf"] != nil {
		t.Fatalf("after the withdrawal: bundle still declared %v, slice upf %v", ok, f.slice("video")["upf"])
	}
	if _, ok := f.eng.Snapshot().Get(schema.RootKey(f.aset, "acme") + "/site/s1/upf/" + rel); ok {
		t.Fatalf("the UPF object is still there")
	}
	if st := f.status("video"); st["state"] != "pending" && st["state"] != "removed" {
		t.Fatalf("status while removing: %v", st)
	}
	f.agent() // uninstalled
	f.steps(2)
	if st := f.status("video"); st["state"] != "removed" {
		t.Fatalf("status after the removal: %v", st)
	}
}

// TestDedicatedUPFFailedIsUndone: a release the agent reports failed is
// removed (its deployment and bundle), the run waits for the agent to
// report it gone, then fails with the reason; the slice keeps its upf.
func TestDedicatedUPFFailedIsUndone(t *testing.T) {
	f := newFixture(t)
	f.agent()
	f.ask("iot", `{"bundle":"upf"}`)
	rel := Slice{"acme", "s1", "iot"}.Release()
	f.steps(2)
	f.agent(wire.ObjectStatus{Kind: wire.KindHelmRelease, Name: rel, State: wire.StateFailed, Version: "1.4.2", Message: "pod crash-looping", At: time.Now()})
	f.steps(2)
	if _, ok := f.bundle(rel); ok {
		t.Fatalf("the failed release's bundle is still declared")
	}
	if st := f.status("iot"); st["state"] != "pending" || !strings.Contains(st["message"].(string), "removing") {
		t.Fatalf("status while the release is removed: %v", st)
	}
	f.agent() // the agent uninstalled it
	f.steps(2)
	st := f.status("iot")
	if st["state"] != "failed" || !strings.Contains(st["message"].(string), "crash-looping") || !strings.Contains(st["message"].(string), "uninstalled") {
		t.Fatalf("status after the undo: %v", st)
	}
	if f.slice("iot")["upf"] != nil {
		t.Fatalf("the slice changed")
	}
	r, _ := f.wf.Get(st["workflow"].(string))
	if r.State != workflow.Failed || !strings.Contains(r.Reason, "crash-looping") {
		t.Fatalf("run %+v", r)
	}
}

// TestDedicatedUPFCancelAndWithdraw: a cancel removes the release and
// leaves the slice; a request withdrawn while its run waits cancels it;
// a site with no cluster fails at once, naming why.
func TestDedicatedUPFCancelAndWithdraw(t *testing.T) {
	f := newFixture(t)
	f.ask("video", `{"bundle":"upf"}`)
	rel := Slice{"acme", "s1", "video"}.Release()
	f.steps(2)
	run := f.status("video")["workflow"].(string)
	if _, err := f.wf.Cancel(run, "by hand"); err != nil {
		t.Fatal(err)
	}
	f.steps(1)
	if _, ok := f.bundle(rel); ok {
		t.Fatalf("the cancelled release's bundle is still declared")
	}
	if e, _ := (rollout.Deployments{Meta: f.eng.Meta()}).Get(rel); e["edge-1"].Staged != "" {
		t.Fatalf("still staged: %+v", e)
	}
	if st := f.status("video"); st["state"] != "cancelled" || !strings.Contains(st["message"].(string), "by hand") {
		t.Fatalf("status %v", st)
	}

	f.ask("iot", `{"bundle":"upf"}`)
	f.steps(2)
	iotRun := f.status("iot")["workflow"].(string)
	f.apply("aether", "acme", `{"site":[{"site-id":"s1","slice":[{"slice-id":"iot","dedicated-upf":{"bundle":"upf","version":"9.9.9"}}]}]}`)
	if err := f.c.Pass(f.ctx, nil); err != nil {
		t.Fatal(err)
	}
	f.steps(2)
	if r, _ := f.wf.Get(iotRun); r.State != workflow.Cancelled || !strings.Contains(r.Reason, "9.9.9") {
		t.Fatalf("the superseded run: %+v", r)
	}
	if st := f.status("iot"); st["workflow"] == iotRun || st["state"] != "pending" {
		t.Fatalf("a new run should run: %v", st)
	}

	f.apply("aether", "acme", `{"site":[{"site-id":"s2","slice":[{"slice-id":"far","dedicated-upf":{"bundle":"upf"}}]}]}`)
	if err := f.c.Pass(f.ctx, nil); err != nil {
		t.Fatal(err)
	}
	f.steps(1)
	o, _ := f.eng.Snapshot().Get(Slice{"acme", "s2", "far"}.key(f.aset))
	st := withStatus(f, o)
	if st["state"] != "failed" || !strings.Contains(st["message"].(string), "Aether site acme/s2 is backed by 0 inventory sites") {
		t.Fatalf("a site without a cluster: %v", st)
	}
}

func withStatus(f *fixture, o *config.Object) map[string]any {
	tree, _ := f.eng.Snapshot().Tree(o)
	d, _ := tree["dedicated-upf"].(map[string]any)
	st, _ := d["status"].(map[string]any)
	return st
}

// TestDedicatedUPFAllowList: a slice may ask only for a bundle the
// operator lists its enterprise under (allowed-for-dedicated-upf): a
// bundle not allowed, or not declared, is refused at commit at the
// request's bundle leaf, naming the rule, and nothing changes (no run
// starts); an allowed one is taken; withdrawing the allowance does not
// block other edits of a slice already asking.
func TestDedicatedUPFAllowList(t *testing.T) {
	f := newFixture(t)
	f.apply(fleet.SetName, "", `{"bundle":[{"bundle-id":"upf-other","chart":{"repository":"https://charts.example.com/aether","name":"bess-upf","version":"1.4.2"},
	  "allowed-for-dedicated-upf":["globex"]}]}`)
	ask := func(bundle string) error {
		loc, err := locate(f.eng, "/aether/v2.1.x/acme/site/s1/slice/video/dedicated-upf")
		if err != nil {
			t.Fatal(err)
		}
		val, err := schema.DecodeJSON(loc.Node, map[string]any{"bundle": bundle}, loc.REST(), false, schema.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.eng.Submit(f.ctx, &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}}, Principal: "acme-admin", Source: "api"})
		return err
	}
	for bundle, why := range map[string]string{
		"upf-other": `bundle "upf-other" is not allowed as a dedicated UPF of enterprise acme`,
		"nowhere":   `there is no fleet bundle "nowhere"`,
	} {
		err := ask(bundle)
		if err == nil || !strings.Contains(err.Error(), "/aether/v2.1.x/acme/site/s1/slice/video/dedicated-upf/bundle") || !strings.Contains(err.Error(), why) {
			t.Errorf("asking for %s: %v", bundle, err)
		}
		if got := asked(mustGet(t, f, Slice{"acme", "s1", "video"}.key(f.aset))); got.Bundle != "" {
			t.Errorf("a refused request changed the slice: %v", got)
		}
	}
	if err := ask("upf"); err != nil {
		t.Fatalf("asking for an allowed bundle: %v", err)
	}
	if err := f.c.Pass(f.ctx, nil); err != nil {
		t.Fatal(err)
	}
	if runs, err := f.wf.List(); err != nil || len(runs) != 1 {
		t.Fatalf("runs after one allowed request: %d %v", len(runs), err)
	}
	// The operator withdraws acme's allowance: an edit of the slice that
	// leaves its request as it was is not refused.
	loc, err := locate(f.eng, "/fleet/v1.0.0/bundle/upf/allowed-for-dedicated-upf")
	if err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, []any{"globex"}, loc.REST(), false, schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Submit(f.ctx, &config.Request{Edits: []config.Edit{{Op: config.OpReplace, Loc: loc, Value: val}}, Principal: "test", Source: "api"}); err != nil {
		t.Fatal(err)
	}
	if err := ask("upf"); err != nil {
		t.Fatalf("the same request again: %v", err)
	}
	f.apply("aether", "acme", `{"site":[{"site-id":"s1","slice":[{"slice-id":"video","description":"streaming"}]}]}`)
	if err := ask("upf-other"); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("a new request once withdrawn: %v", err)
	}
}

func mustGet(t *testing.T, f *fixture, key string) *config.Object {
	t.Helper()
	o, ok := f.eng.Snapshot().Get(key)
	if !ok {
		t.Fatalf("no %s", key)
	}
	return o
}
