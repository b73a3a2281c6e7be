// Package compat is the seam through which a model set's compatibility
// layer joins the REST API. A set's descriptor names the layers whose rules
// apply to it (modelset.yaml, compat: [...]); the wing that owns a layer
// (under internal/, beside the set's other code) registers it here at
// init, and the
// REST server asks for the layers its loaded sets name. The generic layer
// so knows no compatibility rule by name: it offers the hooks (extra
// routes, the problem's message member, a rule on POST bodies, tenant ids
// answered 422) and the layer fills them.
//
// It imports the engine, the schema and the authorizer seam only, so a
// layer depends on this package and never on internal/api/rest.
package compat

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// Host is what the REST server lends a layer's routes: the same
// authorization, request record, body reading and write answers as its own
// routes, so a layer's route is audited, limited and answered alike.
type Host interface {
	Schema() *schema.Schema
	Engine() *config.Engine
	// Authorize asks the policy about path for the caller and returns the
	// refusal (recorded for the audit trail) or nil.
	Authorize(r *http.Request, action auth.Action, path string) error
	// Allowed asks the policy without recording a refusal.
	Allowed(r *http.Request, action auth.Action, path string) bool
	// Touch names a path the request writes, for the audit record.
	Touch(r *http.Request, path string)
	// ReadObject reads ?dry-run and a JSON object body (numbers exact);
	// want says what the body should have been, for the refusal.
	ReadObject(r *http.Request, want string) (body map[string]any, dry bool, err error)
	// Commit submits edits as ONE transaction (honouring ?wait=) and
	// answers as every write does.
	Commit(w http.ResponseWriter, r *http.Request, dry bool, edits []config.Edit) error
	// ReadJSON reads ?dry-run and a JSON body of any shape (numbers
	// exact), within the same limits as ReadObject.
	ReadJSON(r *http.Request) (body any, dry bool, err error)
	// Submit submits edits as ONE transaction as the caller and names it
	// in the answer's headers and the request's record, but writes no
	// body: for a route that may try again when another writer took what
	// it chose, and answers with what it made (IPAM's 201). A refusal
	// writes nothing.
	Submit(w http.ResponseWriter, r *http.Request, dry bool, edits []config.Edit) (*config.Result, error)
	// VisibleTransactions lists, newest first, up to limit transactions
	// before index before (0: the newest) that the caller may see, of one
	// tenant or ("" ) of all.
	VisibleTransactions(r *http.Request, before uint64, limit int, tenant string) ([]config.TxnInfo, error)
	// QueryUint reads a numeric query parameter (ok: it was given).
	QueryUint(r *http.Request, name string) (v uint64, ok bool, err error)
	// WriteJSON answers v as JSON with code.
	WriteJSON(w http.ResponseWriter, code int, v any) error
	// WriteError answers err as the API's problem (what a handler's
	// returned error becomes), for an answer written after the handler
	// returned (a parked request, internal/park).
	WriteError(w http.ResponseWriter, r *http.Request, err error)
	// Spec returns the OpenAPI document, as YAML or JSON (an error when the
	// server has none).
	Spec(yaml bool) ([]byte, error)
	// Metrics is the server's Prometheus registry (served at /metrics),
	// for the layer's own amp_ metrics; nil when the server has none. A
	// process may run several servers, so a layer registers its metrics
	// once per registry.
	Metrics() prometheus.Registerer
}

// Route is a route a layer adds to the REST API. It is authenticated,
// traced, counted, limited and audited as every route is; the handler
// authorizes what it touches through the Host.
type Route struct {
	Pattern string // as http.ServeMux reads it: "PATCH /bulk"
	Name    string // the route's name in metrics and limits
	// Bulk bounds the body by the bulk limit (--max-bulk-body) instead of
	// the body limit.
	Bulk bool
	// Public takes no API credential: the handler authenticates the
	// request by what it carries (a cluster agent's single-use
	// registration token) and bounds its own work. It is still traced,
	// counted, body-limited and audited (a write, with the paths it
	// touched and the source address).
	Public  bool
	Handler func(h Host, w http.ResponseWriter, r *http.Request) error
}

