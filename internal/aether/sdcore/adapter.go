package sdcore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/endpoint"
)

const (
	modelSet     = "aether"
	modelVersion = "2.1.x"

	kindDeviceGroup  = "device-group"
	kindNetworkSlice = "network-slice"
	kindUPF          = "upf"

	// noBackend stands in the id for an object that has no backend because
	// of its error (a slice whose site has no core endpoint).
	noBackend = "-"
	// unknownOwner stands for the enterprise and site of a name a backend
	// holds that this AMP never rendered (never a valid aether identifier).
	unknownOwner = "-"
)

// Options configure the adapter. The zero value is usable.
type Options struct {
	// Client does the HTTP requests; nil means a client with a 10 s
	// timeout, as Aether's sdcore-adapter uses. amp serve passes
	// endpoint.Network's client, which checks every address it dials.
	Client *http.Client
	// Backends, when set, is the operator's grant of backends: a site's
	// core or UPF endpoint is used only while it is a backend granted to
	// the site's enterprise, and names on a backend granted to several
	// enterprises are prefixed with the enterprise ("acme_cameras"), so
	// tenants sharing a core never collide. nil trusts the configuration.
	Backends *endpoint.Registry
	// LegacyIPDomain makes every core take device groups in the form of
	// webconsoles before v2.1.1 (its "multiple DNN" change, March 2026):
	// one IP domain object under "ip-domain-expanded", as Aether's
	// sdcore-adapter sends. By default device groups go in the current
	// form, a list under "ip-domains"; a current webconsole ignores
	// "ip-domain-expanded" (and an old one "ip-domains"), answers 200 and
	// stores a device group with no DNN, pool or QoS.
	LegacyIPDomain bool
	// LegacyIPDomainCores overrides LegacyIPDomain per core endpoint (as
	// written in site/connectivity-service, without a trailing slash):
	// true = legacy form, false = list form.
	LegacyIPDomainCores map[string]bool
	// DeleteUnknown makes a full resync delete names a core holds that
	// this adapter never rendered: AMP then owns the cores it is pointed
	// at. By default such names are left alone, so objects other tools
	// created on a shared core survive AMP's restarts.
	DeleteUnknown bool
	// Metrics, when set, registers amp_sdcore_render_sites_total there.
	Metrics prometheus.Registerer
	// Token, when set, is sent to webconsole as "Authorization: Bearer
	// <token>" (a webconsole with authentication enabled answers 401
	// without it; configapi's AdminOrUserAuthMiddleware). Never logged.
	Token string
}

// Adapter pushes device groups and network slices to SD-Core's
// configuration API (omec-project webconsole) and slice QoS to UPFs.
// It is safe for concurrent use.
type Adapter struct {
	opts   Options
	client *http.Client

	// renderMu makes Renders one at a time: they share the cache.
	renderMu sync.Mutex
	cache    renderCache

	mu sync.Mutex
	// index maps backend -> kind/name -> ids, from the last Render, so Held
	// can turn the names a backend lists back into ids.
	index map[string]map[string][]string
	// pushedUPF remembers, per UPF config endpoint, the ids this process
	// pushed: the UPF's config API has no list (see Held).
	pushedUPF map[string]map[string]bool
}

var _ controller.Adapter = (*Adapter)(nil)

// New returns an SD-Core adapter.
func New(opts Options) *Adapter {
	c := opts.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	sites := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "amp_sdcore_render_sites_total",
		Help: "Sites the SD-Core adapter rendered (result=rendered) or took from its last render because none of their inputs changed (result=reused)."},
		[]string{"result"})
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(sites)
	}
	return &Adapter{opts: opts, client: c, index: map[string]map[string][]string{}, pushedUPF: map[string]map[string]bool{},
		cache: renderCache{rendered: sites.WithLabelValues("rendered"), reused: sites.WithLabelValues("reused")}}
}

// Name implements controller.Adapter.
func (a *Adapter) Name() string { return "sdcore" }

func (a *Adapter) legacyForm(core string) bool {
	if v, ok := a.opts.LegacyIPDomainCores[core]; ok {
		return v
	}
	return a.opts.LegacyIPDomain
}

// An id is kind/backend/enterprise/site/name, the backend path-escaped so
// it is one segment: "device-group/http:%2F%2Fcore:5000%2Fconfig/acme/chicago/cameras".
// Enterprise and site make ids of different enterprises distinct; the
// backend makes a move to another core a delete plus a create. The order
// of pushes is declared, not sorted: a slice depends on its device groups
// and a UPF configuration on its slices (controller.Desired.DependsOn).
type parsedID struct {
	kind, backend, enterprise, site, name string
}

func makeID(kind, backend, ent, site, name string) string {
	b := noBackend
	if backend != "" {
		b = url.PathEscape(backend)
	}
	return kind + "/" + b + "/" + ent + "/" + site + "/" + name
}

