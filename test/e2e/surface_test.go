package e2e

// Global model sets on every surface (issue 10, "Done when"): the policy's
// ties of global objects to enterprises, through the real binary on the
// embedded store and on etcd.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// TestGlobalObjectsTiedToEnterpriseBolt: enterprise admins and members
// read the lab racks that name their enterprise (ampx:tenant), nothing
// else of the lab, and write none of it; operators do everything.
func TestGlobalObjectsTiedToEnterpriseBolt(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--models", modelsDir(), "--gnmi-listen", "127.0.0.1:0")
	tiedScenario(t, s)
}

// TestGlobalObjectsTiedToEnterpriseEtcd: the same on etcd.
func TestGlobalObjectsTiedToEnterpriseEtcd(t *testing.T) {
	c := etcd.Start(t, 1)
	s := testenv.Start(t, t.TempDir(), "--models", modelsDir(), "--gnmi-listen", "127.0.0.1:0",
		"--store", "etcd://"+c.Endpoints()+"/amp-tied/")
	tiedScenario(t, s)
}

func tiedScenario(t *testing.T, s *testenv.Server) {
	ctx := context.Background()
	for _, ent := range []string{"acme", "starbucks"} {
		s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"`+ent+`"}`)
	}
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r1", `{"tenant":"acme","display-name":"Acme row"}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r2", `{"tenant":"starbucks"}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r3", `{}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/server/sv1", `{"rack":"r3"}`)

	type caller struct {
		name string
		hdr  []string
		tok  string
	}
	as := func(name, role, ent string) caller {
		tok, _ := apiToken(t, s, name, role, ent)
		return caller{name, []string{"Authorization", "Bearer " + tok}, tok}
	}
	operator := caller{"operator", nil, s.Token}
	acme := []caller{as("alice", "enterprise-admin", "acme"), as("mia", "enterprise-member", "acme")}
	sam := as("sam", "enterprise-admin", "starbucks")

	racks := func(c caller, query string) []string {
		t.Helper()
		var list []map[string]any
		if err := json.Unmarshal(s.Must(t, 200, "GET", "/lab/v1.0.0/rack"+query, "", c.hdr...), &list); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range list {
			ids = append(ids, r["rack-id"].(string))
		}
		return ids
	}
	if got := racks(operator, ""); !slices.Equal(got, []string{"r1", "r2", "r3"}) {
		t.Fatalf("the operator lists racks %v", got)
	}
	if got := racks(sam, ""); !slices.Equal(got, []string{"r2"}) {
		t.Errorf("starbucks' admin lists racks %v, want its own r2", got)
	}
	before := s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r1", "")
	for _, c := range acme {
		// Reads: the rack tied to acme, whole, a leaf of it, in the list
		// (paged too); nothing else of the lab.
		s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r1", "", c.hdr...)
		if b := s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r1/display-name", "", c.hdr...); strings.TrimSpace(string(b)) != `"Acme row"` {
			t.Errorf("%s reads r1's display-name as %s", c.name, b)
		}
		if got := racks(c, ""); !slices.Equal(got, []string{"r1"}) {
			t.Errorf("%s lists racks %v, want r1 only", c.name, got)
		}
		if got := racks(c, "?limit=1"); !slices.Equal(got, []string{"r1"}) {
			t.Errorf("%s lists racks with ?limit=1: %v", c.name, got)
		}
		for _, p := range []string{"/lab/v1.0.0/rack/r2", "/lab/v1.0.0/rack/r3", "/lab/v1.0.0/rack/r9", "/lab/v1.0.0/server/sv1", "/lab/v1.0.0"} {
			s.Must(t, 403, "GET", p, "", c.hdr...)
		}
		if got := racks(c, "?filter="+url.QueryEscape("tenant=starbucks")); len(got) != 0 {
			t.Errorf("%s finds starbucks' racks by filter: %v", c.name, got)
		}
		// Writes: none, not even of its own rack.
		for _, w := range []struct{ method, path, body string }{
			{"PATCH", "/lab/v1.0.0/rack/r1", `{"display-name":"mine"}`},
			{"PUT", "/lab/v1.0.0/rack/r1", `{"rack-id":"r1","tenant":"acme"}`},
			{"DELETE", "/lab/v1.0.0/rack/r1", ""},
			{"POST", "/lab/v1.0.0/rack/r4", `{"tenant":"acme"}`},
		} {
			s.Must(t, 403, w.method, w.path, w.body, c.hdr...)
		}
		// The same through gNMI: origin lab, no target.
		gc := gpb.NewGNMIClient(gnmiConn(t, s))
		rack := func(id string) *gpb.GetRequest {
			return &gpb.GetRequest{Encoding: gpb.Encoding_JSON, Path: []*gpb.Path{{Origin: "lab",
				Elem: []*gpb.PathElem{{Name: "rack", Key: map[string]string{"rack-id": id}}, {Name: "display-name"}}}}}
		}
		got, err := gc.Get(bearer(ctx, c.tok), rack("r1"))
		if err != nil || len(got.Notification) != 1 || len(got.Notification[0].Update) != 1 ||
			string(got.Notification[0].Update[0].Val.GetJsonVal()) != `"Acme row"` {
			t.Errorf("%s: gNMI Get of r1: %v %v", c.name, got, err)
		}
		if _, err := gc.Get(bearer(ctx, c.tok), rack("r2")); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: gNMI Get of starbucks' r2: %v, want PermissionDenied", c.name, err)
		}
		_, err = gc.Set(bearer(ctx, c.tok), &gpb.SetRequest{Update: []*gpb.Update{{
			Path: rack("r1").Path[0], Val: &gpb.TypedValue{Value: &gpb.TypedValue_JsonVal{JsonVal: []byte(`"mine"`)}}}}})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: gNMI Set of r1: %v, want PermissionDenied", c.name, err)
		}
	}
	if after := s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r1", ""); string(after) != string(before) {
		t.Fatalf("r1 changed by enterprise roles: %s, was %s", after, before)
	}

	// Retied: the next read follows the object as it is now.
	s.Must(t, 200, "PATCH", "/lab/v1.0.0/rack/r1", `{"tenant":"starbucks"}`)
	s.Must(t, 403, "GET", "/lab/v1.0.0/rack/r1", "", acme[0].hdr...)
	s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r1", "", sam.hdr...)

	// Audit: the records of global objects are the operator's, even of a
	// rack tied to the caller's enterprise.
	if recs := auditRecords(t, s, "&path=/lab/", acme[0].hdr...); len(recs) != 0 {
		t.Errorf("acme's admin sees %d audit records of lab objects: %+v", len(recs), recs)
	}
	if recs := auditRecords(t, s, "&path=/lab/&outcome=allowed"); len(recs) != 5 { // four POSTs and the PATCH that retied r1
		t.Errorf("the operator sees %d allowed audit records of lab writes, want 5: %+v", len(recs), recs)
	}
}

// TestGNMIModelSets drives gNMI with origin = model set through the
// binary: Capabilities lists every set's modules; Get, Subscribe ONCE,
// POLL and STREAM ON_CHANGE of the global lab (no target) and of the
// tenant workload (target = enterprise); a target on a global path and a
// tenant path without one are refused naming the path.
func TestGNMIModelSets(t *testing.T) {
	gnmiModelSets(t, testenv.Start(t, t.TempDir(), "--models", modelsDir(), "--gnmi-listen", "127.0.0.1:0"))
}

// TestGNMIModelSetsEtcd: the same on etcd.
func TestGNMIModelSetsEtcd(t *testing.T) {
	c := etcd.Start(t, 1)
	gnmiModelSets(t, testenv.Start(t, t.TempDir(), "--models", modelsDir(), "--gnmi-listen", "127.0.0.1:0",
		"--store", "etcd://"+c.Endpoints()+"/amp-gnmi-sets/"))
}

func gnmiModelSets(t *testing.T, s *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = bearer(ctx, s.Token)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r1", `{"height":40}`)
	s.Must(t, 201, "POST", "/workload/v1.0.0/acme/deployment/d1", `{"image":"nginx","rack":"r1"}`)
	gc := gpb.NewGNMIClient(gnmiConn(t, s))

	caps, err := gc.Capabilities(ctx, &gpb.CapabilityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]string{}
	for _, m := range caps.SupportedModels {
		models[m.Name] = m.Version
	}
	for _, m := range []string{"amp-lab", "amp-workload", "onf-site"} {
		if models[m] == "" {
			t.Errorf("Capabilities lacks module %s (with its revision): %v", m, models)
		}
	}

	lab := &gpb.Path{Origin: "lab"}
	wl := &gpb.Path{Origin: "workload", Target: "acme"}
	racks := &gpb.Path{Elem: []*gpb.PathElem{{Name: "rack"}}}
	deps := &gpb.Path{Elem: []*gpb.PathElem{{Name: "deployment"}}}

	// Get: origin = set; a global path names no target, a tenant path one.
	for _, c := range []struct {
		prefix, path *gpb.Path
		want         string
	}{
		{lab, racks, "40"},
		{wl, deps, "nginx"},
	} {
		got, err := gc.Get(ctx, &gpb.GetRequest{Encoding: gpb.Encoding_JSON, Prefix: c.prefix, Path: []*gpb.Path{c.path}})
		if err != nil || len(got.Notification) != 1 || got.Notification[0].Prefix.GetOrigin() != c.prefix.Origin ||
			got.Notification[0].Prefix.GetTarget() != c.prefix.Target || !strings.Contains(updatesOf(got.Notification), c.want) {
			t.Errorf("Get %s: %v %v", c.prefix.Origin, got, err)
		}
	}
	for _, c := range []struct {
		prefix *gpb.Path
		want   string
	}{
		{&gpb.Path{Origin: "lab", Target: "acme"}, "lab"},
		{&gpb.Path{Origin: "workload"}, "workload"},
	} {
		_, err := gc.Get(ctx, &gpb.GetRequest{Encoding: gpb.Encoding_JSON, Prefix: c.prefix, Path: []*gpb.Path{racks}})
		if code := status.Code(err); (code != codes.InvalidArgument && code != codes.NotFound) || !strings.Contains(status.Convert(err).Message(), c.want) {
			t.Errorf("Get with origin %s, target %q: %v, want InvalidArgument or NotFound naming the path", c.prefix.Origin, c.prefix.Target, err)
		}
		st, err := gc.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
			Prefix: c.prefix, Mode: gpb.SubscriptionList_ONCE, Subscription: []*gpb.Subscription{{Path: racks}}}}})
		if err == nil {
			_, err = st.Recv()
		}
		if code := status.Code(err); code != codes.InvalidArgument && code != codes.NotFound {
			t.Errorf("Subscribe with origin %s, target %q: %v, want InvalidArgument or NotFound", c.prefix.Origin, c.prefix.Target, err)
		}
	}

	// Subscribe ONCE and POLL: the current values, then a sync.
	subscribe := func(mode gpb.SubscriptionList_Mode, prefix, path *gpb.Path) (gpb.GNMI_SubscribeClient, []*gpb.Notification) {
		t.Helper()
		st, err := gc.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sub := &gpb.Subscription{Path: path}
		if mode == gpb.SubscriptionList_STREAM {
			sub.Mode = gpb.SubscriptionMode_ON_CHANGE
		}
		if err := st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: &gpb.SubscriptionList{
			Prefix: prefix, Mode: mode, Encoding: gpb.Encoding_JSON, Subscription: []*gpb.Subscription{sub}}}}); err != nil {
			t.Fatal(err)
		}
		return st, untilSync(t, st)
	}
	for _, c := range []struct {
		prefix, path *gpb.Path
		want         string
	}{
		{lab, racks, "40"},
		{wl, deps, "nginx"},
	} {
		for _, mode := range []gpb.SubscriptionList_Mode{gpb.SubscriptionList_ONCE, gpb.SubscriptionList_POLL} {
			st, ns := subscribe(mode, c.prefix, c.path)
			if !sameOrigin(ns, c.prefix) || !strings.Contains(updatesOf(ns), c.want) {
				t.Errorf("Subscribe %s of %s: %v", mode, c.prefix.Origin, ns)
			}
			if mode == gpb.SubscriptionList_POLL {
				if err := st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Poll{Poll: &gpb.Poll{}}}); err != nil {
					t.Fatal(err)
				}
				if ns := untilSync(t, st); !sameOrigin(ns, c.prefix) || !strings.Contains(updatesOf(ns), c.want) {
					t.Errorf("poll of %s: %v", c.prefix.Origin, ns)
				}
			}
			st.CloseSend()
		}
	}

	// STREAM ON_CHANGE: a change through REST reaches the stream with the
	// set as origin and the enterprise as target (none for the lab).
	labSt, _ := subscribe(gpb.SubscriptionList_STREAM, lab, racks)
	wlSt, _ := subscribe(gpb.SubscriptionList_STREAM, wl, deps)
	s.Must(t, 200, "PATCH", "/lab/v1.0.0/rack/r1", `{"height":41}`)
	s.Must(t, 200, "PATCH", "/workload/v1.0.0/acme/deployment/d1", `{"image":"redis"}`)
	for _, c := range []struct {
		st     gpb.GNMI_SubscribeClient
		prefix *gpb.Path
		want   string
	}{
		{labSt, lab, "41"},
		{wlSt, wl, "redis"},
	} {
		r, err := c.st.Recv()
		if err != nil {
			t.Fatalf("stream of %s: %v", c.prefix.Origin, err)
		}
		ns := []*gpb.Notification{r.GetUpdate()}
		if !sameOrigin(ns, c.prefix) || !strings.Contains(updatesOf(ns), c.want) {
			t.Errorf("on-change of %s: %v", c.prefix.Origin, r)
		}
	}
}

// untilSync reads a subscription's notifications up to its sync_response.
func untilSync(t *testing.T, st gpb.GNMI_SubscribeClient) []*gpb.Notification {
	t.Helper()
	var ns []*gpb.Notification
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("subscription before its sync: %v", err)
		}
		if r.GetSyncResponse() {
			return ns
		}
		ns = append(ns, r.GetUpdate())
	}
}

// sameOrigin reports whether every notification has the prefix's origin
// and target, and there is at least one.
func sameOrigin(ns []*gpb.Notification, prefix *gpb.Path) bool {
	for _, n := range ns {
		if n.GetPrefix().GetOrigin() != prefix.Origin || n.GetPrefix().GetTarget() != prefix.Target {
			return false
		}
	}
	return len(ns) > 0
}

// updatesOf is the JSON values of the notifications' updates, joined.
func updatesOf(ns []*gpb.Notification) string {
	var b strings.Builder
	for _, n := range ns {
		for _, u := range n.GetUpdate() {
			b.Write(u.GetVal().GetJsonVal())
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestBackupRestoreThreeSets: amp backup of a server holding Aether, the
// global lab and the tenant workload, with references across the three
// and history; amp restore into bbolt and into etcd; each restored server
// serves the same objects, transactions, diffs and past reads, and still
// knows every reference across sets (deleting a referenced object is
// refused naming its referrers in the other sets).
func TestBackupRestoreThreeSets(t *testing.T) {
	bin := testenv.Binary(t)
	c := etcd.Start(t, 1)
	sets := []string{"--models", modelsDir()}
	src := testenv.Start(t, t.TempDir(), append([]string{"--demo"}, sets...)...)
	src.Must(t, 201, "POST", "/lab/v1.0.0/rack/r1", `{"tenant":"acme","aether-site":"acme-chicago","display-name":"Rack 1"}`)
	at := lastIndex(t, src)
	src.Must(t, 200, "PATCH", "/lab/v1.0.0/rack/r1", `{"display-name":"Rack One"}`)
	src.Must(t, 201, "POST", "/lab/v1.0.0/server/sv1", `{"rack":"r1"}`)
	src.Must(t, 201, "POST", "/workload/v1.0.0/acme/deployment/d1", `{"image":"nginx","rack":"r1","site":"acme-chicago"}`)
	src.Must(t, 201, "POST", "/workload/v1.0.0/acme/deployment/d2", `{"image":"redis"}`)
	src.Must(t, 200, "POST", fmt.Sprintf("/transactions/%d/rollback", lastIndex(t, src)), "")
	src.Must(t, 201, "POST", "/tokens", `{"name":"ci","role":"enterprise-admin","enterprise":"acme"}`)
	observeSets := func(s *testenv.Server) map[string]string {
		t.Helper()
		o := observe(t, s, at)
		for _, p := range []string{"/lab/v1.0.0", "/workload/v1.0.0/acme", "/workload/v1.0.0/starbucks",
			fmt.Sprintf("/lab/v1.0.0/rack/r1?at=%d", at), fmt.Sprintf("/diff?from=%d", at)} {
			o[p] = string(s.Must(t, 200, "GET", p, ""))
		}
		return o
	}
	want := observeSets(src)
	if !strings.Contains(want["/lab/v1.0.0/rack/r1?at="+fmt.Sprint(at)], "Rack 1") || !strings.Contains(want["/workload/v1.0.0/acme"], "nginx") ||
		strings.Contains(want["/workload/v1.0.0/acme"], "redis") {
		t.Fatalf("the source: %v", want)
	}

	file := filepath.Join(t.TempDir(), "amp.ampbak")
	if out, err := ampCLI(t, src.Env(), "backup", file); err != nil || !strings.Contains(out, "written to "+file) {
		t.Fatalf("amp backup: %v\n%s", err, out)
	}
	etcdURL := "etcd://" + c.Endpoints() + "/amp-three-sets/"
	for _, target := range []struct {
		name  string
		flags []string
		serve []string
	}{
		{"bbolt", append(sets, "--data-dir"), sets},
		{"etcd", append(sets, "--store", etcdURL, "--data-dir"), append([]string{"--store", etcdURL}, sets...)},
	} {
		s := startWithToken(t, bin, src, restoreInto(t, src, file, target.flags...), target.serve...)
		compare(t, "restored into "+target.name, observeSets(s), want)
		for _, c := range []struct{ path, referrer string }{
			{"/lab/v1.0.0/rack/r1", "/workload/v1.0.0/acme/deployment/d1/rack"},
			{"/aether/v2.1.x/acme/site/acme-chicago", "/lab/v1.0.0/rack/r1/aether-site"},
		} {
			b := s.Must(t, 409, "DELETE", c.path, "")
			if !strings.Contains(string(b), `"path":"`+c.referrer+`"`) {
				t.Errorf("restored into %s: DELETE %s does not name its referrer %s: %s", target.name, c.path, c.referrer, b)
			}
		}
		s.Stop()
	}
}
