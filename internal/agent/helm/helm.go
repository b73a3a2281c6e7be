// Package helm is the edge agent's Helm applier (kind helm-release,
// docs/lifecycle.md "Releases at the site"): it keeps each release AMP
// names installed at the version its spec says, with the Helm SDK against
// the site's own Kubernetes API. It installs, upgrades, goes back (a
// rollback to the newest revision that ran exactly this spec, else an
// upgrade), uninstalls what AMP no longer names, recovers a release an
// interrupted agent left pending, detects and corrects drift of the
// release's objects, and judges readiness as Kubernetes does.
//
// Applied means the release is deployed with this spec, read back from
// Helm's storage; readiness is reported beside it (wire.ObjectStatus.Ready)
// with the reason when not ready. An object fails, with the reason, when
// its chart cannot be had or does not match the spec, when the chart does
// not render or its values fail the chart's values.schema.json (then
// nothing at the site changed), when a pod crash-loops, when it is not
// ready within the spec's timeout, or when its Helm tests fail.
//
// The releases AMP manages are those whose chart carries the annotation
// amp.edge/spec-digest (set by this applier): Prune never touches another.
//
// It imports the Helm SDK, client-go, internal/agent/apply and
// internal/edge/wire.
package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/edge/wire"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/agent/helm")

// The chart annotations the applier sets on what it installs: the
// object's spec digest (which release revision ran exactly this spec) and
// the bundle and version it carries.
const (
	AnnotationSpec    = "amp.edge/spec-digest"
	AnnotationBundle  = "amp.edge/bundle"
	AnnotationVersion = "amp.edge/bundle-version"
)

// DefaultTimeout bounds an operation and the wait for readiness after it
// when the spec names none.
const DefaultTimeout = 5 * time.Minute

// maxHistory is the revisions Helm keeps per release: enough to go back
// a few versions by rollback.
const maxHistory = 10

// ChartSource gives chart archives by digest ("sha256:<hex>").
type ChartSource interface {
	Chart(ctx context.Context, digest string) ([]byte, error)
}

// Options configure New.
type Options struct {
	Config  *rest.Config // the site's Kubernetes API
	Charts  ChartSource
	Log     *slog.Logger
	Metrics *Metrics // nil: none
	// Poll is how often readiness is read while waiting (0: 1 s).
	Poll time.Duration
}

// Applier is the helm-release applier.
type Applier struct {
	o      Options
	log    *slog.Logger
	client kubernetes.Interface
	disc   *discoveryCache

	mu       sync.Mutex
	configs  map[string]*action.Configuration // by namespace ("" lists all)
	observed map[string]observation
}

// observation is what the last Apply of a release found.
type observation struct {
	ready   *bool
	version string
	reason  string
}

// New is the applier of the site o.Config reaches.
func New(o Options) (*Applier, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	cs, err := kubernetes.NewForConfig(o.Config)
	if err != nil {
		return nil, err
	}
	return &Applier{
		o: o, log: o.Log.With("component", "helm"), client: cs,
		disc:     &discoveryCache{cfg: o.Config},
		configs:  map[string]*action.Configuration{},
		observed: map[string]observation{},
	}, nil
}

// Register adds the applier to reg for kind helm-release.
func (a *Applier) Register(reg *apply.Registry) { reg.Register(wire.KindHelmRelease, a) }

// config is the Helm action configuration of a namespace.
func (a *Applier) config(ns string) (*action.Configuration, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.configs[ns]; ok {
		return c, nil
	}
	c := new(action.Configuration)
	debug := func(format string, v ...any) { a.log.Debug(fmt.Sprintf(format, v...), "namespace", ns) }
	if err := c.Init(&getter{namespace: ns, d: a.disc}, ns, "secret", debug); err != nil {
		return nil, err
	}
	a.configs[ns] = c
	return c, nil
}