func parseID(id string) (parsedID, error) {
	parts := strings.Split(id, "/")
	if len(parts) != 5 {
		return parsedID{}, fmt.Errorf("sdcore: malformed object id %q", id)
	}
	p := parsedID{kind: parts[0], enterprise: parts[2], site: parts[3], name: parts[4]}
	switch p.kind {
	case kindDeviceGroup, kindNetworkSlice, kindUPF:
	default:
		return parsedID{}, fmt.Errorf("sdcore: unknown object kind in id %q", id)
	}
	if parts[1] != noBackend {
		b, err := url.PathUnescape(parts[1])
		if err != nil {
			return parsedID{}, fmt.Errorf("sdcore: malformed backend in id %q", id)
		}
		p.backend = b
	}
	return p, nil
}

// objectURL is where an object lives on its backend: webconsole's
// /v1/device-group/{name} and /v1/network-slice/{name} below the core
// endpoint (which includes webconsole's /config prefix), the UPF's
// /v1/config/network-slices.
func objectURL(kind, backend, name string) string {
	switch kind {
	case kindDeviceGroup:
		return backend + "/v1/device-group/" + url.PathEscape(name)
	case kindNetworkSlice:
		return backend + "/v1/network-slice/" + url.PathEscape(name)
	}
	return backend + "/v1/config/network-slices"
}

func listURL(kind, backend string) string {
	switch kind {
	case kindDeviceGroup:
		return backend + "/v1/device-group"
	case kindNetworkSlice:
		return backend + "/v1/network-slice"
	}
	return backend + "/v1/config/network-slices"
}

// Push implements controller.Adapter: POST the body with Content-Type
// application/json. Any non-2xx answer is an endpoint.BackendError: its
// text names the request and the status, never the answer's body, which
// only the operator's log shows (bounded, sanitised). A webconsole object
// is then read back (GET): webconsole answers 200 to a body it partly
// ignores (an unknown key, such as a device group in the other IP-domain
// form), and what it holds must be what was sent, or the push is an error,
// not in-sync. The UPF has no read (its handler takes only PUT and POST).
func (a *Adapter) Push(ctx context.Context, id string, d controller.Desired) error {
	if d.Err != "" {
		return errors.New(d.Err)
	}
	p, err := parseID(id)
	if err != nil {
		return err
	}
	backend := d.Backend
	if backend == "" {
		backend = p.backend
	}
	if backend == "" {
		return fmt.Errorf("%s %s: no backend", p.kind, p.name)
	}
	u := objectURL(p.kind, backend, p.name)
	if err := a.do(ctx, http.MethodPost, u, d.Body, nil); err != nil {
		return err
	}
	if p.kind != kindUPF {
		var held any
		var status int
		if err := a.getJSON(ctx, u, &held, &status); err != nil {
			return fmt.Errorf("read back after the push: %w", err)
		}
		var sent any
		if err := json.Unmarshal(d.Body, &sent); err != nil {
			return fmt.Errorf("sdcore: %s %s: own body is not JSON: %w", p.kind, p.name, err)
		}
		if where, ok := holds(held, sent, ""); !ok {
			return fmt.Errorf("%s %s: the core answered 200 but does not hold what was sent (at %s); for a device group, check the IP-domain form (--sdcore-legacy-ip-domain, docs/sdcore.md)", p.kind, p.name, where)
		}
	}
	if p.kind == kindUPF {
		a.mu.Lock()
		if a.pushedUPF[backend] == nil {
			a.pushedUPF[backend] = map[string]bool{}
		}
		a.pushedUPF[backend][id] = true
		a.mu.Unlock()
	}
	return nil
}

// Delete implements controller.Adapter: DELETE the webconsole object; 404
// counts as done. omec-project/upf's config API has no DELETE
// (/v1/config/network-slices answers 405 to it, any path below 404): a
// UPF no slice names any more is sent an empty configuration instead
// (no meter, no UE pool), which replaces the one it held.
func (a *Adapter) Delete(ctx context.Context, id string, backend string) error {
	p, err := parseID(id)
	if err != nil {
		return err
	}
	if backend == "" {
		backend = p.backend
	}
	if backend == "" {
		return nil // never had a backend: nothing to undo
	}
	u := objectURL(p.kind, backend, p.name)
	if p.kind == kindUPF {
		err = a.do(ctx, http.MethodPost, u, mustJSON(upfSlice{SliceName: p.name}), nil)
	} else {
		var status int
		err = a.do(ctx, http.MethodDelete, u, nil, &status)
		if err != nil && status == http.StatusNotFound {
			err = nil
		}
	}
	if err == nil && p.kind == kindUPF {
		a.mu.Lock()
		delete(a.pushedUPF[backend], id)
		a.mu.Unlock()
	}
	return err
}

