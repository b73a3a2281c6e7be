package probes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/edge/probes")

// DefaultWriteEvery bounds how often a probe's unchanged outcome is
// written to the store: a fleet of 1,000 sites pushing two results every
// 10 s would otherwise cost 200 store writes a second for nothing new.
// The metrics carry every result at once; an outcome that changes is
// written at once, so a restart never shows a stale outcome, only an
// older time.
const DefaultWriteEvery = time.Minute

// metaPrefix is the store metadata prefix of the results, one key per
// cluster: the embedded store does not keep operational state across a
// restart, so the results are kept here and put back at start-up.
const metaPrefix = "probe-results/"

// Results is the central end of the probes for one engine: the last
// result of every probe at every cluster, its metrics and its stored
// copy.
type Results struct {
	eng        *config.Engine
	m          *metrics
	log        *slog.Logger
	writeEvery time.Duration
	now        func() time.Time

	mu       sync.Mutex
	clusters map[string]*clusterResults
	loaded   bool
	// stale: enterprises whose probe-results state lags the memory;
	// wake tells the writer.
	stale map[string]bool
	wake  chan struct{}
}

// clusterResults is one cluster's last results, as stored in the
// metadata (JSON).
type clusterResults struct {
	Site       string             `json:"site,omitempty"`
	Enterprise string             `json:"enterprise,omitempty"`
	Probes     map[string]*stored `json:"probes"`
	// dirty: a result arrived since they were last stored.
	dirty bool
	// seq counts the changes (under Results.mu); storedSeq is the one
	// whose copy is stored (under storeMu), so the writer's round, which
	// stores outside Results.mu, never puts back an older copy over a
	// newer one stored meanwhile by Record.
	seq       uint64
	storeMu   sync.Mutex
	storedSeq uint64
}

// stored is a probe's last result, since when its outcome holds, and
// the probe's last gap.
type stored struct {
	wire.ProbeResult
	Since time.Time `json:"since"`
	// Every is the time between its last two runs that were not a gap:
	// the probe's interval as the site runs it.
	Every time.Duration `json:"every,omitempty"`
	Gap   *gap          `json:"gap,omitempty"`
}

// gap is a time AMP got no run of a probe for longer than usual.
type gap struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// GapAfter is the shortest silence of a probe taken for a gap; a probe
// run less often than every GapAfter/3 has gaps from three times its
// interval (known from its second result on).
const GapAfter = time.Minute

// follow carries prev's outcome time, interval and gap to s, the probe's
// next result, and says whether the time since prev's run is a new gap.
func (s *stored) follow(prev *stored) (newGap bool) {
	s.Every, s.Gap = prev.Every, prev.Gap
	d := s.At.Sub(prev.At)
	// After one run, the interval is not known yet: a probe run every
	// hour is not an hour's gap.
	if prev.Every > 0 && d > max(GapAfter, 3*prev.Every) {
		s.Gap = &gap{From: prev.At, To: s.At}
		return true
	}
	s.Every = d
	return false
}

var (
	forMu sync.Mutex
	byEng = map[*config.Engine]*Results{}
)

// For returns the results of eng, loaded from the store on first use,
// with its metrics registered with reg.
func For(eng *config.Engine, reg prometheus.Registerer) (*Results, error) {
	forMu.Lock()
	defer forMu.Unlock()
	if r, ok := byEng[eng]; ok {
		return r, r.load()
	}
	r := newResults(eng, metricsFor(reg))
	byEng[eng] = r
	go r.write(eng)
	// A load that fails is tried again at the next call.
	return r, r.load()
}