var (
	releaseName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	chartDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// parse reads and checks a spec; its errors name the field.
func parse(name string, raw json.RawMessage) (*wire.HelmRelease, error) {
	var s wire.HelmRelease
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("not a helm-release spec: %v", err)
	}
	switch {
	case len(name) > 53 || !releaseName.MatchString(name):
		return nil, fmt.Errorf("name: %q is not a Helm release name (lower case letters, digits, '-' and '.', at most 53)", name)
	case len(s.Namespace) > 63 || !dnsLabel.MatchString(s.Namespace):
		return nil, fmt.Errorf("namespace: %q is not a Kubernetes namespace name", s.Namespace)
	case s.Version == "":
		return nil, errors.New("version: empty")
	case s.Chart.Name == "" || s.Chart.Version == "":
		return nil, errors.New("chart: name and version are required")
	case !chartDigest.MatchString(s.Chart.Digest):
		return nil, fmt.Errorf("chart/digest: %q is not sha256:<64 hex digits>", s.Chart.Digest)
	case s.Timeout < 0:
		return nil, errors.New("timeout: negative")
	}
	return &s, nil
}

// Validate checks the spec's form; the chart itself is checked (loaded,
// its values against its schema, rendered) by Apply before anything acts.
func (a *Applier) Validate(name string, raw json.RawMessage) error {
	_, err := parse(name, raw)
	return err
}

// Observed is what the last Apply of name found: readiness (nil: not
// known), the bundle version the site runs and why it is not ready.
func (a *Applier) Observed(name string) (*bool, string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := a.observed[name]
	return o.ready, o.version, o.reason
}

func (a *Applier) observe(name string, o observation) {
	a.mu.Lock()
	a.observed[name] = o
	a.mu.Unlock()
}

// specOf is the spec digest a release revision ran ("" for releases AMP
// did not install).
func specOf(r *release.Release) string {
	if r == nil || r.Chart == nil || r.Chart.Metadata == nil {
		return ""
	}
	return r.Chart.Metadata.Annotations[AnnotationSpec]
}

func versionOf(r *release.Release) string {
	if r == nil || r.Chart == nil || r.Chart.Metadata == nil {
		return ""
	}
	return r.Chart.Metadata.Annotations[AnnotationVersion]
}

