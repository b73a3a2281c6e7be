package probes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
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
//
// A push locks its own cluster's results only (clusterResults.mu), and
// stores them, when it must, outside that lock: pushes of different
// clusters never wait for one another, nor for the writer, which copies
// what it writes cluster by cluster and writes it outside their locks.
type Results struct {
	eng        *config.Engine
	m          *metrics
	log        *slog.Logger
	writeEvery time.Duration
	now        func() time.Time

	// mu guards the map (a cluster enters it at its first push), not
	// the clusters' results.
	mu       sync.RWMutex
	clusters map[string]*clusterResults

	loadMu sync.Mutex
	loaded atomic.Bool

	// stale: enterprises whose probe-results state lags the memory;
	// wake tells the writer.
	staleMu sync.Mutex
	stale   map[string]bool
	wake    chan struct{}
	// stateMu orders the state writes: each writes a copy taken after
	// the previous one was written, so an older copy never replaces a
	// newer one.
	stateMu sync.Mutex
}

// clusterResults is one cluster's last results, as stored in the
// metadata (JSON).
type clusterResults struct {
	// mu guards the fields below it but storeMu and storedSeq.
	mu         sync.Mutex
	Site       string             `json:"site,omitempty"`
	Enterprise string             `json:"enterprise,omitempty"`
	Probes     map[string]*stored `json:"probes"`
	// dirty: a result arrived since they were last stored.
	dirty bool
	// seq counts the changes; storedSeq is the one whose copy is stored
	// (under storeMu), so a copy stored outside mu never puts back an
	// older copy over a newer one stored meanwhile.
	seq       uint64
	storeMu   sync.Mutex
	storedSeq uint64
	// series are the cluster's metric series at its site and
	// enterprise, looked up once rather than at every push (metrics.go).
	series clusterSeries
}

// stored is a probe's last result, since when its outcome holds, and
// the probe's last gap. It does not change once it is a cluster's (a
// newer result replaces it), so copying a cluster's pointers to them
// copies its results.
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
	byEng sync.Map // *config.Engine → *Results, added under forMu
)

// For returns the results of eng, loaded from the store on first use,
// with its metrics registered with reg. Every push asks: once loaded,
// it takes no lock.
func For(eng *config.Engine, reg prometheus.Registerer) (*Results, error) {
	if v, ok := byEng.Load(eng); ok {
		r := v.(*Results)
		return r, r.load()
	}
	forMu.Lock()
	r, ok := byEng.Load(eng)
	if !ok {
		r = newResults(eng, metricsFor(reg))
		byEng.Store(eng, r)
		go r.(*Results).write(eng)
	}
	forMu.Unlock()
	// A load that fails is tried again at the next call.
	return r.(*Results), r.(*Results).load()
}

