package release

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/fleet/gitsource"
	"github.com/amp-edge/amp/internal/schema"
)

// Timing of the fleet-charts service: a pass at least every Every (at
// once when a fetch or a change wakes it), and a chart whose preparation
// failed for a passing reason tried again after Retry.
const (
	Every = 5 * time.Second
	Retry = 30 * time.Second
	// CollectEvery is how often the charts no version needs are removed
	// (Collect).
	CollectEvery = 10 * time.Minute
	// DownloadTimeout bounds one chart repository request.
	DownloadTimeout = time.Minute
)

var commit = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Preparer prepares the charts of the versions the fleet may stage: for a
// git bundle, the revision its repo was last fetched at and the versions
// its rollouts name (commits); for a chart-repository bundle, its chart's
// version and its rollouts' versions. Each is prepared once and recorded
// (Lookup); the edge source sends only prepared charts.
type Preparer struct {
	Engine  *config.Engine
	Repos   *gitsource.Repos
	Client  *http.Client
	Metrics *Metrics
	Log     *slog.Logger
	Now     func() time.Time

	mu    sync.Mutex
	trees map[string]observed // by repo id: the newest tree fetched
	done  map[string]bool     // chartKey → recorded for good
	later map[string]time.Time
	wake  chan struct{}
}

type observed struct {
	rev  string
	tree *object.Tree
}