// Apply makes the release run spec: install, upgrade or rollback as
// needed, correct drift when it already does, then judge readiness.
func (a *Applier) Apply(ctx context.Context, name string, raw json.RawMessage) (changed []string, err error) {
	spec, err := parse(name, raw)
	if err != nil {
		return nil, err
	}
	digest := wire.ObjectDigest(raw)
	ctx, span := tracer.Start(ctx, "helm.apply")
	span.SetAttributes(attribute.String("amp.release", name), attribute.String("amp.namespace", spec.Namespace),
		attribute.String("amp.version", spec.Version))
	defer span.End()
	timeout := time.Duration(spec.Timeout)
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	cfg, err := a.config(spec.Namespace)
	if err != nil {
		return nil, err
	}
	hist, err := cfg.Releases.History(name)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("read the release's history: %w", err)
	}
	sort.Slice(hist, func(i, j int) bool { return hist[i].Version < hist[j].Version })
	var last *release.Release
	if len(hist) > 0 {
		last = hist[len(hist)-1]
	}
	if last != nil && last.Info.Status.IsPending() {
		// The agent (or someone) stopped in the middle of an operation:
		// Helm refuses every operation on a pending release. It is marked
		// failed, and the operation below runs again.
		was := last.Info.Status
		last.SetStatus(release.StatusFailed, fmt.Sprintf("interrupted while %s (recovered by amp agent)", was))
		if err := cfg.Releases.Update(last); err != nil {
			return nil, fmt.Errorf("recover the release left %s: %w", was, err)
		}
		changed = append(changed, fmt.Sprintf("recovered revision %d left %s", last.Version, was))
		a.log.Warn("recovered an interrupted release", "release", name, "revision", last.Version, "was", was)
	}

	op := ""
	switch {
	case last != nil && last.Info.Status == release.StatusDeployed && specOf(last) == digest:
		drift, err := a.correctDrift(ctx, cfg, last)
		if err != nil {
			return changed, err
		}
		changed = append(changed, drift...)
		if len(drift) > 0 {
			op = "drift"
		}
	case last == nil || last.Info.Status == release.StatusUninstalled:
		op = "install"
	default:
		op = "upgrade"
		for i := len(hist) - 1; i >= 0; i-- {
			if h := hist[i]; h != last && specOf(h) == digest && h.Chart != nil {
				op = "rollback"
				if err := a.run(ctx, "rollback", spec, func() error { return rollback(cfg, name, h.Version, timeout) }); err != nil {
					return changed, err
				}
				changed = append(changed, fmt.Sprintf("rolled back to revision %d (version %s)", h.Version, spec.Version))
				break
			}
		}
	}
	if op == "install" || op == "upgrade" {
		ch, err := a.load(ctx, spec, digest)
		if err != nil {
			return changed, err
		}
		err = a.run(ctx, op, spec, func() error {
			if op == "install" {
				return install(ctx, cfg, name, spec, ch, timeout)
			}
			return upgrade(ctx, cfg, name, spec, ch, timeout)
		})
		if err != nil {
			return changed, err
		}
		if op == "install" {
			changed = append(changed, "installed version "+spec.Version)
		} else {
			changed = append(changed, fmt.Sprintf("upgraded version %s -> %s", orNone(versionOf(running(hist))), spec.Version))
		}
	}

	// Read back: the release must be deployed with this very spec.
	cur, err := cfg.Releases.Last(name)
	if err != nil {
		return changed, fmt.Errorf("read the release back: %w", err)
	}
	if cur.Info.Status != release.StatusDeployed || specOf(cur) != digest {
		return changed, fmt.Errorf("the release is %s at revision %d (version %s), not deployed with this spec: %s",
			cur.Info.Status, cur.Version, orNone(versionOf(cur)), cur.Info.Description)
	}
	deadline := cur.Info.LastDeployed.Time.Add(timeout)
	if cur.Info.LastDeployed.IsZero() {
		deadline = time.Now().Add(timeout)
	}
	r, err := a.readiness(ctx, cfg, cur, op != "", deadline)
	ready := r.ready
	a.observe(name, observation{ready: &ready, version: versionOf(cur), reason: r.reason})
	if err != nil {
		return changed, err
	}
	switch {
	case r.crashLoop:
		a.o.Metrics.failure("crash-loop")
		return changed, fmt.Errorf("not ready: %s", r.reason)
	case !ready && !time.Now().Before(deadline):
		a.o.Metrics.failure("timeout")
		return changed, fmt.Errorf("not ready within %s: %s", timeout, r.reason)
	}
	if spec.Test && ready {
		// Tests run once per revision; their outcome is kept with the
		// revision (a resync reports it again, it does not run them).
		if err := testsFailed(cur); err != nil {
			return changed, err
		}
		if !testsRan(cur) {
			if err := a.run(ctx, "test", spec, func() error { return test(cfg, name, timeout) }); err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}

// running is the revision deployed (nil: none), which an interrupted or
// failed newer one does not replace.
func running(hist []*release.Release) *release.Release {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Info.Status == release.StatusDeployed {
			return hist[i]
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// run times one Helm operation and counts it.
func (a *Applier) run(ctx context.Context, op string, spec *wire.HelmRelease, f func() error) error {
	_, span := tracer.Start(ctx, "helm."+op)
	defer span.End()
	start := time.Now()
	err := f()
	a.o.Metrics.operation(op, err, time.Since(start))
	if err != nil {
		span.RecordError(err)
		a.o.Metrics.failure(op)
		a.log.Warn("helm operation failed", "op", op, "bundle", spec.Bundle, "version", spec.Version, "error", err)
		return fmt.Errorf("%s: %w", op, err)
	}
	a.log.Info("helm operation", "op", op, "bundle", spec.Bundle, "version", spec.Version, "namespace", spec.Namespace,
		"duration", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// load fetches the chart archive, checks its digest and that it is the
// chart the spec names, and marks it with the spec.
func (a *Applier) load(ctx context.Context, spec *wire.HelmRelease, digest string) (*chart.Chart, error) {
	if a.o.Charts == nil {
		return nil, errors.New("chart: this agent has no source of charts")
	}
	b, err := a.o.Charts.Chart(ctx, spec.Chart.Digest)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", spec.Chart.Digest, err)
	}
	if got := "sha256:" + sha256Hex(b); got != spec.Chart.Digest {
		return nil, fmt.Errorf("chart: the archive's digest is %s, the spec says %s", got, spec.Chart.Digest)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("chart: not a Helm chart archive: %v", err)
	}
	if ch.Metadata.Name != spec.Chart.Name || ch.Metadata.Version != spec.Chart.Version {
		return nil, fmt.Errorf("chart: the archive holds %s %s, the spec names %s %s",
			ch.Metadata.Name, ch.Metadata.Version, spec.Chart.Name, spec.Chart.Version)
	}
	if ch.Metadata.Annotations == nil {
		ch.Metadata.Annotations = map[string]string{}
	}
	ch.Metadata.Annotations[AnnotationSpec] = digest
	ch.Metadata.Annotations[AnnotationBundle] = spec.Bundle
	ch.Metadata.Annotations[AnnotationVersion] = spec.Version
	return ch, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func install(ctx context.Context, cfg *action.Configuration, name string, spec *wire.HelmRelease, ch *chart.Chart, timeout time.Duration) error {
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.CreateNamespace = name, spec.Namespace, true
	in.Timeout = timeout
	in.Description = "amp: bundle " + spec.Bundle + " version " + spec.Version
	_, err := in.RunWithContext(ctx, ch, values(spec))
	return err
}

func upgrade(ctx context.Context, cfg *action.Configuration, name string, spec *wire.HelmRelease, ch *chart.Chart, timeout time.Duration) error {
	up := action.NewUpgrade(cfg)
	up.Namespace, up.Timeout, up.MaxHistory = spec.Namespace, timeout, maxHistory
	up.Description = "amp: bundle " + spec.Bundle + " version " + spec.Version
	_, err := up.RunWithContext(ctx, name, ch, values(spec))
	return err
}

func rollback(cfg *action.Configuration, name string, revision int, timeout time.Duration) error {
	rb := action.NewRollback(cfg)
	rb.Version, rb.Timeout, rb.MaxHistory = revision, timeout, maxHistory
	return rb.Run(name)
}

func test(cfg *action.Configuration, name string, timeout time.Duration) error {
	rt := action.NewReleaseTesting(cfg)
	rt.Timeout = timeout
	rel, err := rt.Run(name)
	if err != nil {
		return err
	}
	return testsFailed(rel)
}

// testHooks are the release's Helm tests.
func testHooks(r *release.Release) []*release.Hook {
	var out []*release.Hook
	for _, h := range r.Hooks {
		for _, e := range h.Events {
			if e == release.HookTest {
				out = append(out, h)
			}
		}
	}
	return out
}

// testsRan: every test of the revision has run (a chart without tests
// has nothing to run).
func testsRan(r *release.Release) bool {
	for _, h := range testHooks(r) {
		if h.LastRun.StartedAt.IsZero() {
			return false
		}
	}
	return true
}

// testsFailed names a test of the revision that ran and failed.
func testsFailed(r *release.Release) error {
	for _, h := range testHooks(r) {
		if h.LastRun.Phase == release.HookPhaseFailed {
			return fmt.Errorf("helm test %s failed (run at %s)", h.Name, h.LastRun.CompletedAt.Format(time.RFC3339))
		}
	}
	return nil
}

// values are the spec's values, never nil (Helm wants a map).
func values(spec *wire.HelmRelease) map[string]any {
	if spec.Values == nil {
		return map[string]any{}
	}
	return spec.Values
}

// Prune uninstalls the releases AMP installed that keep does not name.
func (a *Applier) Prune(ctx context.Context, keep map[string]bool) ([]string, error) {
	all, err := a.config("")
	if err != nil {
		return nil, err
	}
	rels, err := all.Releases.ListReleases()
	if err != nil {
		return nil, fmt.Errorf("list the releases: %w", err)
	}
	latest := map[string]*release.Release{}
	for _, r := range rels {
		if l, ok := latest[r.Name]; !ok || r.Version > l.Version {
			latest[r.Name] = r
		}
	}
	var removed []string
	var errs []string
	for name, r := range latest {
		if keep[name] || specOf(r) == "" || r.Info.Status == release.StatusUninstalled {
			continue
		}
		cfg, err := a.config(r.Namespace)
		if err != nil {
			errs = append(errs, name+": "+err.Error())
			continue
		}
		spec := &wire.HelmRelease{Namespace: r.Namespace, Bundle: r.Chart.Metadata.Annotations[AnnotationBundle], Version: versionOf(r)}
		err = a.run(ctx, "uninstall", spec, func() error {
			un := action.NewUninstall(cfg)
			un.Timeout = DefaultTimeout
			_, err := un.Run(name)
			return err
		})
		if err != nil {
			errs = append(errs, name+": "+err.Error())
			continue
		}
		a.mu.Lock()
		delete(a.observed, name)
		a.mu.Unlock()
		removed = append(removed, name)
	}
	sort.Strings(removed)
	if len(errs) > 0 {
		sort.Strings(errs)
		return removed, errors.New(strings.Join(errs, "; "))
	}
	return removed, nil
}