func newResults(eng *config.Engine, m *metrics) *Results {
	return &Results{eng: eng, m: m, log: slog.Default().With("component", "probes"), writeEvery: DefaultWriteEvery,
		now: time.Now, clusters: map[string]*clusterResults{}, stale: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// load reads the stored results (once), restores their metrics and puts
// them back as operational state (an enterprise whose state cannot be
// written yet is left to the writer).
func (r *Results) load() error {
	if r.loaded.Load() {
		return nil
	}
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	if r.loaded.Load() {
		return nil
	}
	read := map[string]*clusterResults{}
	err := r.eng.Meta().Metas(metaPrefix, func(key string, value []byte) error {
		c := &clusterResults{}
		if err := json.Unmarshal(value, c); err != nil {
			r.log.Warn("ignoring stored probe results that do not decode", "key", key, "error", err)
			return nil
		}
		if c.Probes == nil {
			c.Probes = map[string]*stored{}
		}
		read[strings.TrimPrefix(key, metaPrefix)] = c
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the stored probe results: %w", err)
	}
	r.mu.Lock()
	for id, c := range read {
		r.clusters[id] = c
		var newest time.Time
		for _, s := range c.Probes {
			r.m.set(id, c, s)
			if s.At.After(newest) {
				newest = s.At
			}
		}
		r.m.updated(id, c, newest)
		r.markStale(c.Enterprise)
	}
	r.mu.Unlock()
	r.loaded.Store(true)
	if err := r.writeStale(context.Background()); err != nil {
		r.log.Warn("cannot put the stored probe results back as operational state yet; retrying", "error", err)
	}
	return nil
}

// Outcomes of the results pushed (amp_edge_probe_results_total).
const (
	OutcomeAccepted = "accepted"
	OutcomeStale    = "stale"   // older than the probe's last result: kept out
	OutcomeRefused  = "refused" // a malformed push, or an undeclared cluster
)

// Refused counts a refused push's results (at least one).
func (r *Results) Refused(n int) { r.m.refused.Add(float64(max(n, 1))) }

// Record takes the results cluster id's agent pushed (checked by
// DecodePush), oldest first: each newer than the probe's last result
// becomes it, in the metrics at once. When an outcome changed or a probe
// is new, the cluster's results are stored at once (the push fails if
// they cannot be: the agent keeps them and pushes again) and its
// enterprise's probe-results state is written within a second (the
// writer coalesces a burst into one write); else both wait for the
// writer's next round (writeEvery). It returns how many it took.
func (r *Results) Record(ctx context.Context, id string, p *wire.ProbePush) (int, error) {
	_, span := tracer.Start(ctx, "probes.Record")
	n, err := r.record(id, p)
	// The attributes only for a span that is kept: an unsampled push's
	// span costs no allocation.
	if span.IsRecording() {
		span.SetAttributes(attribute.String("amp.cluster", id), attribute.Int("amp.results", len(p.Results)), attribute.Int("amp.accepted", n))
		if err != nil {
			span.RecordError(err)
		}
	}
	span.End()
	return n, err
}

func (r *Results) record(id string, p *wire.ProbePush) (n int, err error) {
	site, enterprise, ok := Placement(r.eng.Schema(), r.eng.Snapshot(), id)
	if !ok {
		r.Refused(len(p.Results))
		return 0, schema.Errorf(schema.KindNotFound, edge.LinkPath(id), "no cluster %q is declared", id)
	}
	c := r.cluster(id)
	c.mu.Lock()
	if c.Site != site || c.Enterprise != enterprise {
		// Moved to another site or enterprise: its series move too, and
		// its results leave the former enterprise's state.
		r.m.forgetCluster(id, c)
		if len(c.Probes) > 0 && c.Enterprise != enterprise {
			r.markStale(c.Enterprise)
		}
		c.Site, c.Enterprise = site, enterprise
	}
	urgent := false
	var newest time.Time
	for _, res := range p.Results {
		prev := c.Probes[res.Probe]
		if prev != nil && !res.At.After(prev.At) {
			r.m.stale.Inc()
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
		r.m.accepted.Inc()
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
	if !urgent {
		c.mu.Unlock()
		return n, nil
	}
	// Stored now, outside the lock: other pushes of the cluster need not
	// wait for the store's write (the sequence number keeps an older
	// copy from being stored over this one).
	body, err := json.Marshal(c)
	seq, ent := c.seq, c.Enterprise
	c.mu.Unlock()
	if err == nil {
		err = r.put(id, c, seq, body)
	}
	if err == nil {
		c.mu.Lock()
		if c.seq == seq {
			c.dirty = false
		}
		c.mu.Unlock()
	}
	r.markStale(ent)
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return n, err
}

// cluster returns cluster id's results, new and empty at its first push.
func (r *Results) cluster(id string) *clusterResults {
	r.mu.RLock()
	c := r.clusters[id]
	r.mu.RUnlock()
	if c != nil {
		return c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c = r.clusters[id]; c == nil {
		c = &clusterResults{Probes: map[string]*stored{}}
		r.clusters[id] = c
	}
	return c
}

// markStale notes that enterprise's probe-results state lags.
func (r *Results) markStale(enterprise string) {
	r.staleMu.Lock()
	r.stale[enterprise] = true
	r.staleMu.Unlock()
}

// put stores body, the copy of cluster id's results at change seq, in
// the store's metadata, one key per cluster, so replicas on one store
// never overwrite each other's; unless a newer copy is stored already.
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

// placed is a copy of one cluster's results, as a state write needs it.
type placed struct {
	site, enterprise string
	probes           []*stored
}

// copyResults copies every cluster's results, one cluster's lock at a
// time: pushes wait for no more than the copy of their own cluster's.
func (r *Results) copyResults() map[string]placed {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]placed, len(r.clusters))
	for id, c := range r.clusters {
		c.mu.Lock()
		p := placed{site: c.Site, enterprise: c.Enterprise, probes: make([]*stored, 0, len(c.Probes))}
		for _, s := range c.Probes {
			p.probes = append(p.probes, s)
		}
		c.mu.Unlock()
		out[id] = p
	}
	return out
}

// writeState writes the probe-results state of an enterprise (the root
// of its tenant of the monitor set; of a global set, the set's root):
// every result of its clusters in held, a copy of the results. Nothing
// is written when the monitor set is not loaded, or for a cluster at no
// enterprise's site in a tenant set: the metrics still carry them.
func (r *Results) writeState(ctx context.Context, enterprise string, held map[string]placed) error {
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
			if id, _ := m["cluster"].(string); !isHeld(held, id) {
				list = append(list, m) // canonical values are JSON terms (decimal64: a string)
			}
		}
	}
	for id, c := range held {
		if !set.Global() && c.enterprise != enterprise {
			continue
		}
		for _, s := range c.probes {
			e := map[string]any{
				"cluster": id, "probe": s.Probe, "kind": s.Kind, "ok": s.OK,
				"duration-seconds": fmt.Sprintf("%.6f", s.Duration),
				"at":               s.At.UTC().Format(time.RFC3339Nano), "since": s.Since.UTC().Format(time.RFC3339Nano),
			}
			if c.site != "" {
				e["site"] = c.site
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

func isHeld(held map[string]placed, id string) bool {
	_, ok := held[id]
	return ok
}

// copied is a copy of a cluster's results to store.
type copied struct {
	id   string
	c    *clusterResults
	seq  uint64
	body []byte
}

// Flush stores every cluster's results not yet stored and writes the
// state of their enterprises.
//
// The clusters' copies are taken under each cluster's lock in turn and
// stored outside it: a round stores every cluster whose results arrived
// since the last (with 1,000 sites, 1,000 keys), and pushes must not
// wait for it. A store that writes many keys at once (store.MetaBatch)
// takes them in one write, not one sync each.
func (r *Results) Flush(ctx context.Context) error {
	var errs []error
	var todo []copied
	r.mu.RLock()
	for id, c := range r.clusters {
		c.mu.Lock()
		if c.dirty {
			b, err := json.Marshal(c)
			if err != nil {
				errs = append(errs, fmt.Errorf("cluster %s: %w", id, err))
			} else {
				todo = append(todo, copied{id, c, c.seq, b})
				c.dirty = false
				r.markStale(c.Enterprise)
			}
		}
		c.mu.Unlock()
	}
	r.mu.RUnlock()
	failed := func(t copied) {
		t.c.mu.Lock()
		t.c.dirty = true // the next round tries again
		t.c.mu.Unlock()
	}
	if b, ok := r.eng.Meta().(store.MetaBatch); ok && len(todo) > 1 {
		if err := r.putAll(b, todo); err != nil {
			errs = append(errs, err)
			for _, t := range todo {
				failed(t)
			}
		}
	} else {
		for _, t := range todo {
			if err := r.put(t.id, t.c, t.seq, t.body); err != nil {
				errs = append(errs, fmt.Errorf("cluster %s: %w", t.id, err))
				failed(t)
			}
		}
	}
	errs = append(errs, r.writeStale(ctx))
	return errors.Join(errs...)
}

// putAll stores the copies in one batch, each unless a newer copy of its
// cluster is stored already: as put, but holding every cluster's
// storeMu (taken in cluster order, so two rounds never deadlock) until
// the batch is written.
func (r *Results) putAll(b store.MetaBatch, todo []copied) error {
	slices.SortFunc(todo, func(a, b copied) int { return strings.Compare(a.id, b.id) })
	kvs := make(map[string][]byte, len(todo))
	for _, t := range todo {
		t.c.storeMu.Lock()
		if t.c.storedSeq < t.seq {
			kvs[metaPrefix+t.id] = t.body
		}
	}
	err := b.PutMetas(kvs)
	for _, t := range todo {
		if err == nil {
			t.c.storedSeq = max(t.c.storedSeq, t.seq)
		}
		t.c.storeMu.Unlock()
	}
	if err != nil {
		return &schema.Error{Kind: schema.KindUnavailable, Message: fmt.Sprintf("probe results of %d clusters not stored: %v", len(kvs), err)}
	}
	r.m.writes.Add(float64(len(kvs)))
	return nil
}

// writeStale writes the state of the enterprises that lag, from one
// copy of the results; one that fails stays stale for the next round.
func (r *Results) writeStale(ctx context.Context) error {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	r.staleMu.Lock()
	ents := make([]string, 0, len(r.stale))
	for ent := range r.stale {
		ents = append(ents, ent)
	}
	clear(r.stale)
	r.staleMu.Unlock()
	if len(ents) == 0 {
		return nil
	}
	held := r.copyResults()
	var errs []error
	for _, ent := range ents {
		if err := r.writeState(ctx, ent, held); err != nil {
			errs = append(errs, fmt.Errorf("enterprise %q: %w", ent, err))
			r.markStale(ent)
		}
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
			if err := r.writeStale(ctx); err != nil {
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