// NewPreparer makes the preparer of eng's bundles, told of repos' fetches.
func NewPreparer(eng *config.Engine, repos *gitsource.Repos, m *Metrics, log *slog.Logger) *Preparer {
	p := &Preparer{Engine: eng, Repos: repos, Client: &http.Client{Timeout: DownloadTimeout}, Metrics: m, Log: log, Now: time.Now,
		trees: map[string]observed{}, done: map[string]bool{}, later: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	repos.Observe(p.observe)
	return p
}

// observe keeps a repo's newest fetched tree for the next pass and wakes
// it: a push costs one fetch, by the git source.
func (p *Preparer) observe(repo, rev string, tree *object.Tree) {
	p.mu.Lock()
	p.trees[repo] = observed{rev, tree}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run prepares until ctx ends.
func (p *Preparer) Run(ctx context.Context) error {
	t := time.NewTicker(Every)
	defer t.Stop()
	gc := time.NewTicker(CollectEvery)
	defer gc.Stop()
	for {
		p.Pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-t.C:
		case <-gc.C:
			if recs, archives, err := p.Collect(ctx); err != nil {
				p.Log.Warn("cannot collect unused charts", "error", err)
			} else if recs+archives > 0 {
				p.Log.Info("collected unused charts", "records", recs, "archives", archives)
			}
		}
	}
}

// want is one version of a bundle to prepare.
type want struct {
	bundle, version string
	tree            map[string]any // the bundle's configuration
}

// Pass prepares every wanted chart not prepared yet.
func (p *Preparer) Pass(ctx context.Context) {
	snap := p.Engine.Snapshot()
	set := snap.Schema().Set(fleet.SetName, "")
	if set == nil {
		return
	}
	for _, w := range wanted(snap, set) {
		key := chartKey(w.bundle, w.version)
		p.mu.Lock()
		skip := p.done[key] || p.Now().Before(p.later[key])
		p.mu.Unlock()
		if skip {
			continue
		}
		if had, ok, err := Lookup(p.Engine.Meta(), w.bundle, w.version); err == nil && ok && !had.Transient {
			if had.Ok() {
				announce(p.Engine, set, w) // by another replica, or before a restart
			}
			p.finish(key, true)
			continue
		}
		got := p.prepare(ctx, snap, set, w)
		if err := record(p.Engine.Meta(), w.bundle, w.version, got); err != nil {
			p.Log.Warn("cannot record a prepared chart", "bundle", w.bundle, "version", w.version, "error", err)
			p.finish(key, false)
			continue
		}
		outcome := "ok"
		switch {
		case got.Transient:
			outcome = "retry"
			p.Log.Warn("a bundle's chart is not prepared yet; trying again", "bundle", w.bundle, "version", w.version, "error", got.Error, "retry_in", Retry.String())
		case got.Error != "":
			outcome = "failed"
			p.Log.Warn("a bundle's chart cannot be released", "bundle", w.bundle, "version", w.version, "error", got.Error)
		default:
			for _, c := range got.Parts() {
				p.Log.Info("prepared a bundle's chart", "bundle", w.bundle, "version", w.version, "release", ReleaseName(w.bundle, c.Dir), "chart", c.Chart.Name, "chart_version", c.Chart.Version, "digest", c.Chart.Digest)
			}
		}
		p.Metrics.prepared.WithLabelValues(outcome).Inc()
		if got.Ok() {
			announce(p.Engine, set, w)
		}
		p.finish(key, !got.Transient)
	}
}

// announce tells the agent link that w's charts are prepared: the
// clusters staged at the version (or running it) get their release now.
// The charts are metadata, in no commit or state write the link hears of
// (only the rollouts' next write of the deployments' state would tell
// it), and the link rebuilds only the clusters a change names.
func announce(eng *config.Engine, set *schema.ModelSet, w want) {
	edge.Notify(eng, wire.KindHelmRelease, edge.Change{Key: fleet.BundleKey(set, w.bundle), Aside: w.version})
}

// finish marks key recorded for good, or to be tried again after Retry.
func (p *Preparer) finish(key string, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if final {
		p.done[key] = true
		delete(p.later, key)
		return
	}
	p.later[key] = p.Now().Add(Retry)
}

// wanted lists the versions of every bundle to prepare, in bundle then
// version order.
func wanted(snap *config.Snapshot, set *schema.ModelSet) []want {
	root := schema.RootKey(set, "")
	rollouts := map[string][]string{} // bundle → versions
	fleet.Children(snap, root+"/rollout/", func(_ string, o *config.Object) {
		b, _ := o.Data["bundle"].(string)
		v, _ := o.Data["version"].(string)
		if b != "" && v != "" {
			rollouts[b] = append(rollouts[b], v)
		}
	})
	var out []want
	fleet.Children(snap, root+"/bundle/", func(id string, o *config.Object) {
		tree, _ := snap.Tree(o)
		versions := map[string]bool{}
		if g, ok := tree["git"].(map[string]any); ok {
			repo, _ := g["repo"].(string)
			st, _ := snap.State.Get([]byte(gitsource.RepoKey(set, repo)))
			status, _ := st["status"].(map[string]any)
			if rev, _ := status["revision"].(string); rev != "" {
				versions[rev] = true
			}
		}
		if c, ok := tree["chart"].(map[string]any); ok {
			if v, _ := c["version"].(string); v != "" {
				versions[v] = true
			}
		}
		for _, v := range rollouts[id] {
			versions[v] = true
		}
		for _, d := range deployments(snap, o.Key) {
			if d.Staged != "" {
				versions[d.Staged] = true
			}
		}
		list := make([]string, 0, len(versions))
		for v := range versions {
			list = append(list, v)
		}
		sort.Strings(list)
		for _, v := range list {
			out = append(out, want{bundle: id, version: v, tree: tree})
		}
	})
	return out
}

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/fleet/release")

// prepare gets, checks and keeps one version's charts.
func (p *Preparer) prepare(ctx context.Context, snap *config.Snapshot, set *schema.ModelSet, w want) Prepared {
	ctx, span := tracer.Start(ctx, "fleet.chart.prepare", trace.WithAttributes(attribute.String("amp.bundle", w.bundle), attribute.String("amp.version", w.version)))
	defer span.End()
	out := Prepared{At: p.Now().UTC()}
	parts, err := p.charts(ctx, snap, set, w)
	if err == nil {
		err = clash(snap, set, p.Engine.Meta(), w.bundle, parts)
	}
	if err != nil {
		span.RecordError(err)
		out.Error, out.Transient = err.Error(), !isLasting(err)
		return out
	}
	if len(parts) == 1 && parts[0].Dir == "" {
		out.Chart = parts[0].Chart
	} else {
		out.Charts = parts
	}
	return out
}

// helmName is a Helm release name (Helm's own rule; at most 53).
var helmName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (p *Preparer) charts(ctx context.Context, snap *config.Snapshot, set *schema.ModelSet, w want) ([]Part, error) {
	archives, err := p.archives(ctx, snap, set, w)
	if err != nil {
		return nil, err
	}
	ns, _ := w.tree["namespace"].(string)
	if ns == "" {
		ns = "default"
	}
	// Checked with every distinct values a declared cluster gets (its
	// matching targets merged over the bundle's), so a target's values
	// that fail the chart's values.schema.json fail the version here,
	// before any site is sent it.
	targets, sets, err := valueSets(w.tree, fleet.ClusterLabels(snap))
	if err != nil {
		return nil, permanent("the bundle's values: %v", err)
	}
	var out []Part
	for _, a := range archives {
		name := ReleaseName(w.bundle, a.Dir)
		if a.Dir != "" && (len(name) > 53 || !helmName.MatchString(name)) {
			return nil, permanent("chart %s: its release %q is not a Helm release name (lower case letters, digits, '-' and '.', at most 53)", a.Dir, name)
		}
		var md *chart.Metadata
		for i, values := range sets {
			if md, err = check(a.Archive, name, ns, chartValues(values, a.Dir)); err != nil {
				err = inChart(a.Dir, err)
				if len(targets[i]) == 0 {
					return nil, err
				}
				return nil, permanent("with the values of target %s merged: %v", strings.Join(targets[i], ", "), err)
			}
		}
		digest, err := edge.PutChart(p.Engine.Meta(), a.Archive)
		if err != nil {
			return nil, err
		}
		out = append(out, Part{Dir: a.Dir, Chart: wire.Chart{Name: md.Name, Version: md.Version, Digest: digest}})
	}
	return out, nil
}

// inChart names the chart of a bundle of several in err, keeping it
// lasting or not.
func inChart(dir string, err error) error {
	if dir == "" {
		return err
	}
	if isLasting(err) {
		return permanent("chart %s: %v", dir, err)
	}
	return fmt.Errorf("chart %s: %w", dir, err)
}

// archives are the version's chart archives: packed from the bundle's
// path at the commit (one chart, or a directory of charts), or downloaded
// from its chart repository.
func (p *Preparer) archives(ctx context.Context, snap *config.Snapshot, set *schema.ModelSet, w want) ([]packed, error) {
	if c, ok := w.tree["chart"].(map[string]any); ok {
		repo, _ := c["repository"].(string)
		name, _ := c["name"].(string)
		archive, err := download(ctx, p.Client, repo, name, w.version)
		if err != nil {
			return nil, err
		}
		return []packed{{Archive: archive}}, nil
	}
	g, _ := w.tree["git"].(map[string]any)
	repo, _ := g["repo"].(string)
	dir, _ := g["path"].(string)
	if !commit.MatchString(w.version) {
		return nil, permanent("version %q is not a commit of repo %q (40 lowercase hex digits)", w.version, repo)
	}
	p.mu.Lock()
	seen := p.trees[repo]
	p.mu.Unlock()
	tree := seen.tree
	if seen.rev != w.version {
		// Not the commit last fetched (a rollout of an older commit, or
		// a fetch by another replica): from the repo's cache, or fetched.
		o, ok := snap.Get(gitsource.RepoKey(set, repo))
		if !ok {
			return nil, fmt.Errorf("repo %q is not declared", repo)
		}
		var err error
		if tree, err = p.Repos.FetchAt(ctx, repo, o, w.version); err != nil {
			return nil, err
		}
	}
	return packageCharts(tree, dir)
}
