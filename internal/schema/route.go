package schema

import (
	"fmt"
	"strings"
)

// The kinds of route ParseRoute tells apart. A route of any other first
// segment (transactions, sync-status, audit, admin, …; see topKinds) has
// that segment as its kind.
const (
	RouteModel       = "model"       // /{prefix}/v{version}/[{tenant}/]…
	RouteState       = "state"       // /state/{prefix}/v{version}/[{tenant}/]…
	RouteEnterprise  = "enterprise"  // /enterprises/{id}
	RouteEnterprises = "enterprises" // /enterprises
	RouteOther       = "other"       // anything else
)

// topKind reports whether a first segment names a route of AMP's own (not
// a model set's): the route's kind is the segment itself.
func topKind(seg string) bool {
	switch seg {
	case "transactions", "sync-status", "audit", "admin", "targets", "spec", "models", "diff", "watch", "search", "metrics", "whoami":
		return true
	}
	return false
}

// Route is a REST path classified by the one path grammar: every layer that
// needs to know what a path addresses (the REST handlers, gNMI, the
// authorizer, the audit trail) asks ParseRoute instead of splitting the
// path itself.
type Route struct {
	// Kind is one of the Route* constants, a first segment topKind accepts,
	// or the name of a compatibility rule set's route.
	Kind string
	// Set is the model set of a model or state route (nil otherwise, and
	// for a bare /state).
	Set *ModelSet
	// Tenant is the unescaped tenant of a tenant set's route, or the id of
	// /enterprises/{id}; "" for a global set's routes.
	Tenant string
	// Data are the path segments after the set's prefix (and tenant), still
	// escaped, as Resolve takes them.
	Data []string
	// Canonical is false when the path has "." or ".." segments (a path the
	// router never passes on; the policy denies it).
	Canonical bool
}

// ParseRoute classifies an escaped REST path (r.URL.EscapedPath(), or a
// path AMP rendered such as Location.REST()):
//
//	/net/v2.0.x/acme/site/s1      model, set net 2.0.x (tenant), tenant acme, data [site s1]
//	/lab/v1.0.0/rack/r1           model, set lab 1.0.0 (global), data [rack r1]
//	/state/net/v2.0.x/acme/…      state, the same fields
//	/enterprises/acme             enterprise, tenant acme
//	/transactions/12              transactions (likewise the other topKind segments)
//	/{compat}                     the compatibility layer a set names (Compat)
//
// The errors (a *Error naming the path) are an unknown version of a loaded
// set (naming the loaded versions) and a tenant set's path without its
// tenant. A path that names no loaded set is RouteOther, not an error: it is
// the router's to refuse.
func (s *Schema) ParseRoute(escapedPath string) (Route, error) {
	slashed := escapedPath + "/"
	canonical := !strings.Contains(slashed, "/../") && !strings.Contains(slashed, "/./")
	segs := strings.Split(strings.Trim(escapedPath, "/"), "/")
	rt := Route{Kind: RouteOther, Canonical: canonical}
	switch first := segs[0]; {
	case first == "":
		return rt, nil
	case first == RouteState:
		rt.Kind = RouteState
		if len(segs) < 3 {
			return rt, nil // /state itself: what the authorizer is asked about
		}
		return s.modelRoute(rt, escapedPath, segs[1:])
	case first == "enterprises":
		if len(segs) >= 2 && segs[1] != "" {
			rt.Kind, rt.Tenant = RouteEnterprise, unescapeLoose(segs[1])
			return rt, nil
		}
		rt.Kind = RouteEnterprises
		return rt, nil
	case topKind(first):
		rt.Kind = first
		return rt, nil
	}
	rt.Kind = RouteModel
	rt, err := s.modelRoute(rt, escapedPath, segs)
	if rt.Kind == RouteOther && s.compatRoute(segs[0]) {
		rt.Kind = segs[0]
	}
	return rt, err
}

// modelRoute fills in the set, tenant and data of a model or state route
// from segs = {prefix}, v{version}, [{tenant}], data…
func (s *Schema) modelRoute(rt Route, path string, segs []string) (Route, error) {
	var versions []string
	for _, ms := range s.Sets {
		if ms.RESTPrefix != segs[0] {
			continue
		}
		versions = append(versions, ms.Version)
		if len(segs) >= 2 && len(segs[1]) > 1 && segs[1][0] == 'v' && segs[1][1:] == ms.Version {
			rt.Set = ms
		}
	}
	switch {
	case versions == nil:
		return Route{Kind: RouteOther, Canonical: rt.Canonical}, nil
	case len(segs) < 2:
		return rt, Errorf(KindNotFound, path, "missing version: use /%s/v{version}/… (loaded: %s)", segs[0], vList(versions))
	case rt.Set == nil:
		return rt, Errorf(KindNotFound, path, "model set %s has no version %q loaded (loaded: %s)", segs[0], strings.TrimPrefix(segs[1], "v"), vList(versions))
	case rt.Set.Global():
		rt.Data = segs[2:]
		return rt, nil
	case len(segs) < 3 || segs[2] == "":
		return rt, Errorf(KindNotFound, path, "missing tenant: %s is a tenant set, use /%s/%s/{tenant}/…", rt.Set.Name, segs[0], segs[1])
	}
	t, err := UnescapeSegment(segs[2])
	if err != nil {
		return rt, Errorf(KindInvalid, path, "bad escape in tenant %q", segs[2])
	}
	rt.Tenant, rt.Data = t, segs[3:]
	return rt, nil
}

// compatRoute reports whether seg is the route of a compatibility rule set
// a loaded set names (its bulk route, internal/api/compat).
func (s *Schema) compatRoute(seg string) bool {
	for _, ms := range s.Sets {
		if ms.HasCompat(seg) {
			return true
		}
	}
	return false
}

func vList(versions []string) string {
	out := make([]string, len(versions))
	for i, v := range versions {
		out[i] = "v" + v
	}
	return strings.Join(out, ", ")
}

// unescapeLoose unescapes a segment, keeping it as sent when it is not a
// valid escape (an id that cannot exist, so nothing is found under it).
func unescapeLoose(s string) string {
	if u, err := UnescapeSegment(s); err == nil {
		return u
	}
	return s
}

// Resolve resolves a model or state route's data to its location.
func (rt Route) Resolve() (*Location, error) {
	if rt.Set == nil {
		return nil, fmt.Errorf("schema: a %s route has no model set to resolve in", rt.Kind)
	}
	return Resolve(rt.Set, rt.Tenant, rt.Data)
}

// Lookup walks a decoded JSON object along path (member names) and returns
// the value found there, if any.
func Lookup(m map[string]any, path []string) (any, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}