// Layer is one compatibility layer, named as descriptors name it.
type Layer struct {
	Name   string
	Routes []Route
	// ProblemMessage keeps the problem's "message" member (the error in
	// one line) in answers about the layer's sets; answers about sets no
	// such layer covers leave it out, answers on routes that name no set
	// keep it.
	ProblemMessage bool
	// AdditionalProperties accepts an "additionalProperties" member in the
	// objects of a POST body (schema.DecodeOptions.AdditionalProperties).
	AdditionalProperties bool
	// CheckPost checks a decoded POST body of node n at path (collection:
	// a list of entries) before it is committed; nil: no rule.
	CheckPost func(n *schema.Node, val any, path string, collection bool) error
	// GNMIDefault makes the layer's set the one a gNMI path without an
	// origin addresses (the clients the layer keeps sent none).
	GNMIDefault bool
	// Spec documents the layer in the OpenAPI document (nil: nothing).
	Spec *Spec
	// CheckTenant refuses a tenant id in a model path before anything is
	// resolved (path: the request's path); nil: no rule.
	CheckTenant func(path, tenant string) error
	// Metrics registers the layer's own metrics with a server's registry
	// when the server is built, so they are served from the start; its
	// routes find them again through Host.Metrics. nil: none.
	Metrics func(reg prometheus.Registerer)
}

var (
	mu     sync.RWMutex
	layers = map[string]Layer{}
)

// Register adds a layer; a second layer of the same name is a programming
// error.
func Register(l Layer) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := layers[l.Name]; dup {
		panic(fmt.Sprintf("compat: layer %q registered twice", l.Name))
	}
	layers[l.Name] = l
}

// For returns the layers the loaded sets name, in name order, and refuses a
// name no layer registered: a set whose rules silently did not apply would
// answer its clients differently from what its descriptor promises.
func For(sch *schema.Schema) ([]Layer, error) {
	mu.RLock()
	defer mu.RUnlock()
	names := map[string]bool{}
	for _, set := range sch.Sets {
		for _, c := range set.Compat {
			if _, ok := layers[c]; !ok {
				return nil, fmt.Errorf("model set %s %s: compat %q names no compatibility layer this binary has", set.Name, set.Version, c)
			}
			names[c] = true
		}
	}
	out := make([]Layer, 0, len(names))
	for n := range names {
		out = append(out, layers[n])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Of returns the layers among ls that set names.
func Of(ls []Layer, set *schema.ModelSet) []Layer {
	var out []Layer
	for _, l := range ls {
		if set.HasCompat(l.Name) {
			out = append(out, l)
		}
	}
	return out
}

// GNMIDefault returns the loaded set a gNMI path without an origin
// addresses (Layer.GNMIDefault; the newest version), or nil: then every
// path names its origin.
func GNMIDefault(sch *schema.Schema) *schema.ModelSet {
	mu.RLock()
	defer mu.RUnlock()
	var out *schema.ModelSet
	for _, set := range sch.Sets {
		for _, c := range set.Compat {
			if layers[c].GNMIDefault {
				if best := sch.Set(set.Name, ""); best != nil {
					out = best
				}
			}
		}
	}
	return out
}

// ErrNoSpec is Host.Spec's answer when the server has no OpenAPI document.
var ErrNoSpec = errors.New("no OpenAPI document is configured")

// ProblemMessage reports whether a layer that set names keeps the
// problem's "message" member (Layer.ProblemMessage).
func ProblemMessage(set *schema.ModelSet) bool {
	mu.RLock()
	defer mu.RUnlock()
	for _, c := range set.Compat {
		if layers[c].ProblemMessage {
			return true
		}
	}
	return false
}
