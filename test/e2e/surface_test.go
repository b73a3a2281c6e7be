package e2e

// Global model sets on every surface (issue 10, "Done when"): the policy's
// ties of global objects to enterprises, through the real binary on the
// embedded store and on etcd.

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

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