// Held implements controller.Adapter. For a core it lists webconsole's
// device groups and network slices (GET /v1/device-group and
// /v1/network-slice, JSON arrays of names); for a UPF config endpoint it
// lists GET /v1/config/network-slices. Names map back to the ids the last
// Render gave them; a name no render produced is reported as a stray
// (kind/backend/-/-/name) when Options.DeleteUnknown, and left out
// otherwise. The UPF of omec-project/upf has no list (405): Held reports
// what this process pushed there, so a UPF that lost its state is not
// detected.
func (a *Adapter) Held(ctx context.Context, backend string) (map[string]bool, error) {
	if backend == "" {
		return nil, errors.New("sdcore: no backend")
	}
	a.mu.Lock()
	idx := a.index[backend]
	isUPF := false
	for k := range idx {
		if strings.HasPrefix(k, kindUPF+"/") {
			isUPF = true
		}
	}
	if a.pushedUPF[backend] != nil {
		isUPF = true
	}
	a.mu.Unlock()
	kinds := []string{kindDeviceGroup, kindNetworkSlice}
	if isUPF {
		kinds = []string{kindUPF}
	}
	held := map[string]bool{}
	for _, kind := range kinds {
		var names []string
		var status int
		err := a.getJSON(ctx, listURL(kind, backend), &names, &status)
		if err != nil && kind == kindUPF && (status == http.StatusMethodNotAllowed || status == http.StatusNotFound) {
			a.mu.Lock()
			for id := range a.pushedUPF[backend] {
				held[id] = true
			}
			a.mu.Unlock()
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			ids := idx[kind+"/"+n]
			if len(ids) == 0 && a.opts.DeleteUnknown {
				ids = []string{makeID(kind, backend, unknownOwner, unknownOwner, n)}
			}
			for _, id := range ids {
				held[id] = true
			}
		}
	}
	return held, nil
}

// setIndex records, per backend, which ids each name belongs to.
func (a *Adapter) setIndex(out map[string]controller.Desired) {
	idx := map[string]map[string][]string{}
	for id, d := range out {
		if d.Backend == "" {
			continue
		}
		p, err := parseID(id)
		if err != nil {
			continue
		}
		if idx[d.Backend] == nil {
			idx[d.Backend] = map[string][]string{}
		}
		k := p.kind + "/" + p.name
		idx[d.Backend][k] = append(idx[d.Backend][k], id)
	}
	a.mu.Lock()
	a.index = idx
	a.mu.Unlock()
}

// do sends one request; status receives the HTTP status when there was an
// answer.
func (a *Adapter) do(ctx context.Context, method, u string, body []byte, status *int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	a.authorize(req)
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, endpoint.MaxReason))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if status != nil {
		*status = resp.StatusCode
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &endpoint.BackendError{Op: method + " " + u, Status: resp.Status, Detail: endpoint.Reason(snippet)}
	}
	return nil
}

func (a *Adapter) getJSON(ctx context.Context, u string, v any, status *int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	a.authorize(req)
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	*status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, endpoint.MaxReason))
		return &endpoint.BackendError{Op: "GET " + u, Status: resp.Status, Detail: endpoint.Reason(snippet)}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: decode the list: %w", u, err)
	}
	return nil
}

// authorize adds the webconsole token. The UPF's config API (its one
// path, /v1/config/network-slices; webconsole's are below /config/v1) has
// no authentication and is another host: it never gets the token.
func (a *Adapter) authorize(req *http.Request) {
	if a.opts.Token != "" && !strings.HasPrefix(req.URL.Path, "/v1/config/network-slices") {
		req.Header.Set("Authorization", "Bearer "+a.opts.Token)
	}
}

// holds reports whether what a backend answered holds everything sent:
// every key of an object with an equal value (recursively), arrays of the
// same length element by element. A zero value sent ("", 0, false, [],
// {}) may be absent from the answer: webconsole's models omit empty
// fields. Keys the backend adds (its own name field) are ignored. On a
// mismatch it returns the JSON path of the first difference.
func holds(held, sent any, path string) (string, bool) {
	switch s := sent.(type) {
	case map[string]any:
		h, _ := held.(map[string]any)
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			hv, ok := h[k]
			if !ok {
				if isZero(s[k]) {
					continue
				}
				return path + "/" + k, false
			}
			if where, ok := holds(hv, s[k], path+"/"+k); !ok {
				return where, false
			}
		}
		return "", true
	case []any:
		h, _ := held.([]any) // null holds [] too
		if len(h) != len(s) {
			return path, false
		}
		for i := range s {
			if where, ok := holds(h[i], s[i], fmt.Sprintf("%s/%d", path, i)); !ok {
				return where, false
			}
		}
		return "", true
	}
	if held == nil && isZero(sent) || held == sent {
		return "", true
	}
	return path, false
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !isZero(e) {
				return false
			}
		}
		return true
	}
	return false
}

// Watches implements controller.Watcher: everything of the aether model
// set (a device, a SIM, an application or a traffic class can change what a
// core holds).
func (a *Adapter) Watches() []string { return []string{"aether/"} }
