package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/fleet/gitsource"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/gitserver"
)

// put merges body (JSON) at the REST path.
func put(t testing.TB, eng *config.Engine, path, body string) error {
	t.Helper()
	route, err := eng.Schema().ParseRoute(path)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	val := decode(t, loc, body, false)
	_, err = eng.Submit(context.Background(), &config.Request{Principal: "test", Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}}})
	return err
}

func decode(t testing.TB, loc *schema.Location, body string, state bool) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), false, schema.DecodeOptions{AllowState: state})
	if err != nil {
		t.Fatal(err)
	}
	return val
}

// stage writes a bundle's deployments (config false), as the rollouts do.
func stage(t *testing.T, eng *config.Engine, bundle, body string) {
	t.Helper()
	route, err := eng.Schema().ParseRoute("/fleet/v1.0.0/bundle/" + bundle + "/deployment")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.SetState(context.Background(), loc, config.OpReplace, decode(t, loc, body, true)); err != nil {
		t.Fatal(err)
	}
}

const sites = `{"cluster": [
  {"cluster-id": "stage-1", "label": [{"name": "env", "value": "staging"}]},
  {"cluster-id": "prod-1", "label": [{"name": "env", "value": "production"}, {"name": "zone", "value": "east"}]},
  {"cluster-id": "prod-2", "label": [{"name": "env", "value": "production"}]}]}`

