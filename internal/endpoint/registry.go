package endpoint

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"
)

// Backend is one backend the operator declares, and the enterprises it is
// granted to.
type Backend struct {
	// Name identifies the backend in logs and in the operator's file.
	Name string `json:"name"`
	// Kind is core or upf.
	Kind string `json:"kind"`
	// URL is what a site's endpoint leaf says to choose this backend.
	URL string `json:"url"`
	// Enterprises may choose the backend. Granting one backend to several
	// enterprises makes it shared: AMP then prefixes the names it creates
	// there with the enterprise, so tenants never collide.
	Enterprises []string `json:"enterprises"`
}

// File is the operator's backends file (--backends), YAML or JSON.
type File struct {
	Backends []Backend `json:"backends"`
}

// Registry holds the backends the operator declared: fixed ones the
// program adds (the demo's emulators) and those of the operator's file,
// replaced as a whole when the file changes. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	fixed []Backend
	file  []Backend
	byKey map[string]Backend // kind + " " + URL
	// changed is closed, and replaced, whenever the backends change.
	changed chan struct{}

	refusals *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	count    prometheus.Gauge
}

// NewRegistry returns an empty registry: no tenant may set a backend
// endpoint until the operator declares one. reg may be nil.
func NewRegistry(reg prometheus.Registerer) *Registry {
	r := &Registry{byKey: map[string]Backend{}, changed: make(chan struct{}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_backend_grant_refusals_total",
			Help: "Backend endpoint values refused because they are not a backend the operator granted to the enterprise, by backend kind."}, []string{"kind"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_backend_registry_reloads_total",
			Help: "Loads of the operator's backends file, by result (ok, error)."}, []string{"result"}),
		count: prometheus.NewGauge(prometheus.GaugeOpts{Name: "amp_backend_registry_backends",
			Help: "Backends the operator declared (file and demo)."}),
	}
	if reg != nil {
		reg.MustRegister(r.refusals, r.reloads, r.count)
	}
	return r
}

// Add declares a backend for the life of the process (not reloaded).
func (r *Registry) Add(b Backend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rebuild(append(slices.Clone(r.fixed), b), r.file, func(fixed, _ []Backend) { r.fixed = fixed })
}

// Parse checks a backends file's content.
func Parse(content []byte) ([]Backend, error) {
	var f File
	if err := yaml.UnmarshalStrict(content, &f); err != nil {
		return nil, err
	}
	return f.Backends, nil
}

// Load replaces the file's backends by those in content; on an error
// nothing changes.
func (r *Registry) Load(content []byte) error {
	bs, err := Parse(content)
	if err == nil {
		r.mu.Lock()
		err = r.rebuild(r.fixed, bs, func(_, file []Backend) { r.file = file })
		r.mu.Unlock()
	}
	if err != nil {
		r.reloads.WithLabelValues("error").Inc()
		return err
	}
	r.reloads.WithLabelValues("ok").Inc()
	return nil
}

// rebuild validates fixed+file as a whole and, if valid, installs them.
func (r *Registry) rebuild(fixed, file []Backend, set func(fixed, file []Backend)) error {
	byKey := map[string]Backend{}
	names := map[string]bool{}
	all := append(slices.Clone(fixed), file...)
	for i, b := range all {
		where := fmt.Sprintf("backends[%d]", i)
		if b.Name != "" {
			where = fmt.Sprintf("backend %q", b.Name)
		}
		switch {
		case b.Name == "":
			return fmt.Errorf("%s: name is missing", where)
		case names[b.Name]:
			return fmt.Errorf("%s: the name is used twice", where)
		case b.Kind != Core && b.Kind != UPF:
			return fmt.Errorf("%s: kind %q is not %s or %s", where, b.Kind, Core, UPF)
		}
		names[b.Name] = true
		u, err := ParseURL(b.URL)
		if err != nil {
			return fmt.Errorf("%s: url: %v", where, err)
		}
		k := b.Kind + " " + u
		if o, dup := byKey[k]; dup {
			return fmt.Errorf("%s: url %s is also backend %q's", where, u, o.Name)
		}
		b.URL = u
		b.Enterprises = slices.Clone(b.Enterprises)
		sort.Strings(b.Enterprises)
		byKey[k] = b
	}
	set(fixed, file)
	r.byKey = byKey
	r.count.Set(float64(len(byKey)))
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

// Changed returns a channel closed at the next change of the backends, so
// the adapters render again under the new grants.
func (r *Registry) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

// Resolve returns the backend of kind that value names, if the operator
// granted it to enterprise. The error says what the enterprise may choose
// and never whether the value is another enterprise's backend.
func (r *Registry) Resolve(enterprise, kind, value string) (Backend, error) {
	u, err := ParseURL(value)
	if err != nil {
		r.refusals.WithLabelValues(kind).Inc()
		return Backend{}, err
	}
	r.mu.RLock()
	b, ok := r.byKey[kind+" "+u]
	var granted []string
	if !ok || !slices.Contains(b.Enterprises, enterprise) {
		for _, o := range r.byKey {
			if o.Kind == kind && slices.Contains(o.Enterprises, enterprise) {
				granted = append(granted, o.URL)
			}
		}
		ok = false
	}
	r.mu.RUnlock()
	if ok {
		return b, nil
	}
	r.refusals.WithLabelValues(kind).Inc()
	sort.Strings(granted)
	choice := "the operator granted it none (an operator declares backends in the --backends file)"
	if len(granted) > 0 {
		choice = "it may choose " + strings.Join(granted, ", ")
	}
	return Backend{}, fmt.Errorf("%s is not a %s backend the operator granted to enterprise %s: %s", u, kind, enterprise, choice)
}

// Check is Resolve for the configuration engine: nil when enterprise may
// set a leaf of backend kind to value.
func (r *Registry) Check(enterprise, kind, value string) error {
	_, err := r.Resolve(enterprise, kind, value)
	return err
}

// Shared says whether the backend at URL u (normal form) is granted to
// more than one enterprise.
func (r *Registry) Shared(kind, u string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byKey[kind+" "+u].Enterprises) > 1
}

// Watch loads path now and then every time its content changes, checking
// every interval until ctx ends. report is called after every load
// attempt (the first included) with a summary and the error, if any: the
// caller logs and audits it. A file that does not parse leaves the
// previous backends in place.
func (r *Registry) Watch(ctx context.Context, path string, every time.Duration, report func(summary string, err error)) error {
	last, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--backends: %w", err)
	}
	if err := r.Load(last); err != nil {
		return fmt.Errorf("--backends %s: %w", path, err)
	}
	report(r.summary(), nil)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		lastErr := ""
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Only a change is loaded and reported: an unchanged file, or
			// the same error again, says nothing new.
			b, err := os.ReadFile(path)
			if err == nil {
				if bytes.Equal(b, last) {
					continue
				}
				last = b
				err = r.Load(b)
			} else {
				if err.Error() == lastErr {
					continue
				}
				last = nil
				r.reloads.WithLabelValues("error").Inc()
			}
			if err != nil {
				lastErr = err.Error()
				report("", fmt.Errorf("%s: %w (the previous backends stay in force)", path, err))
				continue
			}
			lastErr = ""
			report(r.summary(), nil)
		}
	}()
	return nil
}

// summary lists the backends as "name(kind)=enterprise,…", sorted.
func (r *Registry) summary() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, b := range r.byKey {
		out = append(out, fmt.Sprintf("%s(%s)=%s", b.Name, b.Kind, strings.Join(b.Enterprises, ",")))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
