package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// nextModelsDir holds lab 1.1.0 (rack height renamed units, at most 48,
// and a new location; migrate-from 1.0.0 declared in its descriptor),
// loaded beside test/testdata/models with a second --models.
func nextModelsDir() string {
	return filepath.Join(testenv.RepoRoot(), "test", "testdata", "models-next")
}

// TestMigrateBolt: two versions of lab served side by side, then lab
// 1.0.0 migrated to 1.1.0 as one transaction, through the binary, on the
// embedded store.
func TestMigrateBolt(t *testing.T) {
	migrateScenario(t, "--gnmi-listen", "127.0.0.1:0")
}

// TestMigrateEtcd: the same on etcd.
func TestMigrateEtcd(t *testing.T) {
	c := etcd.Start(t, 1)
	migrateScenario(t, "--gnmi-listen", "127.0.0.1:0", "--store", "etcd://"+c.Endpoints()+"/amp-migrate/")
}

func migrateScenario(t *testing.T, args ...string) {
	dir := t.TempDir()
	// Written while only lab 1.0.0 is installed: racks, a server, and an
	// acme deployment pinned to rack r1 (a reference into lab).
	s := testenv.Start(t, dir, append([]string{"--models", modelsDir()}, args...)...)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r1", `{"display-name":"Rack 1","height":40}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r2", `{}`)
	s.Must(t, 201, "POST", "/lab/v1.0.0/server/s1", `{"rack":"r1","position":3,"tag":["gpu","edge"]}`)
	s.Must(t, 201, "POST", "/workload/v1.0.0/acme/deployment/d1", `{"image":"nginx:1.27","rack":"r1"}`)
	s.Stop()

	// lab 1.1.0 installed beside it: both versions are served.
	s = testenv.Start(t, dir, append([]string{"--models", modelsDir(), "--models", nextModelsDir()}, args...)...)
	var sets []struct {
		Name     string
		Versions []struct {
			Version     string
			MigrateFrom []struct{ Version string } `json:"migrate-from"`
		}
	}
	getJSON(t, s, "/models", &sets)
	var labVersions []string
	for _, set := range sets {
		if set.Name == "lab" {
			for _, v := range set.Versions {
				labVersions = append(labVersions, v.Version)
				if v.Version == "1.1.0" && (len(v.MigrateFrom) != 1 || v.MigrateFrom[0].Version != "1.0.0") {
					t.Errorf("/models: lab 1.1.0 does not show its migration from 1.0.0: %+v", v)
				}
			}
		}
	}
	if strings.Join(labVersions, ",") != "1.0.0,1.1.0" {
		t.Fatalf("/models lists lab versions %v", labVersions)
	}
	var r1 map[string]any
	getJSON(t, s, "/lab/v1.0.0/rack/r1", &r1)
	if r1["height"] != 40.0 {
		t.Fatalf("lab 1.0.0 rack r1: %v", r1)
	}
	// Each version has its own schema and its own objects.
	refused(t, s, 400, "PUT", "/lab/v1.1.0/rack/tmp", `{"height":10}`, "/lab/v1.1.0/rack/tmp", "height")
	s.Must(t, 200, "PUT", "/lab/v1.1.0/rack/tmp", `{"units":10,"location":"room 1"}`)
	s.Must(t, 404, "GET", "/lab/v1.0.0/rack/tmp", "")
	s.Must(t, 200, "DELETE", "/lab/v1.1.0/rack/tmp", "")
	spec := string(s.Must(t, 200, "GET", "/spec", ""))
	for _, p := range []string{`"/lab/v1.0.0/rack/{rack-id}"`, `"/lab/v1.1.0/rack/{rack-id}"`} {
		if !strings.Contains(spec, p) {
			t.Errorf("/spec has no path %s", p)
		}
	}
	// gNMI: origin lab is the newest version; use_models chooses another
	// by its module's revision.
	gc := gpb.NewGNMIClient(gnmiConn(t, s))
	height := &gpb.Path{Origin: "lab", Elem: []*gpb.PathElem{{Name: "rack", Key: map[string]string{"rack-id": "r1"}}, {Name: "height"}}}
	got, err := gc.Get(bearer(context.Background(), s.Token), &gpb.GetRequest{Encoding: gpb.Encoding_JSON, Path: []*gpb.Path{height},
		UseModels: []*gpb.ModelData{{Name: "amp-lab", Version: "2026-12-07"}}})
	if err != nil || len(got.Notification) != 1 || len(got.Notification[0].Update) != 1 || string(got.Notification[0].Update[0].Val.GetJsonVal()) != "40" {
		t.Fatalf("gNMI Get of lab 1.0.0 with use_models: %v %v", got, err)
	}
	if _, err := gc.Get(bearer(context.Background(), s.Token), &gpb.GetRequest{Encoding: gpb.Encoding_JSON, Path: []*gpb.Path{height}}); err == nil {
		t.Fatal("gNMI Get of height without use_models read lab 1.0.0, not the newest version (1.1.0 has no height)")
	}
	// The CLI: full paths name a version; short paths the newest.
	amp := func(args ...string) (string, error) { return ampCLI(t, s.Env(), args...) }
	if out, err := amp("get", "/lab/v1.0.0/rack/r1/height"); err != nil || strings.TrimSpace(out) != "40" {
		t.Fatalf("amp get of lab 1.0.0: %v %s", err, out)
	}

	// Only operators migrate.
	alice, _ := apiToken(t, s, "alice", "enterprise-admin", "acme")
	refused(t, s, 403, "POST", "/models/lab/migrate?from=1.0.0&to=1.1.0", "", "/models/lab/migrate", "", bearerHeader(alice)...)
	refused(t, s, 404, "POST", "/models/lab/migrate?from=0.9.0&to=1.1.0", "", "?from", "version 0.9.0 of model set lab is not loaded")

	// Dry run: the diff, nothing committed.
	before := lastIndex(t, s)
	out, err := amp("model", "migrate", "lab", "1.0.0", "1.1.0", "--dry-run")
	if err != nil || !strings.Contains(out, "- /lab/v1.0.0/rack/r1") || !strings.Contains(out, "+ /lab/v1.1.0/rack/r1") ||
		!strings.Contains(out, `"units":40`) || !strings.Contains(out, "nothing was committed") {
		t.Fatalf("amp model migrate --dry-run: %v\n%s", err, out)
	}
	if lastIndex(t, s) != before {
		t.Fatal("a dry run committed")
	}

	// A rack 1.1.0 cannot hold (52 units > 48): the migration refuses
	// whole, naming the rack and the reason, and changes nothing.
	s.Must(t, 201, "POST", "/lab/v1.0.0/rack/r9", `{"height":52}`)
	before = lastIndex(t, s)
	refused(t, s, 400, "POST", "/models/lab/migrate?from=1.0.0&to=1.1.0", "", "/lab/v1.0.0/rack/r9", "units")
	if out, err := amp("model", "migrate", "lab", "1.0.0", "1.1.0"); err == nil || !strings.Contains(out, "/lab/v1.0.0/rack/r9") {
		t.Fatalf("amp model migrate of an unconvertible rack: %v\n%s", err, out)
	}
	if lastIndex(t, s) != before {
		t.Fatal("a refused migration committed")
	}
	s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r1", "")
	s.Must(t, 404, "GET", "/lab/v1.1.0/rack/r1", "")
	s.Must(t, 200, "PATCH", "/lab/v1.0.0/rack/r9", `{"height":48}`)

	// The migration: one transaction.
	out, err = amp("model", "migrate", "lab", "1.0.0", "1.1.0")
	if err != nil || !strings.Contains(out, "migrated lab 1.0.0 to 1.1.0 as transaction") {
		t.Fatalf("amp model migrate: %v\n%s", err, out)
	}
	index := lastIndex(t, s)
	if index != before+2 { // the PATCH of r9, then the migration
		t.Fatalf("the migration is transaction %d, want %d", index, before+2)
	}
	r1 = nil // Unmarshal would merge into the old map
	getJSON(t, s, "/lab/v1.1.0/rack/r1", &r1)
	if r1["units"] != 40.0 || r1["height"] != nil || r1["display-name"] != "Rack 1" {
		t.Fatalf("lab 1.1.0 rack r1 after the migration: %v", r1)
	}
	var s1 map[string]any
	getJSON(t, s, "/lab/v1.1.0/server/s1", &s1)
	if s1["rack"] != "r1" || len(s1["tag"].([]any)) != 2 {
		t.Fatalf("lab 1.1.0 server s1 after the migration: %v", s1)
	}
	readThrough(t, s, gc, index)
	var txn struct {
		Source  string
		Changes []struct{ Path, Op string }
	}
	getJSON(t, s, "/transactions/"+strconv.FormatUint(index, 10), &txn)
	if len(txn.Changes) != 9 { // 3 racks and a server, each deleted in 1.0.0 and created in 1.1.0; 1.0.0 marked migrated
		t.Errorf("the migration's transaction: %d changes %+v", len(txn.Changes), txn.Changes)
	}
	refused(t, s, 409, "POST", "/models/lab/migrate?from=1.0.0&to=1.1.0", "", "/lab/v1.0.0", "holds no objects: nothing to migrate")
	// The deployment's reference resolves in the newest version, where
	// the rack now is: the rack cannot be deleted under it.
	refused(t, s, 409, "DELETE", "/lab/v1.1.0/rack/r1", "", "/workload/v1.0.0/acme/deployment/d1/rack", "refers to /lab/v1.1.0/rack/r1")
	s.Must(t, 200, "GET", "/workload/v1.0.0/acme/deployment/d1", "")
	// Audited, as the operator's write that committed the transaction,
	// naming both versions.
	found := false
	for _, rec := range auditRecords(t, s, "&path=/models/lab/migrate") {
		if rec.Transaction == index && rec.Outcome == "allowed" && rec.Action == "write" && len(rec.Sets) == 2 &&
			rec.Sets[0].Version == "1.0.0" && rec.Sets[1].Version == "1.1.0" {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit record of the migration (transaction %d): %+v", index, auditRecords(t, s, ""))
	}

	// A restart keeps the mark: 1.0.0 still reads through the migration
	// and refuses writes.
	s.Stop()
	s = testenv.Start(t, dir, append([]string{"--models", modelsDir(), "--models", nextModelsDir()}, args...)...)
	readThrough(t, s, gpb.NewGNMIClient(gnmiConn(t, s)), index)

	// Rolling the migration back would leave the deployment's reference
	// dangling: refused, naming it; once the deployment lets go of the
	// rack, the one transaction rolls back whole.
	rb := "/transactions/" + strconv.FormatUint(index, 10) + "/rollback"
	refused(t, s, 409, "POST", rb, "", "/workload/v1.0.0/acme/deployment/d1/rack", "refers to /lab/v1.1.0/rack/r1")
	s.Must(t, 200, "DELETE", "/workload/v1.0.0/acme/deployment/d1/rack", "")
	s.Must(t, 200, "POST", rb, "")
	r1 = nil
	getJSON(t, s, "/lab/v1.0.0/rack/r1", &r1)
	if r1["height"] != 40.0 || r1["units"] != nil {
		t.Fatalf("lab 1.0.0 rack r1 after the rollback: %v", r1)
	}
	s.Must(t, 404, "GET", "/lab/v1.1.0/rack/r1", "")
	s.Must(t, 200, "GET", "/lab/v1.0.0/server/s1", "")
	// 1.0.0 is its own again: writable, no longer marked.
	s.Must(t, 200, "PATCH", "/lab/v1.0.0/rack/r2", `{"height":12}`)
	if to := labMigratedTo(t, s); to["1.0.0"] != "" {
		t.Errorf("/models: lab 1.0.0 still migrated to %q after the rollback", to["1.0.0"])
	}
}

