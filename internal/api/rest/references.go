package rest

import (
	"net/http"
	"strings"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// maxReferences bounds each side of one GET /references answer: an object
// many others use (a traffic class of every device group) is answered
// with the first ones and "truncated", not with the whole store.
const maxReferences = 1000

// reference is one leaf that refers to an object: the object holding the
// leaf, the leaf's REST path and the value it holds.
type reference struct {
	Object string `json:"object"`
	Leaf   string `json:"leaf"`
	Value  string `json:"value"`
	// Target is the object the leaf names (refers-to only).
	Target string `json:"target,omitempty"`
}

type referencesAnswer struct {
	Path      string      `json:"path"`
	Referrers []reference `json:"referrers"`
	RefersTo  []reference `json:"refers-to"`
	Truncated bool        `json:"truncated,omitempty"`
}

// references serves GET /references?path=P: for the list entry at P, what
// refers to it (leafrefs and ampx:refers-to, across model sets) and what
// it refers to, from the engine's reference index — what a delete of P
// would be refused over, asked before trying. The caller must be able to
// read P (the same refusal as a GET of P), and is shown only the
// referring and referred objects it may read.
func (s *Server) references(w http.ResponseWriter, r *http.Request) error {
	path := r.URL.Query().Get("path")
	route, err := s.sch.ParseRoute(path)
	if err != nil {
		return err
	}
	if route.Kind != schema.RouteModel || route.Set == nil {
		return schema.Errorf(schema.KindInvalid, "?path", "%q is not a configuration path of a loaded model set, like /{set}/v{version}/{tenant}/site/s1", path)
	}
	loc, err := schema.Resolve(route.Set, route.Tenant, route.Data)
	if err != nil {
		return err
	}
	if err := s.authorize(r, auth.Read, loc.REST()); err != nil {
		return err
	}
	if loc.Node.Kind != schema.List || loc.Collection || len(loc.Inner) > 0 {
		return schema.Errorf(schema.KindInvalid, "?path", "%s is not a list entry: references are kept per entry", loc.REST())
	}
	snap := s.eng.Snapshot()
	if !loc.Set.Global() && !snap.TargetExists(loc.Tenant) {
		return tenantMissing(loc.Set, loc.Tenant)
	}
	if _, ok := snap.Get(loc.ObjectKey); !ok {
		return schema.Errorf(schema.KindNotFound, loc.REST(), "%s does not exist", loc.REST())
	}
	a := referencesAnswer{Path: loc.REST(), Referrers: []reference{}, RefersTo: []reference{}}
	snap.Referrers(loc.ObjectKey, func(referrer, leaf string) bool {
		ref, ok := s.readableRef(r, snap, referrer, leaf)
		if !ok {
			return true
		}
		if len(a.Referrers) == maxReferences {
			a.Truncated = true
			return false
		}
		a.Referrers = append(a.Referrers, ref)
		return true
	})
	snap.RefersTo(loc.ObjectKey, func(leaf, target string) bool {
		ref, _ := s.readableRef(r, snap, loc.ObjectKey, leaf)
		tl, err := s.sch.ParseObjectKey(target)
		if err != nil || !s.canRead(r, tl.REST()) {
			return true // a target the caller may not read is not named
		}
		if len(a.RefersTo) == maxReferences {
			a.Truncated = true
			return false
		}
		ref.Target = tl.REST()
		a.RefersTo = append(a.RefersTo, ref)
		return true
	})
	return writeJSON(w, http.StatusOK, a)
}

// readableRef renders the referring leaf ("mbr/traffic-class=class-1") of
// the object stored at key as REST paths; ok is false when the caller may
// not read that object (or the key no longer resolves).
func (s *Server) readableRef(r *http.Request, snap *config.Snapshot, key, leaf string) (reference, bool) {
	name, value, _ := strings.Cut(leaf, "=")
	l, err := s.sch.ParseObjectKey(key)
	if err != nil {
		return reference{}, false
	}
	obj := l.REST()
	if _, ok := snap.Get(key); !ok || !s.canRead(r, obj) {
		return reference{}, false
	}
	return reference{Object: obj, Leaf: obj + "/" + name, Value: value}, true
}
