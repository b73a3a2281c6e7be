package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/amp-edge/amp/internal/schema"
)

// Resource is what an Authorizer is asked about: a REST path as the one
// path grammar (schema.ParseRoute) classifies it, so that no authorizer
// parses paths itself and a global set's objects are told from a tenant's.
type Resource struct {
	// Kind is the route's kind: model, state, enterprise, enterprises,
	// transactions, sync-status, audit, admin, … or other.
	Kind string
	// Set, Version and Scope (tenant or global) name the model set of a
	// model or state path.
	Set, Version, Scope string
	// Tenant is the tenant (enterprise) the path belongs to: a tenant set's
	// tenant, or the id of /enterprises/{id}; "" for global objects.
	Tenant string
	// Owner is, for an object of a global set, the tenant the object is
	// tied to by its ampx:tenant leaf (an inventory rack naming the
	// enterprise it serves); "" when it names none, for every other path,
	// and when the caller classified the path without reading the object
	// (ResourceOf never reads data: whoever holds the snapshot fills it in).
	Owner string
	// Cluster is the {cluster} segment of an edge agent route
	// (/edge/v1/clusters/{cluster}/…, kind "edge"); "" for every other path.
	Cluster string
	// Path is the REST path as asked about.
	Path string
	// Canonical is false when the path has "." or ".." segments.
	Canonical bool
}

// ResourceOf classifies a REST path (escaped, as AMP renders paths) for
// an Authorizer. Its errors are ParseRoute's (a *schema.Error naming the
// path: an unknown version, a tenant set's path without its tenant).
func ResourceOf(sch *schema.Schema, path string) (Resource, error) {
	return ResourceIn(sch, nil, path)
}

// Owners tells the tenant a global object is tied to by its ampx:tenant
// leaf ("" for none): a snapshot of the configuration
// (config.Snapshot.Owner).
type Owners interface {
	Owner(loc *schema.Location) string
}

// ResourceIn is ResourceOf that also fills in Owner for an object of a
// global set, looked up in owners (nil: not looked up). Paths of tenant
// sets and of AMP's own routes cost no lookup.
func ResourceIn(sch *schema.Schema, owners Owners, path string) (Resource, error) {
	rt, err := sch.ParseRoute(path)
	if err != nil {
		return Resource{}, err
	}
	res := Resource{Kind: rt.Kind, Tenant: rt.Tenant, Path: path, Canonical: rt.Canonical}
	if rt.Kind == EdgeKind {
		res.Cluster = edgeCluster(path)
	}
	if rt.Set != nil {
		res.Set, res.Version, res.Scope = rt.Set.Name, rt.Set.Version, string(rt.Set.Scope)
	}
	if owners != nil && rt.Kind == "model" && rt.Set != nil && rt.Set.Global() {
		if loc, err := schema.Resolve(rt.Set, "", rt.Data); err == nil {
			res.Owner = owners.Owner(loc)
		}
	}
	return res, nil
}

// EdgeKind is the route kind of the edge agents' link (the "edge" layer,
// internal/edge/edgeapi): /edge/v1/clusters/{cluster}/….
const EdgeKind = "edge"

// edgeCluster returns the unescaped {cluster} segment of an edge route,
// "" when the path has none (or a bad escape, which names no cluster).
func edgeCluster(path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) < 4 || segs[0] != EdgeKind || segs[2] != "clusters" {
		return ""
	}
	c, err := schema.UnescapeSegment(segs[3])
	if err != nil {
		return ""
	}
	return c
}

// ErrDenied is wrapped by every refusal of an Authorizer.
var ErrDenied = errors.New("permission denied")

// EvaluationError is an Authorizer that could not decide (a policy that
// fails at evaluation): the request is refused as a server error (REST
// 500, gNMI Internal), never passed off as the caller's lack of rights.
type EvaluationError struct{ Err error }

func (e *EvaluationError) Error() string { return fmt.Sprintf("authorization failed: %v", e.Err) }
func (e *EvaluationError) Unwrap() error { return e.Err }

// Refusal is how an interface answers an Authorizer's error.
type Refusal int

const (
	// Unauthenticated: no (valid) credentials — REST 401, gNMI Unauthenticated.
	Unauthenticated Refusal = iota + 1
	// Denied: the policy refuses — REST 403 (or 404 for what the caller may
	// not even see), gNMI PermissionDenied (or NotFound).
	Denied
	// Failed: the decision could not be made — REST 500, gNMI Internal.
	Failed
)

// RefusalOf tells what kind of refusal an Authorizer's (non-nil) error is.
// An error of no known kind is a failure: refused, and answered as the
// server's fault rather than the caller's.
func RefusalOf(err error) Refusal {
	switch {
	case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrBadCredentials):
		return Unauthenticated
	case errors.Is(err, ErrDenied):
		return Denied
	}
	return Failed
}

// AuthorizePath classifies a REST path (as AMP renders it) with the one
// path grammar and asks az about it: what the interfaces call for a path
// they built themselves. A path the grammar refuses is refused with its
// *schema.Error.
func AuthorizePath(ctx context.Context, az Authorizer, sch *schema.Schema, p *Principal, action Action, path string) error {
	res, err := ResourceOf(sch, path)
	if err != nil {
		return err
	}
	return az.Authorize(ctx, p, action, res)
}