func releases(t *testing.T, eng *config.Engine, cluster string) map[string]wire.HelmRelease {
	t.Helper()
	objs, err := (source{}).Objects(eng.Schema(), eng.Snapshot(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]wire.HelmRelease{}
	for _, o := range objs {
		var r wire.HelmRelease
		if err := json.Unmarshal(o.Spec, &r); err != nil {
			t.Fatal(err)
		}
		if o.Kind != wire.KindHelmRelease || (o.Name != r.Bundle && !strings.HasPrefix(o.Name, r.Bundle+"-")) {
			t.Fatalf("object %s/%s carries bundle %q", o.Kind, o.Name, r.Bundle)
		}
		out[o.Name] = r
	}
	return out
}

// TestSourceObjects: a cluster's helm-release objects follow its
// deployments' staged versions: none before its chart is prepared (the
// deployment is told why), then the release with the chart, the
// namespace, the bundle's values with the first matching target's merged
// over them, and the stage's helm-test; another cluster gets nothing of
// it; Affects names the clusters a change concerns.
func TestSourceObjects(t *testing.T) {
	eng, _ := testenv.Engine(t, false)
	Bind(eng)
	if err := put(t, eng, "/inventory/v1.0.0", sites); err != nil {
		t.Fatal(err)
	}
	if err := put(t, eng, "/fleet/v1.0.0", `{"bundle": [{"bundle-id": "upf", "namespace": "core",
	  "chart": {"repository": "https://charts.example.com", "name": "upf", "version": "1.0.0"},
	  "values": "replicas: 1\nimage:\n  tag: \"1.0\"\n  pull: Always\n",
	  "target": [{"name": "east", "match-label": [{"name": "zone", "value": "east"}], "values": "replicas: 5\n"},
	             {"name": "prod", "match-label": [{"name": "env", "value": "production"}], "values": "image:\n  tag: \"2.0\"\n"}]}]}`); err != nil {
		t.Fatal(err)
	}
	stage(t, eng, "upf", `[{"cluster": "prod-1", "staged-version": "1.0.0", "helm-test": true}, {"cluster": "prod-2", "staged-version": "1.0.0"}]`)
	if got := releases(t, eng, "prod-1"); len(got) != 0 {
		t.Fatalf("a release before its chart is prepared: %v", got)
	}
	if why, failed := Blocked(eng.Meta(), "upf", "1.0.0"); failed || !strings.Contains(why, "not prepared yet") {
		t.Fatalf("Blocked before preparation: %q %v", why, failed)
	}
	chart := wire.Chart{Name: "upf", Version: "1.0.0", Digest: "sha256:" + strings.Repeat("ab", 32)}
	if err := record(eng.Meta(), "upf", "1.0.0", Prepared{Chart: chart}); err != nil {
		t.Fatal(err)
	}
	if why, failed := Blocked(eng.Meta(), "upf", "1.0.0"); why != "" || failed {
		t.Fatalf("Blocked once prepared: %q %v", why, failed)
	}
	p1 := releases(t, eng, "prod-1")["upf"]
	want := wire.HelmRelease{Namespace: "core", Bundle: "upf", Version: "1.0.0", Chart: chart, Test: true,
		Values: map[string]any{"replicas": float64(5), "image": map[string]any{"tag": "2.0", "pull": "Always"}}}
	if !reflect.DeepEqual(p1, want) {
		t.Fatalf("prod-1 (zone=east, env=production: both targets, in order):\n got %+v\nwant %+v", p1, want)
	}
	p2 := releases(t, eng, "prod-2")["upf"]
	if p2.Test || !reflect.DeepEqual(p2.Values, map[string]any{"replicas": float64(1), "image": map[string]any{"tag": "2.0", "pull": "Always"}}) {
		t.Fatalf("prod-2 (env=production): %+v", p2)
	}
	if got := releases(t, eng, "stage-1"); len(got) != 0 {
		t.Fatalf("stage-1, staged nothing: %v", got)
	}

	// A version staged before its chart is prepared (or whose chart
	// failed): the site is sent the version it runs, never left without
	// a release (its agent would uninstall it).
	stage(t, eng, "upf", `[{"cluster": "prod-1", "staged-version": "2.0.0", "active-version": "1.0.0"}, {"cluster": "prod-2", "staged-version": "2.0.0"}]`)
	if got := releases(t, eng, "prod-1")["upf"]; got.Version != "1.0.0" || got.Chart != chart {
		t.Fatalf("prod-1, 2.0.0 staged but not prepared, 1.0.0 active: %+v, want 1.0.0 kept", got)
	}
	if got := releases(t, eng, "prod-2"); len(got) != 0 {
		t.Fatalf("prod-2, 2.0.0 staged but not prepared, nothing active: %v", got)
	}
	stage(t, eng, "upf", `[{"cluster": "prod-1", "staged-version": "1.0.0", "helm-test": true}, {"cluster": "prod-2", "staged-version": "1.0.0"}]`)

	// Affects: a state write names the clusters whose deployment it
	// adds, drops or changes, and no other; a chart prepared, the
	// clusters staged at its version or running it; the bundle's
	// configuration, every cluster its deployments name.
	key := fleet.BundleKey(eng.Schema().Set(fleet.SetName, ""), "upf")
	affects := func(ch edge.Change) []string {
		return slices.Sorted(slices.Values((source{}).Affects(eng.Schema(), eng.Snapshot(), ch)))
	}
	stateOf := func() map[string]any { m, _ := eng.Snapshot().State.Get([]byte(key)); return m }
	before := stateOf()
	stage(t, eng, "upf", `[{"cluster": "prod-1", "staged-version": "1.0.0", "helm-test": true}, {"cluster": "stage-1", "staged-version": "2.0.0", "active-version": "1.0.0"}]`)
	if got := affects(edge.Change{Key: key, State: true, Before: before, After: stateOf()}); !reflect.DeepEqual(got, []string{"prod-2", "stage-1"}) {
		t.Fatalf("a write that keeps prod-1, drops prod-2 and adds stage-1 affects %v", got)
	}
	if got := affects(edge.Change{Key: key, State: true, Before: stateOf(), After: stateOf()}); len(got) != 0 {
		t.Fatalf("a write that changes nothing affects %v", got)
	}
	if got := affects(edge.Change{Key: key, Aside: "2.0.0"}); !reflect.DeepEqual(got, []string{"stage-1"}) {
		t.Fatalf("version 2.0.0's chart prepared affects %v", got)
	}
	if got := affects(edge.Change{Key: key, Aside: "1.0.0"}); !reflect.DeepEqual(got, []string{"prod-1", "stage-1"}) {
		t.Fatalf("version 1.0.0's chart prepared affects %v", got)
	}
	if got := affects(edge.Change{Key: key + "/values"}); !reflect.DeepEqual(got, []string{"prod-1", "stage-1"}) {
		t.Fatalf("the bundle's values affect %v", got)
	}
	stage(t, eng, "upf", `[{"cluster": "prod-1", "staged-version": "1.0.0"}]`)
	if got := (source{}).Affects(eng.Schema(), eng.Snapshot(), edge.Change{Key: "inventory/1.0.0/cluster/prod-2/label/env"}); !reflect.DeepEqual(got, []string{"prod-2"}) {
		t.Fatalf("a label of prod-2 affects %v", got)
	}
	if got := (source{}).Affects(eng.Schema(), eng.Snapshot(), edge.Change{Key: "inventory/1.0.0/cluster/prod-2", State: true}); len(got) != 0 {
		t.Fatalf("prod-2's reports affect %v", got)
	}
	if got := releases(t, eng, "prod-2"); len(got) != 0 {
		t.Fatalf("prod-2 unstaged still has %v", got)
	}

	// Values that are not a YAML map are refused at commit, at the leaf.
	err := put(t, eng, "/fleet/v1.0.0", `{"bundle": [{"bundle-id": "upf", "values": "- a list"}]}`)
	if err == nil || !strings.Contains(err.Error(), "/fleet/v1.0.0/bundle/upf/values") || !strings.Contains(err.Error(), "not a YAML map") {
		t.Fatalf("values that are a list: %v", err)
	}
}

// chartFiles is a chart hello in directory dir: a ConfigMap rendering
// .Values.message; broken: a template that does not render.
func chartFiles(dir, version string, broken bool) map[string]string {
	return namedChart(dir, "hello", version, broken)
}

// namedChart is chartFiles of a chart named name.
func namedChart(dir, name, version string, broken bool) map[string]string {
	tpl := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  message: {{ .Values.message | quote }}\n"
	if broken {
		tpl = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name \n"
	}
	return map[string]string{
		dir + "/Chart.yaml":        "apiVersion: v2\nname: " + name + "\nversion: " + version + "\n",
		dir + "/values.yaml":       "message: hi\n",
		dir + "/templates/cm.yaml": tpl,
		dir + "/.helmignore":       "notes.txt\n",
		dir + "/notes.txt":         "not packaged\n",
	}
}

func newPreparer(t *testing.T, eng *config.Engine) (*Preparer, *gitsource.Repos) {
	repos := &gitsource.Repos{Engine: eng, Clock: gitsource.WallClock{}, Fetcher: gitsource.Fetch}
	return NewPreparer(eng, repos, MetricsFor(prometheus.NewRegistry()), slog.New(slog.DiscardHandler)), repos
}

// TestPrepareFromGit: a push fetched by the git source is packaged from
// the bundle's path at that commit, without a second fetch, kept by
// content and recorded (bundle, commit) → chart; a rollout of an older
// commit is fetched by revision; a chart that does not render is
// recorded failed with the reason, for good; a path without a chart too.
func TestPrepareFromGit(t *testing.T) {
	ctx := context.Background()
	eng, _ := testenv.Engine(t, false)
	srv := gitserver.Start(t)
	url := srv.Create(t, "apps")
	first := srv.Push(t, "apps", "main", chartFiles("charts/hello", "0.1.0", false))
	second := srv.Push(t, "apps", "main", chartFiles("charts/hello", "0.2.0", false))
	if err := put(t, eng, "/fleet/v1.0.0", fmt.Sprintf(`{"git-repo": [{"repo-id": "apps", "url": %q}],
	  "bundle": [{"bundle-id": "hello", "git": {"repo": "apps", "path": "charts/hello"}},
	             {"bundle-id": "nochart", "git": {"repo": "apps", "path": "charts/hello/templates"}}]}`, url)); err != nil {
		t.Fatal(err)
	}
	p, repos := newPreparer(t, eng)
	fetches := 0
	repos.Fetcher = func(ctx context.Context, src gitsource.Source) (string, *object.Tree, error) {
		fetches++
		return gitsource.Fetch(ctx, src)
	}
	o, _ := eng.Snapshot().Get(gitsource.RepoKey(eng.Schema().Set(fleet.SetName, ""), "apps"))
	if res, err := repos.Fetch(ctx, "apps", o, "webhook"); err != nil || res.Err != nil || res.Revision != second {
		t.Fatalf("fetch: %+v %v", res, err)
	}
	p.Pass(ctx)
	got, ok, err := Lookup(eng.Meta(), "hello", second)
	if err != nil || !ok || !got.Ok() || got.Chart.Name != "hello" || got.Chart.Version != "0.2.0" {
		t.Fatalf("the pushed commit's chart: %+v %v %v", got, ok, err)
	}
	if fetches != 1 {
		t.Fatalf("%d fetches: packaging fetched again", fetches)
	}
	archive, err := edge.GetChart(eng.Meta(), got.Chart.Digest)
	if err != nil || archive == nil {
		t.Fatalf("the archive is not kept: %v", err)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil || ch.Metadata.Version != "0.2.0" {
		t.Fatalf("the archive: %v", err)
	}
	for _, f := range ch.Raw {
		if f.Name == "notes.txt" {
			t.Fatal("a file .helmignore names was packaged")
		}
	}
	bad, ok, _ := Lookup(eng.Meta(), "nochart", second)
	if !ok || bad.Ok() || bad.Transient || !strings.Contains(bad.Error, `"charts/hello/templates" holds no Chart.yaml`) {
		t.Fatalf("a path without a chart: %+v", bad)
	}

	// A rollout of the first commit: fetched by its revision.
	if err := put(t, eng, "/fleet/v1.0.0", `{"cluster-group": [{"group-id": "all", "match-label": [{"name": "env", "value": "x"}]}],
	  "rollout": [{"rollout-id": "old", "bundle": "hello", "version": "`+first+`", "stage": [{"group": "all", "order": 1}]}]}`); err != nil {
		t.Fatal(err)
	}
	p.Pass(ctx)
	if old, ok, _ := Lookup(eng.Meta(), "hello", first); !ok || !old.Ok() || old.Chart.Version != "0.1.0" {
		t.Fatalf("the rollout's older commit: %+v", old)
	}

	// A push of a chart that does not render.
	third := srv.Push(t, "apps", "main", chartFiles("charts/hello", "0.3.0", true))
	if res, err := repos.Fetch(ctx, "apps", o, "poll"); err != nil || res.Revision != third {
		t.Fatalf("fetch: %+v %v", res, err)
	}
	p.Pass(ctx)
	broken, ok, _ := Lookup(eng.Meta(), "hello", third)
	if !ok || broken.Ok() || broken.Transient || !strings.Contains(broken.Error, "does not load") && !strings.Contains(broken.Error, "does not render") {
		t.Fatalf("a chart that does not render: %+v", broken)
	}
	if why, failed := Blocked(eng.Meta(), "hello", third); !failed || !strings.Contains(why, third) {
		t.Fatalf("Blocked: %q %v", why, failed)
	}
	// nochart at the second and third commits, hello at the third.
	if got := testutil.ToFloat64(p.Metrics.prepared.WithLabelValues("failed")); got != 3 {
		t.Fatalf("failed preparations counted %v, want 3", got)
	}
}

// TestPrepareFromChartRepository: a chart repository served over HTTP
// (index.yaml and the archives it names): the bundle's version and a
// rollout's are downloaded, their digests checked and kept; a version the
// index lacks is tried again (it may be published later); an archive
// whose digest is not the index's, one larger than the bound and one whose
// values do not fit its schema are failed for good, with the reason.
func TestPrepareFromChartRepository(t *testing.T) {
	ctx := context.Background()
	eng, _ := testenv.Engine(t, false)
	pack := func(version string, extra map[string]string) []byte {
		t.Helper()
		files := chartFiles("hello", version, false)
		for k, v := range extra {
			files["hello/"+k] = v
		}
		var bf []*loader.BufferedFile
		for name, content := range files {
			if !strings.HasSuffix(name, ".helmignore") && !strings.HasSuffix(name, "notes.txt") {
				bf = append(bf, &loader.BufferedFile{Name: strings.TrimPrefix(name, "hello/"), Data: []byte(content)})
			}
		}
		ch, err := loader.LoadFiles(bf)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		path, err := chartutil.Save(ch, dir)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := pack("1.0.0", nil)
	other := pack("1.1.0", nil)
	schemaBad := pack("1.3.0", map[string]string{"values.schema.json": `{"type": "object", "properties": {"message": {"type": "integer"}}}`})
	big := make([]byte, edge.MaxChart+10)
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	index := fmt.Sprintf(`apiVersion: v1
entries:
  hello:
  - {version: 1.0.0, urls: [hello-1.0.0.tgz], digest: %s}
  - {version: 1.1.0, urls: [/charts/hello-1.1.0.tgz], digest: %s}
  - {version: 1.2.0, urls: [hello-1.2.0.tgz], digest: %s}
  - {version: 1.3.0, urls: [hello-1.3.0.tgz]}
  - {version: 1.4.0, urls: [hello-1.4.0.tgz]}
`, sum(good), sum(other), sum(good))
	files := map[string][]byte{"/charts/index.yaml": []byte(index), "/charts/hello-1.0.0.tgz": good, "/charts/hello-1.1.0.tgz": other,
		"/charts/hello-1.2.0.tgz": other, "/charts/hello-1.3.0.tgz": schemaBad, "/charts/hello-1.4.0.tgz": big}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b, ok := files[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	rollouts := ""
	for i, v := range []string{"1.1.0", "1.2.0", "1.3.0", "1.4.0", "9.9.9"} {
		rollouts += fmt.Sprintf(`,{"rollout-id": "r%d", "bundle": "hello", "version": %q, "stage": [{"group": "all", "order": 1}]}`, i, v)
	}
	if err := put(t, eng, "/fleet/v1.0.0", `{"bundle": [{"bundle-id": "hello", "chart": {"repository": "`+srv.URL+`/charts", "name": "hello", "version": "1.0.0"}}],
	  "cluster-group": [{"group-id": "all", "match-label": [{"name": "env", "value": "x"}]}],
	  "rollout": [`+rollouts[1:]+`]}`); err != nil {
		t.Fatal(err)
	}
	p, _ := newPreparer(t, eng)
	p.Pass(ctx)
	for v, want := range map[string]string{"1.0.0": "", "1.1.0": "", "1.2.0": "the index says", "1.3.0": "do not fit the chart",
		"1.4.0": "larger than", "9.9.9": "has no chart hello at version 9.9.9"} {
		got, ok, err := Lookup(eng.Meta(), "hello", v)
		switch {
		case err != nil || !ok:
			t.Errorf("%s: not recorded (%v)", v, err)
		case want == "" && (!got.Ok() || got.Chart.Version != v || got.Chart.Name != "hello"):
			t.Errorf("%s: %+v", v, got)
		case want != "" && (got.Ok() || !strings.Contains(got.Error, want)):
			t.Errorf("%s: %+v, want an error with %q", v, got, want)
		case want != "" && got.Transient != (v == "9.9.9"):
			t.Errorf("%s: transient %v", v, got.Transient)
		}
	}
	if got, _, _ := Lookup(eng.Meta(), "hello", "1.0.0"); got.Chart.Digest != edge.ChartDigest(good) {
		t.Fatalf("the digest %s", got.Chart.Digest)
	}
	// Published later: tried again after Retry.
	published := pack("9.9.9", nil)
	mu.Lock()
	files["/charts/hello-9.9.9.tgz"] = published
	files["/charts/index.yaml"] = []byte(index + "  - {version: 9.9.9, urls: [hello-9.9.9.tgz]}\n")
	mu.Unlock()
	p.Pass(ctx)
	if got, _, _ := Lookup(eng.Meta(), "hello", "9.9.9"); got.Ok() {
		t.Fatal("tried again before Retry")
	}
	later := p.Now().Add(Retry + 1)
	p.Now = func() time.Time { return later }
	p.Pass(ctx)
	if got, _, _ := Lookup(eng.Meta(), "hello", "9.9.9"); !got.Ok() {
		t.Fatalf("published later: %+v", got)
	}
}

// TestPrepareTargetValues: a chart is checked with the values every
// declared cluster would get (all its matching targets merged over the
// bundle's, in the targets' key order: a-prod, then b-east). A target
// whose values fail the chart's values.schema.json fails the version for
// good, naming the targets, and no site is sent it — not even one the
// target does not match; the same values on a target no cluster matches
// leave the version good.
func TestPrepareTargetValues(t *testing.T) {
	ctx := context.Background()
	eng, _ := testenv.Engine(t, false)
	Bind(eng)
	if err := put(t, eng, "/inventory/v1.0.0", sites); err != nil {
		t.Fatal(err)
	}
	srv := gitserver.Start(t)
	url := srv.Create(t, "apps")
	files := chartFiles("charts/hello", "0.1.0", false)
	files["charts/hello/values.schema.json"] = `{"type": "object", "properties": {"message": {"type": "string"}}}`
	rev := srv.Push(t, "apps", "main", files)
	bundle := func(id, zone string) string {
		return fmt.Sprintf(`{"bundle-id": %q, "git": {"repo": "apps", "path": "charts/hello"}, "values": "message: fine\n",
		  "target": [{"name": "a-prod", "match-label": [{"name": "env", "value": "production"}], "values": "message: prod\n"},
		             {"name": "b-east", "match-label": [{"name": "zone", "value": %q}], "values": "message: 5\n"}]}`, id, zone)
	}
	if err := put(t, eng, "/fleet/v1.0.0", fmt.Sprintf(`{"git-repo": [{"repo-id": "apps", "url": %q}], "bundle": [%s, %s]}`,
		url, bundle("hello", "east"), bundle("unmatched", "west"))); err != nil {
		t.Fatal(err)
	}
	p, repos := newPreparer(t, eng)
	o, _ := eng.Snapshot().Get(gitsource.RepoKey(eng.Schema().Set(fleet.SetName, ""), "apps"))
	if res, err := repos.Fetch(ctx, "apps", o, "webhook"); err != nil || res.Err != nil {
		t.Fatalf("fetch: %+v %v", res, err)
	}
	p.Pass(ctx)
	got, ok, _ := Lookup(eng.Meta(), "hello", rev)
	if !ok || got.Ok() || got.Transient || !strings.Contains(got.Error, "with the values of target a-prod, b-east merged") || !strings.Contains(got.Error, "do not fit the chart") {
		t.Fatalf("a target's values that fail the schema: %+v", got)
	}
	if why, failed := Blocked(eng.Meta(), "hello", rev); !failed || !strings.Contains(why, "target a-prod, b-east") {
		t.Fatalf("Blocked: %q %v", why, failed)
	}
	stage(t, eng, "hello", `[{"cluster": "prod-1", "staged-version": "`+rev+`"}, {"cluster": "prod-2", "staged-version": "`+rev+`"}]`)
	for _, c := range []string{"prod-1", "prod-2"} {
		if got := releases(t, eng, c); len(got) != 0 {
			t.Errorf("%s was sent %v", c, got)
		}
	}
	if got, ok, _ := Lookup(eng.Meta(), "unmatched", rev); !ok || !got.Ok() {
		t.Fatalf("bad values on a target no cluster matches: %+v", got)
	}
	stage(t, eng, "unmatched", `[{"cluster": "prod-1", "staged-version": "`+rev+`"}]`)
	if r := releases(t, eng, "prod-1")["unmatched"]; r.Values["message"] != "prod" {
		t.Errorf("prod-1's values: %v, want the prod target's", r.Values)
	}
}

// TestPrepareSeveralCharts: a bundle's path whose subdirectories are
// charts (a subdirectory without a Chart.yaml is not one) is prepared as
// one chart per directory, in name order, each the release
// <bundle>-<dir> at a site, with the values under its directory's name
// and the global ones (a target's merged first); a chart that does not
// render fails the version naming it, and nothing is sent; a chart
// removed from the path is no longer sent; the deployment's releases
// follow (Names); a directory whose release name Helm would refuse fails
// the version naming it.
func TestPrepareSeveralCharts(t *testing.T) {
	ctx := context.Background()
	eng, _ := testenv.Engine(t, false)
	Bind(eng)
	if err := put(t, eng, "/inventory/v1.0.0", sites); err != nil {
		t.Fatal(err)
	}
	srv := gitserver.Start(t)
	url := srv.Create(t, "apps")
	files := namedChart("core/web", "web", "0.1.0", false)
	maps.Copy(files, namedChart("core/db", "db", "0.2.0", false))
	files["core/docs/README.md"] = "not a chart\n"
	two := srv.Push(t, "apps", "main", files)
	if err := put(t, eng, "/fleet/v1.0.0", fmt.Sprintf(`{"git-repo": [{"repo-id": "apps", "url": %q}],
	  "bundle": [{"bundle-id": "core", "namespace": "core", "git": {"repo": "apps", "path": "core"},
	    "values": "global:\n  env: lab\ndb:\n  message: from-db\nweb:\n  message: from-web\n",
	    "target": [{"name": "prod", "match-label": [{"name": "env", "value": "production"}], "values": "web:\n  message: prod-web\n"}]}]}`, url)); err != nil {
		t.Fatal(err)
	}
	p, repos := newPreparer(t, eng)
	o, _ := eng.Snapshot().Get(gitsource.RepoKey(eng.Schema().Set(fleet.SetName, ""), "apps"))
	fetch := func(want string) {
		t.Helper()
		if res, err := repos.Fetch(ctx, "apps", o, "webhook"); err != nil || res.Err != nil || res.Revision != want {
			t.Fatalf("fetch: %+v %v", res, err)
		}
		p.Pass(ctx)
	}
	fetch(two)
	got, ok, err := Lookup(eng.Meta(), "core", two)
	if err != nil || !ok || !got.Ok() || len(got.Charts) != 2 || got.Charts[0].Dir != "db" || got.Charts[0].Chart.Name != "db" ||
		got.Charts[1].Dir != "web" || got.Charts[1].Chart.Version != "0.1.0" {
		t.Fatalf("the two charts: %+v %v %v", got, ok, err)
	}
	if names := Names(eng.Meta(), "core", two); !reflect.DeepEqual(names, []string{"core-db", "core-web"}) {
		t.Fatalf("Names: %v", names)
	}
	stage(t, eng, "core", `[{"cluster": "prod-1", "staged-version": "`+two+`"}, {"cluster": "stage-1", "staged-version": "`+two+`"}]`)
	objs, err := (source{}).Objects(eng.Schema(), eng.Snapshot(), "prod-1")
	if err != nil || len(objs) != 2 || objs[0].Name != "core-db" || objs[1].Name != "core-web" {
		t.Fatalf("prod-1's objects, in apply order: %v %v", objs, err)
	}
	rels := releases(t, eng, "prod-1")
	global := map[string]any{"env": "lab"}
	if db := rels["core-db"]; db.Chart != got.Charts[0].Chart || db.Version != two || db.Namespace != "core" ||
		!reflect.DeepEqual(db.Values, map[string]any{"message": "from-db", "global": global}) {
		t.Errorf("core-db at prod-1: %+v", db)
	}
	if web := rels["core-web"]; !reflect.DeepEqual(web.Values, map[string]any{"message": "prod-web", "global": global}) {
		t.Errorf("core-web at prod-1 (the prod target's value): %+v", web.Values)
	}
	if web := releases(t, eng, "stage-1")["core-web"]; web.Values["message"] != "from-web" {
		t.Errorf("core-web at stage-1: %+v", web.Values)
	}
	// Each chart rendered as its release, with its own values.
	archive, _ := edge.GetChart(eng.Meta(), got.Charts[1].Chart.Digest)
	if ch, err := loader.LoadArchive(bytes.NewReader(archive)); err != nil || ch.Metadata.Name != "web" {
		t.Fatalf("core-web's archive: %v", err)
	}

	// web does not render: the version fails naming it; nothing is sent.
	broken := srv.Push(t, "apps", "main", namedChart("core/web", "web", "0.1.1", true))
	fetch(broken)
	bad, ok, _ := Lookup(eng.Meta(), "core", broken)
	if !ok || bad.Ok() || bad.Transient || !strings.HasPrefix(bad.Error, "chart web: ") {
		t.Fatalf("a chart of the bundle that does not render: %+v", bad)
	}
	if why, failed := Blocked(eng.Meta(), "core", broken); !failed || !strings.Contains(why, "chart web: ") {
		t.Fatalf("Blocked: %q %v", why, failed)
	}
	stage(t, eng, "core", `[{"cluster": "prod-1", "staged-version": "`+broken+`"}]`)
	if got := releases(t, eng, "prod-1"); len(got) != 0 {
		t.Fatalf("a failed version was sent: %v", got)
	}

	// web removed from the path: only core-db is sent.
	one := srv.Delete(t, "apps", "main", "core/web")
	fetch(one)
	if names := Names(eng.Meta(), "core", one); !reflect.DeepEqual(names, []string{"core-db"}) {
		t.Fatalf("Names once web is removed: %v", names)
	}
	stage(t, eng, "core", `[{"cluster": "prod-1", "staged-version": "`+one+`", "active-version": "`+two+`"}]`)
	if got := releases(t, eng, "prod-1"); len(got) != 1 || got["core-db"].Version != one {
		t.Fatalf("prod-1 once web is removed: %v", got)
	}

	// A chart directory whose release name Helm would refuse.
	odd := srv.Push(t, "apps", "main", namedChart("core/Web_UI", "web", "0.1.0", false))
	fetch(odd)
	if bad, _, _ := Lookup(eng.Meta(), "core", odd); bad.Ok() || !strings.Contains(bad.Error, `chart Web_UI: its release "core-Web_UI" is not a Helm release name`) {
		t.Fatalf("a directory that is no release name: %+v", bad)
	}
}

// TestReleaseNameClash: bundle app's chart db and a bundle named app-db
// would be one Helm release. A version whose release names another
// bundle's prepared version uses at a cluster both reach fails, naming
// both bundles, the release and the cluster, and is not sent (the other
// bundle's release still is); where the two reach no common cluster both
// are prepared; once app's charts are known, a new bundle named app-web
// is refused at commit at its id.
func TestReleaseNameClash(t *testing.T) {
	ctx := context.Background()
	eng, _ := testenv.Engine(t, false)
	Bind(eng)
	if err := put(t, eng, "/inventory/v1.0.0", sites); err != nil {
		t.Fatal(err)
	}
	srv := gitserver.Start(t)
	url := srv.Create(t, "apps")
	files := namedChart("multi/web", "web", "0.1.0", false)
	maps.Copy(files, namedChart("multi/db", "db", "0.1.0", false))
	maps.Copy(files, chartFiles("one", "0.1.0", false))
	rev := srv.Push(t, "apps", "main", files)
	if err := put(t, eng, "/fleet/v1.0.0", fmt.Sprintf(`{"git-repo": [{"repo-id": "apps", "url": %q}],
	  "bundle": [{"bundle-id": "app-db", "git": {"repo": "apps", "path": "one"}},
	             {"bundle-id": "lab-db", "git": {"repo": "apps", "path": "one"}}]}`, url)); err != nil {
		t.Fatal(err)
	}
	stage(t, eng, "app-db", `[{"cluster": "prod-1", "staged-version": "`+rev+`"}]`)
	stage(t, eng, "lab-db", `[{"cluster": "prod-2", "staged-version": "`+rev+`"}]`)
	p, repos := newPreparer(t, eng)
	o, _ := eng.Snapshot().Get(gitsource.RepoKey(eng.Schema().Set(fleet.SetName, ""), "apps"))
	if res, err := repos.Fetch(ctx, "apps", o, "webhook"); err != nil || res.Err != nil {
		t.Fatalf("fetch: %+v %v", res, err)
	}
	p.Pass(ctx)
	if got, ok, _ := Lookup(eng.Meta(), "app-db", rev); !ok || !got.Ok() {
		t.Fatalf("app-db alone: %+v", got)
	}

	// app's chart db would be app-db's release at prod-1; lab's db is
	// lab-db's release too, but lab goes to stage-1 only.
	if err := put(t, eng, "/fleet/v1.0.0", `{"bundle": [{"bundle-id": "app", "git": {"repo": "apps", "path": "multi"}},
	  {"bundle-id": "lab", "git": {"repo": "apps", "path": "multi"}}]}`); err != nil {
		t.Fatal(err)
	}
	stage(t, eng, "app", `[{"cluster": "prod-1", "staged-version": "`+rev+`"}, {"cluster": "stage-1", "staged-version": "`+rev+`"}]`)
	stage(t, eng, "lab", `[{"cluster": "stage-1", "staged-version": "`+rev+`"}]`)
	p.Pass(ctx)
	bad, ok, _ := Lookup(eng.Meta(), "app", rev)
	if !ok || bad.Ok() || bad.Transient || !strings.Contains(bad.Error, `release "app-db" of bundle "app" is also a release of bundle "app-db", and both bundles reach cluster prod-1`) {
		t.Fatalf("app's clash with app-db: %+v", bad)
	}
	if why, failed := Blocked(eng.Meta(), "app", rev); !failed || !strings.Contains(why, `bundle "app-db"`) {
		t.Fatalf("Blocked: %q %v", why, failed)
	}
	if got := releases(t, eng, "prod-1"); len(got) != 1 || got["app-db"].Bundle != "app-db" {
		t.Fatalf("prod-1 gets app-db's release only: %v", got)
	}
	if got := releases(t, eng, "stage-1"); len(got) != 2 || got["lab-db"].Bundle != "lab" || got["lab-web"].Bundle != "lab" {
		t.Fatalf("stage-1 gets lab's releases, not the failed app's: %v", got)
	}
	if got, ok, _ := Lookup(eng.Meta(), "lab", rev); !ok || !got.Ok() {
		t.Fatalf("lab and lab-db reach no common cluster: %+v", got)
	}

	// lab's chart web is prepared: a bundle lab-web is refused at its id.
	err := put(t, eng, "/fleet/v1.0.0", `{"bundle": [{"bundle-id": "lab-web", "git": {"repo": "apps", "path": "one"}}]}`)
	if err == nil || !strings.Contains(err.Error(), "/fleet/v1.0.0/bundle/lab-web/bundle-id") ||
		!strings.Contains(err.Error(), `the Helm release name "lab-web" of bundle "lab"'s chart web`) {
		t.Fatalf("a bundle named as another's release: %v", err)
	}
	if _, ok := eng.Snapshot().Get(fleet.BundleKey(eng.Schema().Set(fleet.SetName, ""), "lab-web")); ok {
		t.Fatal("the refused bundle was committed")
	}
}
