package release

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/fleet/gitsource"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/gitserver"
)

// remove deletes the object at path.
func remove(t *testing.T, eng *config.Engine, path string) {
	t.Helper()
	route, err := eng.Schema().ParseRoute(path)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Principal: "test", Edits: []config.Edit{{Op: config.OpDelete, Loc: loc}}}); err != nil {
		t.Fatal(err)
	}
}

// TestCollectCharts: a chart stays while its version is wanted (the
// repo's newest commit, a rollout's version) or active at a cluster (a
// rollback needs it), and is removed — its record and its archive — once
// none is; a version rolled out again is prepared again; a deleted
// bundle's charts go too.
func TestCollectCharts(t *testing.T) {
	ctx := context.Background()
	eng, _ := testenv.Engine(t, false)
	if err := put(t, eng, "/inventory/v1.0.0", sites); err != nil {
		t.Fatal(err)
	}
	srv := gitserver.Start(t)
	url := srv.Create(t, "apps")
	first := srv.Push(t, "apps", "main", chartFiles("charts/hello", "0.1.0", false))
	second := srv.Push(t, "apps", "main", chartFiles("charts/hello", "0.2.0", false))
	rollout := `{"cluster-group": [{"group-id": "all", "match-label": [{"name": "env", "value": "x"}]}],
	  "rollout": [{"rollout-id": "old", "bundle": "hello", "version": "` + first + `", "stage": [{"group": "all", "order": 1}]}]}`
	if err := put(t, eng, "/fleet/v1.0.0", fmt.Sprintf(`{"git-repo": [{"repo-id": "apps", "url": %q}],
	  "bundle": [{"bundle-id": "hello", "git": {"repo": "apps", "path": "charts/hello"}}]}`, url)); err != nil {
		t.Fatal(err)
	}
	if err := put(t, eng, "/fleet/v1.0.0", rollout); err != nil {
		t.Fatal(err)
	}
	p, repos := newPreparer(t, eng)
	o, _ := eng.Snapshot().Get(gitsource.RepoKey(eng.Schema().Set(fleet.SetName, ""), "apps"))
	if res, err := repos.Fetch(ctx, "apps", o, "webhook"); err != nil || res.Err != nil || res.Revision != second {
		t.Fatalf("fetch: %+v %v", res, err)
	}
	p.Pass(ctx)
	digest := func(version string) string {
		t.Helper()
		got, ok, err := Lookup(eng.Meta(), "hello", version)
		if err != nil || !ok || !got.Ok() {
			t.Fatalf("version %s: %+v %v %v", version, got, ok, err)
		}
		return got.Chart.Digest
	}
	old, cur := digest(first), digest(second)
	collect := func(wantRecords, wantArchives int) {
		t.Helper()
		if r, a, err := p.Collect(ctx); err != nil || r != wantRecords || a != wantArchives {
			t.Fatalf("Collect = %d records, %d archives, %v; want %d, %d", r, a, err, wantRecords, wantArchives)
		}
	}
	held := func(d string) bool {
		b, err := edge.GetChart(eng.Meta(), d)
		return err == nil && b != nil
	}
	collect(0, 0) // both wanted

	stage(t, eng, "hello", `[{"cluster": "prod-1", "staged-version": "`+second+`", "active-version": "`+first+`"}]`)
	remove(t, eng, "/fleet/v1.0.0/rollout/old")
	collect(0, 0) // the first is active at prod-1
	stage(t, eng, "hello", `[{"cluster": "prod-1", "staged-version": "`+second+`", "active-version": "`+second+`"}]`)
	collect(1, 1)
	if held(old) || !held(cur) {
		t.Fatalf("after collection: the first's archive held %v (want not), the second's %v (want held)", held(old), held(cur))
	}
	if _, ok, _ := Lookup(eng.Meta(), "hello", first); ok {
		t.Fatal("the first's record is still there")
	}
	if n := testutil.ToFloat64(p.Metrics.collected); n != 1 {
		t.Errorf("amp_fleet_charts_collected_total = %v, want 1", n)
	}

	// Rolled out again: prepared again (fetched by its revision), held again.
	if err := put(t, eng, "/fleet/v1.0.0", rollout); err != nil {
		t.Fatal(err)
	}
	p.Pass(ctx)
	if d := digest(first); d != old || !held(d) {
		t.Fatalf("the first rolled out again: %s held %v", d, held(d))
	}

	remove(t, eng, "/fleet/v1.0.0/rollout/old")
	remove(t, eng, "/fleet/v1.0.0/bundle/hello")
	collect(2, 2)
	if held(old) || held(cur) {
		t.Fatal("a deleted bundle's charts are still held")
	}
}