func newResults(eng *config.Engine, m *metrics) *Results {
	return &Results{eng: eng, m: m, log: slog.Default().With("component", "probes"), writeEvery: DefaultWriteEvery,
		now: time.Now, clusters: map[string]*clusterResults{}, stale: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// load reads the stored results (once), restores their metrics and puts
// them back as operational state.
func (r *Results) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded {
		return nil
	}
	defer func() {
		for ent := range r.stale {
			if err := r.writeStateLocked(context.Background(), ent); err != nil {
				r.log.Warn("cannot put the stored probe results back as operational state", "enterprise", ent, "error", err)
			}
		}
		clear(r.stale)
	}()
	err := r.eng.Meta().Metas(metaPrefix, func(key string, value []byte) error {
		var c clusterResults
		if err := json.Unmarshal(value, &c); err != nil {
			r.log.Warn("ignoring stored probe results that do not decode", "key", key, "error", err)
			return nil
		}
		id := strings.TrimPrefix(key, metaPrefix)
		if c.Probes == nil {
			c.Probes = map[string]*stored{}
		}
		r.clusters[id] = &c
		var newest time.Time
		for _, s := range c.Probes {
			r.m.set(id, &c, s)
			if s.At.After(newest) {
				newest = s.At
			}
		}
		r.m.updated(id, &c, newest)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the stored probe results: %w", err)
	}
	for _, c := range r.clusters {
		r.stale[c.Enterprise] = true
	}
	r.loaded = true
	return nil
}

// Outcomes of the results pushed (amp_edge_probe_results_total).
const (
	OutcomeAccepted = "accepted"
	OutcomeStale    = "stale"   // older than the probe's last result: kept out
	OutcomeRefused  = "refused" // a malformed push, or an undeclared cluster
)

// Refused counts a refused push's results (at least one).
func (r *Results) Refused(n int) { r.m.results.WithLabelValues(OutcomeRefused).Add(float64(max(n, 1))) }

// Record takes the results cluster id's agent pushed (checked by
// DecodePush), oldest first: each newer than the probe's last result
// becomes it, in the metrics at once. When an outcome changed or a probe
// is new, the cluster's results are stored at once (the push fails if
// they cannot be: the agent keeps them and pushes again) and its
// enterprise's probe-results state is written within a second (the
// writer coalesces a burst into one write); else both wait for the
// writer's next round (writeEvery). It returns how many it took.
func (r *Results) Record(ctx context.Context, id string, p *wire.ProbePush) (n int, err error) {
	ctx, span := tracer.Start(ctx, "probes.Record", trace.WithAttributes(attribute.String("amp.cluster", id), attribute.Int("amp.results", len(p.Results))))
	defer func() {
		if err != nil {
			span.RecordError(err)
		}
		span.SetAttributes(attribute.Int("amp.accepted", n))
		span.End()
	}()
	snap := r.eng.Snapshot()
	t, ok := clusterOf(r.eng.Schema(), snap, id)
	if !ok {
		r.Refused(len(p.Results))
		return 0, schema.Errorf(schema.KindNotFound, edge.LinkPath(id), "no cluster %q is declared", id)
	}
	r.mu.Lock()
	c := r.clusters[id]
	if c == nil {
		c = &clusterResults{Probes: map[string]*stored{}}
		r.clusters[id] = c
	}
	if c.Site != t.cluster.Site || c.Enterprise != t.enterprise {
		// Moved to another site or enterprise: its series move too, and
		// its results leave the former enterprise's state.
		for _, s := range c.Probes {
			r.m.forget(id, c, s.Probe)
		}
		r.m.forgetCluster(id, c)
		if len(c.Probes) > 0 && c.Enterprise != t.enterprise {
			r.stale[c.Enterprise] = true
		}
		c.Site, c.Enterprise = t.cluster.Site, t.enterprise
	}
	urgent := false
	var newest time.Time
	for _, res := range p.Results {
		prev := c.Probes[res.Probe]
		if prev != nil && !res.At.After(prev.At) {
			r.m.results.WithLabelValues(OutcomeStale).Inc()
			continue
		}
		s := &stored{ProbeResult: res, Since: r.now().UTC()}
		if prev != nil && s.follow(prev) {
			// Written at once, as a change of outcome is: a site back
			// from a silence must not look as if it never left.
			urgent = true
			r.log.Warn("probe results resume after a gap", "cluster", id, "site", c.Site, "enterprise", c.Enterprise, "probe", res.Probe,
				"from", s.Gap.From, "to", s.Gap.To, "seconds", s.Gap.To.Sub(s.Gap.From).Seconds())
		}
		if prev != nil && prev.OK == res.OK {
			s.Since = prev.Since
		} else {
			urgent = true
			r.log.Info("probe outcome", "cluster", id, "site", c.Site, "enterprise", c.Enterprise, "probe", res.Probe, "ok", res.OK, "message", res.Message)
		}
		c.Probes[res.Probe] = s
		r.m.set(id, c, s)
		r.m.results.WithLabelValues(OutcomeAccepted).Inc()
		if res.At.After(newest) {
			newest = res.At
		}
		n++
	}
	if n > 0 {
		r.m.updated(id, c, newest)
		c.dirty = true
		c.seq++
	}
	if urgent {
		err = r.storeLocked(id, c)
		r.stale[c.Enterprise] = true
	}
	r.mu.Unlock()
	if urgent {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return n, err
}

// storeLocked stores one cluster's results in the store's metadata, one
// key per cluster, so replicas on one store never overwrite each other's
// (r.mu held).
func (r *Results) storeLocked(id string, c *clusterResults) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := r.put(id, c, c.seq, b); err != nil {
		return err
	}
	c.dirty = false
	return nil
}

// put stores body, the copy of cluster id's results at change seq,
// unless a newer copy is stored already.
func (r *Results) put(id string, c *clusterResults, seq uint64, body []byte) error {
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	if c.storedSeq >= seq && seq > 0 {
		return nil
	}
	if err := r.eng.Meta().PutMeta(metaPrefix+id, body); err != nil {
		return &schema.Error{Kind: schema.KindUnavailable, Message: "probe results not stored: " + err.Error()}
	}
	c.storedSeq = seq
	r.m.writes.Inc()
	return nil
}

// writeStateLocked writes the probe-results state of an enterprise (the
// root of its tenant of the monitor set; of a global set, the set's
// root): every result of its clusters (r.mu held). Nothing is written
// when the monitor set is not loaded, or for a cluster at no
// enterprise's site in a tenant set: the metrics still carry them.
func (r *Results) writeStateLocked(ctx context.Context, enterprise string) error {
	set := r.eng.Schema().Set(SetName, "")
	if set == nil || set.Root.Child("probe-results") == nil || (!set.Global() && enterprise == "") {
		return nil
	}
	if !set.Global() && !r.eng.Snapshot().TargetExists(enterprise) {
		return nil
	}
	route, err := r.eng.Schema().ParseRoute(schema.RESTPrefix(set, enterprise) + "/probe-results")
	if err != nil {
		return err
	}
	loc, err := route.Resolve()
	if err != nil {
		return err
	}
	// Another replica's clusters (a shared store) keep their entries:
	// this one replaces those of the clusters it holds.
	var list []any
	st, _ := r.eng.Snapshot().State.Get([]byte(loc.ObjectKey))
	if pr, ok := st["probe-results"].(map[string]any); ok {
		old, _ := pr["result"].([]any)
		for _, e := range old {
			m, _ := e.(map[string]any)
			if id, _ := m["cluster"].(string); r.clusters[id] == nil {
				list = append(list, m) // canonical values are JSON terms (decimal64: a string)
			}
		}
	}
	for id, c := range r.clusters {
		if !set.Global() && c.Enterprise != enterprise {
			continue
		}
		for _, s := range c.Probes {
			e := map[string]any{
				"cluster": id, "probe": s.Probe, "kind": s.Kind, "ok": s.OK,
				"duration-seconds": fmt.Sprintf("%.6f", s.Duration),
				"at":               s.At.UTC().Format(time.RFC3339Nano), "since": s.Since.UTC().Format(time.RFC3339Nano),
			}
			if c.Site != "" {
				e["site"] = c.Site
			}
			if s.Target != "" {
				e["target"] = s.Target
			}
			if s.Message != "" {
				e["message"] = s.Message
			}
			if s.Gap != nil {
				e["gap"] = map[string]any{"from": s.Gap.From.UTC().Format(time.RFC3339Nano), "to": s.Gap.To.UTC().Format(time.RFC3339Nano)}
			}
			list = append(list, e)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i].(map[string]any), list[j].(map[string]any)
		if a["cluster"] != b["cluster"] {
			return a["cluster"].(string) < b["cluster"].(string)
		}
		return a["probe"].(string) < b["probe"].(string)
	})
	if len(list) == 0 {
		return r.eng.SetState(ctx, loc, config.OpDelete, nil)
	}
	// Through JSON text, so the decoder sees the values as a client's.
	b, err := json.Marshal(map[string]any{"result": list})
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	val, err := schema.DecodeJSON(loc.Node, v, loc.REST(), false, schema.DecodeOptions{AllowState: true})
	if err != nil {
		return err
	}
	return r.eng.SetState(ctx, loc, config.OpReplace, val)
}

// Flush stores every cluster's results not yet stored and writes the
// state of their enterprises.
//
// The clusters' copies are taken under r.mu but stored outside it: a
// round stores every cluster whose results arrived since the last (with
// 1,000 sites, 1,000 writes), and pushes must not wait for it.
func (r *Results) Flush(ctx context.Context) error {
	type copied struct {
		id   string
		c    *clusterResults
		seq  uint64
		body []byte
	}
	var errs []error
	var todo []copied
	r.mu.Lock()
	for id, c := range r.clusters {
		if c.dirty {
			b, err := json.Marshal(c)
			if err != nil {
				errs = append(errs, fmt.Errorf("cluster %s: %w", id, err))
				continue
			}
			todo = append(todo, copied{id, c, c.seq, b})
			c.dirty = false
			r.stale[c.Enterprise] = true
		}
	}
	r.mu.Unlock()
	for _, t := range todo {
		if err := r.put(t.id, t.c, t.seq, t.body); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", t.id, err))
			r.mu.Lock()
			t.c.dirty = true // the next round tries again
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	errs = append(errs, r.writeStaleLocked(ctx))
	r.mu.Unlock()
	return errors.Join(errs...)
}

// writeStaleLocked writes the state of the enterprises that lag (r.mu
// held); one that fails stays stale for the next round.
func (r *Results) writeStaleLocked(ctx context.Context) error {
	var errs []error
	for ent := range r.stale {
		if err := r.writeStateLocked(ctx, ent); err != nil {
			errs = append(errs, fmt.Errorf("enterprise %q: %w", ent, err))
			continue
		}
		delete(r.stale, ent)
	}
	return errors.Join(errs...)
}

// minStateGap coalesces the state writes a burst of changed outcomes
// asks for: at most one per enterprise a second.
const minStateGap = time.Second

// write is the writer: the state of enterprises whose outcomes changed,
// at most every minStateGap, and every writeEvery what is not yet
// stored; until the engine closes.
func (r *Results) write(eng *config.Engine) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	w, err := eng.Watch(ctx, eng.Snapshot().Index)
	if err != nil {
		r.log.Error("the probe results' writer cannot start; results are stored only when an outcome changes", "error", err)
		return
	}
	tick := time.NewTicker(r.writeEvery)
	defer tick.Stop()
	for {
		select {
		case _, ok := <-w.C: // only to learn that the engine closed
			if ok {
				continue
			}
			if errors.Is(w.Err(), config.ErrClosed) {
				return
			}
			if w, err = eng.Watch(ctx, eng.Snapshot().Index); err != nil {
				return
			}
		case <-r.wake:
			r.mu.Lock()
			err := r.writeStaleLocked(ctx)
			r.mu.Unlock()
			if err != nil {
				r.log.Warn("cannot write the probe results' state; retrying", "error", err)
			}
			time.Sleep(minStateGap)
		case <-tick.C:
			if err := r.Flush(ctx); err != nil {
				r.log.Warn("cannot store probe results; retrying at the next round", "error", err)
			}
		}
	}
}

// Run is the leader's service: it stores what is not yet stored when
// ctx ends (a clean stop loses nothing).
func (r *Results) Run(ctx context.Context) error {
	<-ctx.Done()
	if err := r.Flush(context.Background()); err != nil {
		r.log.Warn("cannot store the last probe results at shutdown", "error", err)
	}
	return nil
}
