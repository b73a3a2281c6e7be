package gitsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/gitserver"
	"github.com/amp-edge/amp/models"
)

// fakeClock is moved by the test; Poll is called directly, so After is
// never waited on.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time                       { return c.t }
func (c *fakeClock) After(time.Duration) <-chan time.Time { return nil }

// declare merges body into the fleet set's root.
func declare(t *testing.T, eng *config.Engine, body string) {
	t.Helper()
	route, err := eng.Schema().ParseRoute("/fleet/v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := route.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), false, schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Principal: "test", Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}}}); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookModeFetchCount: 100 repos with webhooks, three simulated
// hours (an injected clock, polled every simulated minute), a push to
// half of them every hour: each push costs exactly one fetch, and no repo
// is polled more than once an hour (its first poll, when declared,
// included). Fleet's default of a poll every 15 s would cost 24,000
// fetches an hour. The fetches are real (go-git, file://).
func TestWebhookModeFetchCount(t *testing.T) {
	ctx := context.Background()
	gs := gitserver.Start(t)
	gs.Create(t, "apps")
	gs.Push(t, "apps", "main", map[string]string{"a": "1"})
	url := "file://" + filepath.Join(gs.Root, "apps.git")
	eng, _ := testenv.Engine(t, false)
	const repos = 100
	var list []string
	for i := range repos {
		list = append(list, fmt.Sprintf(`{"repo-id": "r%d", "url": %q, "webhook-secret": "hook"}`, i, url))
	}
	declare(t, eng, `{"git-repo": [`+strings.Join(list, ",")+`]}`)
	clock := &fakeClock{time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	m := MetricsFor(prometheus.NewRegistry())
	r := &Repos{Engine: eng, Clock: clock, Fetcher: Fetch, Metrics: m}
	set := Set(eng)

	pushes := 0
	pollsInHour := map[string]int{} // "repo hour" → polls
	const hours = 3
	for minute := range hours * 60 {
		if minute%60 == 10 { // a push to the even repos, each announced by its webhook
			gs.Push(t, "apps", "main", map[string]string{"a": fmt.Sprint(minute)})
			for i := 0; i < repos; i += 2 {
				id := fmt.Sprintf("r%d", i)
				o, _ := eng.Snapshot().Get(RepoKey(set, id))
				if res, err := r.Fetch(ctx, id, o, "webhook"); err != nil || res.Err != nil {
					t.Fatalf("webhook fetch of %s: %v %v", id, err, res.Err)
				}
				pushes++
			}
		}
		before := map[string]float64{}
		for i := range repos {
			id := fmt.Sprintf("r%d", i)
			before[id] = testutil.ToFloat64(m.Fetches.WithLabelValues(id, "poll", "ok"))
		}
		r.Poll(ctx)
		for i := range repos {
			id := fmt.Sprintf("r%d", i)
			if testutil.ToFloat64(m.Fetches.WithLabelValues(id, "poll", "ok")) > before[id] {
				pollsInHour[fmt.Sprintf("%s %d", id, minute/60)]++
			}
		}
		clock.t = clock.t.Add(time.Minute)
	}
	var polls, webhooks float64
	for i := range repos {
		id := fmt.Sprintf("r%d", i)
		polls += testutil.ToFloat64(m.Fetches.WithLabelValues(id, "poll", "ok"))
		webhooks += testutil.ToFloat64(m.Fetches.WithLabelValues(id, "webhook", "ok"))
	}
	for k, n := range pollsInHour {
		if n > 1 {
			t.Errorf("repo hour %s: %d polls, want at most one", k, n)
		}
	}
	if webhooks != float64(pushes) || polls > repos*hours {
		t.Errorf("%d pushes cost %v webhook fetches (want one each) and %v polls (want at most %d)", pushes, webhooks, polls, repos*hours)
	}
	t.Logf("%d repos, %d h: %v fetches for %d pushes + %v polls (Fleet's 15 s default: %d)", repos, hours, webhooks+polls, pushes, polls, repos*hours*240)
}

// TestPollBackoff: a repo that cannot be fetched is retried after 30 s,
// then twice as long each time, up to its interval (5 minutes without a
// webhook); the first success goes back to the interval.
func TestPollBackoff(t *testing.T) {
	ctx := context.Background()
	eng, _ := testenv.Engine(t, false)
	declare(t, eng, `{"git-repo": [{"repo-id": "gone", "url": "file:///nonexistent/repo.git"}]}`)
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{start}
	var at []time.Duration
	ok := false
	r := &Repos{Engine: eng, Clock: clock, Fetcher: func(ctx context.Context, src Source) (string, *object.Tree, error) {
		at = append(at, clock.t.Sub(start))
		if ok {
			return strings.Repeat("a", 40), nil, nil
		}
		return Fetch(ctx, src)
	}}
	for clock.t.Sub(start) < 20*time.Minute {
		if clock.t.Sub(start) >= 17*time.Minute {
			ok = true
		}
		r.Poll(ctx)
		clock.t = clock.t.Add(10 * time.Second)
	}
	want := []time.Duration{0, 30 * time.Second, 90 * time.Second, 210 * time.Second, 450 * time.Second, 750 * time.Second, 1050 * time.Second}
	if fmt.Sprint(at) != fmt.Sprint(want) {
		t.Errorf("fetched at %v, want %v (30 s, 1 min, 2 min, 4 min, then the 5 min interval; a success at 17.5 min; next at 22.5)", at, want)
	}
}

// TestCacheAcrossRestart: a repo fetched by webhook into its cache on
// disk, from real git over smart HTTP (git http-backend on loopback). N
// pushes cost N fetches and one clone; after a restart (a new engine on
// the same store, new Repos on the same data dir) the status shows the
// same revision and count before any fetch, the restart itself fetches
// nothing, and the next push is fetched without a clone. A repo no longer
// declared loses its cache.
func TestCacheAcrossRestart(t *testing.T) {
	ctx := context.Background()
	gs := gitserver.Start(t)
	url := gs.Create(t, "apps")
	storeDir, dataDir := t.TempDir(), t.TempDir()
	clock := &fakeClock{time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}

	eng, stop := openEngine(t, storeDir)
	declare(t, eng, fmt.Sprintf(`{"git-repo": [{"repo-id": "apps", "url": %q, "webhook-secret": "hook"}]}`, url))
	start := func(eng *config.Engine) (*Repos, *Metrics) {
		m := MetricsFor(prometheus.NewRegistry())
		r := &Repos{Engine: eng, Clock: clock, Fetcher: Fetch, Metrics: m}
		r.CacheUnder(dataDir)
		return r, m
	}
	r, m := start(eng)
	big := make([]byte, 64<<10) // incompressible: a clone costs at least this much
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	const pushes = 5
	var rev string
	for i := range pushes {
		files := map[string]string{"a": fmt.Sprint(i)}
		if i == 0 {
			files["blob"] = string(big)
		}
		rev = gs.Push(t, "apps", "main", files)
		o, _ := eng.Snapshot().Get(RepoKey(Set(eng), "apps"))
		if res, err := r.Fetch(ctx, "apps", o, "webhook"); err != nil || res.Err != nil || res.Revision != rev {
			t.Fatalf("webhook fetch %d: %+v, %v; want revision %s", i, res, err, rev)
		}
		clock.t = clock.t.Add(time.Minute)
	}
	if f, c := testutil.ToFloat64(m.Fetches.WithLabelValues("apps", "webhook", "ok")), testutil.ToFloat64(m.Clones.WithLabelValues("apps")); f != pushes || c != 1 {
		t.Errorf("%d pushes: %v fetches and %v clones, want %d and 1", pushes, f, c, pushes)
	}
	if n := testutil.ToFloat64(m.Received.WithLabelValues("apps")); n < float64(len(big)) {
		t.Errorf("the clone and %d fetches received %v bytes, fewer than the repo holds (%d): the count is wrong", pushes-1, n, len(big))
	}
	checkStatus(t, eng, rev, pushes)
	stop()

	eng, _ = openEngine(t, storeDir) // the restart
	r, m = start(eng)
	r.Poll(ctx)
	checkStatus(t, eng, rev, pushes)
	if n := testutil.CollectAndCount(m.Fetches); n != 0 {
		t.Errorf("the restart cost %d fetches, want none (the last was a minute ago, the interval is an hour)", n)
	}
	rev = gs.Push(t, "apps", "main", map[string]string{"a": "after"})
	o, _ := eng.Snapshot().Get(RepoKey(Set(eng), "apps"))
	if res, err := r.Fetch(ctx, "apps", o, "webhook"); err != nil || res.Err != nil || res.Revision != rev {
		t.Fatalf("webhook fetch after the restart: %+v, %v; want %s", res, err, rev)
	}
	if c, n := testutil.ToFloat64(m.Clones.WithLabelValues("apps")), testutil.ToFloat64(m.Received.WithLabelValues("apps")); c != 0 || n > 8<<10 {
		t.Errorf("the fetch after the restart: %v clones, %v bytes received; want none, and only the new commit's objects (the repo holds %d incompressible bytes)", c, n, len(big))
	}
	checkStatus(t, eng, rev, pushes+1)
	clock.t = clock.t.Add(PollWithWebhook)
	r.Poll(ctx)
	if p := testutil.ToFloat64(m.Fetches.WithLabelValues("apps", "poll", "ok")); p != 1 {
		t.Errorf("an hour later: %v polls, want 1", p)
	}

	declare(t, eng, `{"git-repo": [{"repo-id": "other", "url": "file:///nonexistent/other.git"}]}`)
	deleteRepo(t, eng, "apps")
	r.Poll(ctx)
	if _, err := os.Stat(filepath.Join(dataDir, "fleet-git", "apps.git")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the cache of a repo no longer declared: %v, want it removed", err)
	}
}

// openEngine opens an engine on the bolt store in dir; stop closes both.
func openEngine(t *testing.T, dir string) (eng *config.Engine, stop func()) {
	t.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	eng, err = config.Open(sch, st, config.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { eng.Close(); st.Close() }) }
	t.Cleanup(stop)
	return eng, stop
}

// checkStatus fails unless repo apps's status shows rev and count fetches.
func checkStatus(t *testing.T, eng *config.Engine, rev string, count int) {
	t.Helper()
	st, _ := eng.Snapshot().State.Get([]byte(RepoKey(Set(eng), "apps")))
	status, _ := st["status"].(map[string]any)
	if status["revision"] != rev || fmt.Sprint(status["fetch-count"]) != fmt.Sprint(count) {
		t.Errorf("status = %v, want revision %s and fetch-count %d", status, rev, count)
	}
}

// deleteRepo removes the declaration of repo id.
func deleteRepo(t *testing.T, eng *config.Engine, id string) {
	t.Helper()
	route, err := eng.Schema().ParseRoute(RepoPath(Set(eng), id))
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