// labMigratedTo returns, per lab version, the version /models says it
// was migrated to.
func labMigratedTo(t *testing.T, s *testenv.Server) map[string]string {
	t.Helper()
	var sets []struct {
		Name     string
		Versions []struct {
			Version    string
			MigratedTo string `json:"migrated-to"`
			MigratedBy uint64 `json:"migrated-by"`
		}
	}
	getJSON(t, s, "/models", &sets)
	out := map[string]string{}
	for _, set := range sets {
		for _, v := range set.Versions {
			if set.Name == "lab" && v.MigratedTo != "" {
				out[v.Version] = v.MigratedTo + " by " + strconv.FormatUint(v.MigratedBy, 10)
			}
		}
	}
	return out
}

// readThrough checks lab 1.0.0 after its migration to 1.1.0 (transaction
// index): /models marks it; REST reads of an object, a leaf and a list
// (paged) and gNMI Get with use_models answer 1.1.0's objects converted
// back (units read as height); writes are refused naming 1.1.0; ?at= an
// index before the migration reads the objects 1.0.0 stored then.
func readThrough(t *testing.T, s *testenv.Server, gc gpb.GNMIClient, index uint64) {
	t.Helper()
	if to := labMigratedTo(t, s); len(to) != 1 || to["1.0.0"] != "1.1.0 by "+strconv.FormatUint(index, 10) {
		t.Errorf("/models after the migration: lab migrated %v, want 1.0.0 to 1.1.0 by %d", to, index)
	}
	var r1 map[string]any
	getJSON(t, s, "/lab/v1.0.0/rack/r1", &r1)
	if r1["height"] != 40.0 || r1["units"] != nil || r1["display-name"] != "Rack 1" {
		t.Fatalf("lab 1.0.0 rack r1 read through the migration: %v", r1)
	}
	if b := s.Must(t, 200, "GET", "/lab/v1.0.0/rack/r1/height", ""); strings.TrimSpace(string(b)) != "40" {
		t.Fatalf("lab 1.0.0 rack r1 height read through the migration: %s", b)
	}
	s.Must(t, 404, "GET", "/lab/v1.0.0/rack/r1/units", "")
	var ids []string
	for page := "/lab/v1.0.0/rack?limit=2"; page != ""; {
		code, b, h, err := s.Do(context.Background(), "GET", page, "")
		var racks []map[string]any
		if err != nil || code != 200 || json.Unmarshal(b, &racks) != nil {
			t.Fatalf("GET %s: %d %v %s", page, code, err, b)
		}
		for _, r := range racks {
			ids = append(ids, r["rack-id"].(string))
			if r["units"] != nil {
				t.Errorf("lab 1.0.0 list shows 1.1.0's units: %v", r)
			}
		}
		page = ""
		if c := h.Get("X-AMP-Continue"); c != "" {
			page = "/lab/v1.0.0/rack?limit=2&continue=" + url.QueryEscape(c)
		}
	}
	if strings.Join(ids, ",") != "r1,r2,r9" {
		t.Fatalf("lab 1.0.0 racks read through the migration, paged by 2: %v", ids)
	}
	var s1 map[string]any
	getJSON(t, s, "/lab/v1.0.0/server/s1", &s1)
	if s1["rack"] != "r1" || s1["position"] != 3.0 {
		t.Fatalf("lab 1.0.0 server s1 read through the migration: %v", s1)
	}
	height := &gpb.Path{Origin: "lab", Elem: []*gpb.PathElem{{Name: "rack", Key: map[string]string{"rack-id": "r1"}}, {Name: "height"}}}
	got, err := gc.Get(bearer(context.Background(), s.Token), &gpb.GetRequest{Encoding: gpb.Encoding_JSON, Path: []*gpb.Path{height},
		UseModels: []*gpb.ModelData{{Name: "amp-lab", Version: "2026-12-07"}}})
	if err != nil || len(got.Notification) != 1 || len(got.Notification[0].Update) != 1 || string(got.Notification[0].Update[0].Val.GetJsonVal()) != "40" {
		t.Fatalf("gNMI Get of lab 1.0.0 through the migration: %v %v", got, err)
	}
	// Writes to 1.0.0 are refused, naming the path and 1.1.0; nothing changes.
	before := lastIndex(t, s)
	refused(t, s, 409, "PATCH", "/lab/v1.0.0/rack/r1", `{"height":41}`, "/lab/v1.0.0/rack/r1", "lab 1.0.0 was migrated to 1.1.0")
	refused(t, s, 409, "POST", "/lab/v1.0.0/rack/r5", `{}`, "/lab/v1.0.0/rack/r5", "write to lab 1.1.0 instead")
	if lastIndex(t, s) != before {
		t.Fatal("a refused write to lab 1.0.0 committed")
	}
	// History is untouched: ?at= before the migration reads what 1.0.0 stored.
	var old map[string]any
	getJSON(t, s, "/lab/v1.0.0/rack/r9?at="+strconv.FormatUint(index-1, 10), &old)
	if old["height"] != 48.0 {
		t.Fatalf("lab 1.0.0 rack r9 at %d: %v", index-1, old)
	}
}
