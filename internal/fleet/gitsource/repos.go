package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// Poll intervals when a repo sets none, and the backoff after failures.
const (
	// PollWithWebhook: a repo with a webhook is polled only as the
	// fallback for a lost webhook.
	PollWithWebhook = time.Hour
	// PollWithout: a repo without one is polled every 5 minutes (Fleet's
	// default is 15 s: 240 times as many fetches).
	PollWithout = 5 * time.Minute
	// FirstRetry is the wait after a first failure; it doubles with each
	// failure in a row, up to the repo's interval.
	FirstRetry = 30 * time.Second
	// Rescan bounds how long a new or changed repo waits for its first
	// fetch (a pass reads the declared repos only).
	Rescan = 5 * time.Second
)

// Clock is the poller's time: the wall clock in amp serve, a fake in
// tests (so an hour of polling is tested without waiting an hour).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// WallClock is the real time.
type WallClock struct{}

func (WallClock) Now() time.Time                         { return time.Now() }
func (WallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Repos fetches the fleet set's repos of one engine, by webhook (Fetch)
// and by polling (Run), and records the results in their state. One
// repo's fetches run one at a time; a fetch by either trigger puts the
// repo's next poll one interval away, so a repo whose webhooks arrive is
// polled at most once an interval.
type Repos struct {
	Engine  *config.Engine
	Clock   Clock
	Fetcher func(ctx context.Context, src Source) (string, *object.Tree, error)
	Metrics *Metrics

	obsMu     sync.Mutex
	observers []func(repo, revision string, tree *object.Tree)

	rec   Recorder
	locks sync.Map // repo id → *sync.Mutex

	mu       sync.Mutex
	sched    map[string]*schedule
	cache    string // the repos' caches on disk: one bare repository each ("": in memory)
	restored bool   // the kept statuses and schedules read back (Poll's first pass)
}

// schedule is a repo's next poll.
type schedule struct {
	source   Source // as declared (no credentials), to notice a change
	next     time.Time
	failures int
	pinned   bool // a pinned revision fetched: nothing more to poll
}

var (
	reposMu sync.Mutex
	reposBy = map[*config.Engine]*Repos{}
)

// ReposFor returns the Repos of eng (made on first use, with the wall
// clock and go-git), shared by the webhook and the poller.
func ReposFor(eng *config.Engine, m *Metrics) *Repos {
	reposMu.Lock()
	defer reposMu.Unlock()
	if r, ok := reposBy[eng]; ok {
		return r
	}
	r := &Repos{Engine: eng, Clock: WallClock{}, Fetcher: Fetch, Metrics: m}
	reposBy[eng] = r
	return r
}

// CacheUnder keeps the repos' clones in dataDir/fleet-git (one bare
// repository per repo, <repo-id>.git), so a fetch, after a restart too,
// transfers only what is new. amp serve's services call it with the
// server's data directory before it serves; "" keeps them in memory.
func (r *Repos) CacheUnder(dataDir string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache = ""
	if dataDir != "" {
		r.cache = filepath.Join(dataDir, "fleet-git")
	}
}

// dirOf is repo id's cache ("": none).
func (r *Repos) dirOf(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache == "" {
		return ""
	}
	return filepath.Join(r.cache, id+".git") // a fleet-id is a safe file name
}

// Set is the newest fleet set the engine loaded (nil: none).
func Set(eng *config.Engine) *schema.ModelSet { return eng.Schema().Set("fleet", "") }

// Fetch fetches repo id (declared as o) now, records the result in its
// state and schedules its next poll.
func (r *Repos) Fetch(ctx context.Context, id string, o *config.Object, trigger string) (Result, error) {
	mu, _ := r.locks.LoadOrStore(id, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	declared := SourceOf(o)
	src, err := r.Resolve(o)
	if err != nil {
		return Result{}, err
	}
	src.Dir = r.dirOf(id)
	_, statErr := os.Stat(src.Dir)
	clone := src.Dir != "" && errors.Is(statErr, fs.ErrNotExist)
	fctx, received := CountBytes(ctx)
	rev, tree, err := r.Fetcher(fctx, src)
	if clone && err != nil {
		os.RemoveAll(src.Dir) // an empty cache: the next fetch is the clone
	}
	res := Result{Trigger: trigger, Revision: rev, Err: err, At: r.Clock.Now()}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	if r.Metrics != nil {
		r.Metrics.Fetches.WithLabelValues(id, trigger, outcome).Inc()
		r.Metrics.Received.WithLabelValues(id).Add(float64(received.Load()))
		if clone && err == nil {
			r.Metrics.Clones.WithLabelValues(id).Inc()
		}
	}
	r.reschedule(id, o, declared, res)
	recErr := r.rec.Record(context.WithoutCancel(ctx), r.Engine, Set(r.Engine), id, declared, res)
	// The observers are told after the revision is in the repo's state:
	// the charts' preparer, woken here, reads the revisions to prepare
	// from the state (told before, it found nothing new and prepared the
	// push only at its next pass, up to 5 s later).
	if err == nil && tree != nil {
		r.obsMu.Lock()
		obs := r.observers
		r.obsMu.Unlock()
		for _, fn := range obs {
			fn(id, rev, tree)
		}
	}
	return res, recErr
}

// FetchAt returns the tree of commit rev of repo id (declared as o): from
// its cache when the commit is there, else fetched (all its branches, as
// for a pinned revision). The repo's status is not changed: this is not
// the fetch of its branch.
func (r *Repos) FetchAt(ctx context.Context, id string, o *config.Object, rev string) (*object.Tree, error) {
	mu, _ := r.locks.LoadOrStore(id, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	src, err := r.Resolve(o)
	if err != nil {
		return nil, err
	}
	src.Branch, src.Revision, src.Dir = "", rev, r.dirOf(id)
	_, tree, err := r.Fetcher(ctx, src)
	return tree, err
}

// Resolve is what fetches repo o: its source with its credentials.
func (r *Repos) Resolve(o *config.Object) (Source, error) {
	src := SourceOf(o)
	if cred, _ := o.Data["credentials"].(string); cred != "" {
		s, _, err := Secrets{Meta: r.Engine.Meta()}.Get(cred)
		if err != nil {
			return Source{}, err
		}
		src.Credentials = s
	}
	return src, nil
}

// Observe has fn told of every successful fetch: the repo, the commit and
// its tree (in memory, read-only). The fleet's releases package the
// bundles' charts from it, so a push costs one fetch. fn must not block.
func (r *Repos) Observe(fn func(repo, revision string, tree *object.Tree)) {
	r.obsMu.Lock()
	defer r.obsMu.Unlock()
	r.observers = append(r.observers, fn)
}

func (r *Repos) reschedule(id string, o *config.Object, declared Source, res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sched == nil {
		r.sched = map[string]*schedule{}
	}
	s := r.sched[id]
	if s == nil || s.source != declared {
		s = &schedule{source: declared}
		r.sched[id] = s
	}
	every := Interval(o)
	if res.Err == nil {
		s.failures, s.next, s.pinned = 0, res.At.Add(every), declared.Revision != ""
		return
	}
	s.failures++
	wait := every
	if s.failures < 20 { // past that the shift would overflow; the interval caps it anyway
		wait = min(FirstRetry<<(s.failures-1), every)
	}
	s.next = res.At.Add(wait)
}

// Interval is how often repo o is polled: its poll-interval, else an
// hour with a webhook secret and 5 minutes without.
func Interval(o *config.Object) time.Duration {
	if v, ok := o.Data["poll-interval"]; ok {
		if n, err := strconv.ParseUint(fmt.Sprint(v), 10, 32); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	if s, _ := o.Data["webhook-secret"].(string); s != "" {
		return PollWithWebhook
	}
	return PollWithout
}

// Poll fetches every declared repo whose poll is due (a new or changed
// repo at once), forgets the repos no longer declared, and returns how
// long until the next is due (at most Rescan).
func (r *Repos) Poll(ctx context.Context) time.Duration {
	set := Set(r.Engine)
	if set == nil {
		return Rescan
	}
	snap := r.Engine.Snapshot()
	r.restore(ctx, set, snap)
	now := r.Clock.Now()
	prefix := schema.RootKey(set, "") + "/git-repo/"
	declared := map[string]bool{}
	var due []string
	objs := map[string]*config.Object{}
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		seg := string(k[len(prefix):])
		if strings.Contains(seg, "/") {
			continue
		}
		id, err := schema.UnescapeSegment(seg)
		if err != nil {
			continue
		}
		declared[id], objs[id] = true, o
		r.mu.Lock()
		s := r.sched[id]
		if s == nil || s.source != SourceOf(o) || (!s.pinned && !now.Before(s.next)) {
			due = append(due, id)
		}
		r.mu.Unlock()
	}
	for _, id := range due {
		if ctx.Err() != nil {
			return 0
		}
		r.Fetch(ctx, id, objs[id], "poll") // the outcome is in the repo's state
	}
	wait := Rescan
	var gone []string
	r.mu.Lock()
	for id, s := range r.sched {
		if !declared[id] {
			delete(r.sched, id)
			gone = append(gone, id)
			continue
		}
		if d := s.next.Sub(r.Clock.Now()); !s.pinned && d < wait {
			wait = max(d, 0)
		}
	}
	r.mu.Unlock()
	for _, id := range gone {
		r.forget(id)
	}
	return wait
}

// restore, on the first pass, reads back what was kept of each declared
// repo before a restart: its status is shown again at once, and a repo
// last fetched successfully from the same source is next polled one
// interval after that fetch, not at once (a restart costs no fetch). The
// kept records and caches of repos no longer declared are removed.
func (r *Repos) restore(ctx context.Context, set *schema.ModelSet, snap *config.Snapshot) {
	r.mu.Lock()
	done := r.restored
	r.restored = true
	r.mu.Unlock()
	if done {
		return
	}
	prefix := schema.RootKey(set, "") + "/git-repo/"
	declared := map[string]bool{}
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		seg := string(k[len(prefix):])
		id, err := schema.UnescapeSegment(seg)
		if strings.Contains(seg, "/") || err != nil {
			continue
		}
		declared[id] = true
		src := SourceOf(o)
		st, ok, err := r.rec.restore(ctx, r.Engine, set, id, src)
		if err != nil {
			slog.Warn("cannot show a repo's kept status", "repo", id, "error", err)
		}
		at, perr := time.Parse(time.RFC3339, fmt.Sprint(st["fetched-at"]))
		if !ok || perr != nil || st["last-error"] != nil {
			continue // fetched at once
		}
		r.mu.Lock()
		if r.sched == nil {
			r.sched = map[string]*schedule{}
		}
		r.sched[id] = &schedule{source: src, next: at.Add(Interval(o)), pinned: src.Revision != ""}
		r.mu.Unlock()
	}
	r.mu.Lock()
	root := r.cache
	r.mu.Unlock()
	if root != "" {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if id, ok := strings.CutSuffix(e.Name(), ".git"); ok && !declared[id] {
				r.forget(id)
			}
		}
	}
}

// forget removes what is kept of a repo no longer declared: its record
// and its cache.
func (r *Repos) forget(id string) {
	if err := r.Engine.Meta().DeleteMeta(keptKey(id)); err != nil {
		slog.Warn("cannot remove a repo's kept status", "repo", id, "error", err)
	}
	if dir := r.dirOf(id); dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			slog.Warn("cannot remove a repo's cache", "repo", id, "dir", dir, "error", err)
		}
	}
}

// Run polls until ctx ends.
func (r *Repos) Run(ctx context.Context) error {
	for {
		wait := r.Poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-r.Clock.After(wait):
		}
	}
}
