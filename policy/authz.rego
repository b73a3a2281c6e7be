# AMP's default authorization policy (Edge Cloud Operations, ch. 5): the
# roles of the Aether Management Platform. The policy decides on the
# caller's rights, {role, enterprise} pairs that AMP maps from identity-
# provider groups (LDAP groups, Keycloak realm roles or groups, Dex groups,
# client-certificate OUs) or keeps in an API token (docs/identity.md):
#
#   operator                  operators: everything, global model sets included.
#   enterprise-admin  <ent>   read-write on <ent>'s subtree of every tenant
#                             model set; nothing of the global sets.
#   enterprise-member <ent>   read-only on it.
#   state-writer              machines reporting operational state:
#                             writes under /state/ only.
#   suspended                 nothing, whatever else is held.
#   agent             <cluster>  an edge agent (its client certificate,
#                             signed by AMP's agent CA; no group or token
#                             grants it): reads and writes its own
#                             cluster's /edge/v1/clusters/<cluster>/…
#                             routes, nothing else.
#
# Rights are structured, never built from names: an enterprise id cannot
# be read as a role ("acme-admin" is not the admins of "acme").
#
# Deny by default; any "deny" reason overrides every "allow".
#
# Input (built by internal/policy from each request):
#   principal   {name, groups, rights, via}   via: token | oidc | mtls
#               rights: [{"role": ..., "enterprise": ... or "",
#                         "cluster": ... or ""}]
#               groups: as the identity asserted them (for custom rules)
#   action      "read" | "write" | "admin"
#   path        the REST path, e.g. /aether/v2.1.x/acme/site/s1
#   kind        model | state | enterprise | enterprises | transactions |
#               sync-status | audit | admin | ... (first path segment) | other
#   set, version, scope   the model set of a model or state path, and its
#               scope: "tenant" (objects of one enterprise) or "global"
#               (the operator's objects); "" for other paths
#   tenant      the enterprise a path belongs to (a tenant set's path, or
#               /enterprises/{id}); ABSENT for global objects and AMP's
#               own routes
#   enterprise  the same as tenant, "" when absent (the name before model
#               sets had scopes, kept for custom policies)
#   canonical   false when the path has "." or ".." segments
#
#   cluster     the {cluster} segment of an edge agent route
#               (/edge/v1/clusters/{cluster}/…, kind "edge"); ABSENT on
#               every other path
#
#   owner       for an object of a global set, the enterprise the object
#               names in its ampx:tenant leaf (a lab rack's "tenant: acme");
#               ABSENT when it names none, and for every other path
#
# Global sets: operators read and write them. Enterprise admins and members
# READ the global objects tied to their enterprise (input.owner) and
# nothing else global; they never write a global object, tied or not.
# A global collection (/lab/v1.0.0/rack) has no owner: the server lists it
# to an enterprise role entry by entry, each asked about with its owner.
#
# Listings (kind enterprises, transactions, sync-status, audit, targets, models,
# diff, watch, search) are allowed to anyone holding some role: the server
# filters each item through this same policy (read on the item's path), so
# a caller sees only what they may read. So is /whoami (kind whoami): the
# caller and this policy's decision on each path it names.
package amp.authz

import rego.v1

default allow := false

# The decision internal/policy asks for.
decision := {"allow": allowed, "deny": deny}

default allowed := false

allowed if {
	allow
	count(deny) == 0
}

# holds(role): the caller holds role (on no enterprise, or on any).
holds(role) if {
	some r in input.principal.rights
	r.role == role
}

operator if holds("operator")

# The rules below test input.kind and input.action with == first, so that
# OPA's rule index skips the ones that cannot match.

# input.tenant is absent for global objects: these never hold there.
enterprise_admin if {
	some r in input.principal.rights
	r.role == "enterprise-admin"
	r.enterprise == input.tenant
}

enterprise_member if {
	some r in input.principal.rights
	r.role == "enterprise-member"
	r.enterprise == input.tenant
}

enterprise_member if enterprise_admin

# owner_member: the caller is an admin or member of the enterprise a global
# object is tied to. input.owner is absent otherwise: this never holds there.
owner_member if {
	some r in input.principal.rights
	r.role in {"enterprise-admin", "enterprise-member"}
	r.enterprise == input.owner
}

# has_role: the caller holds a role that reads configuration (listings).
has_role if {
	some r in input.principal.rights
	r.role in {"operator", "enterprise-admin", "enterprise-member"}
}

listings := {"enterprises", "transactions", "sync-status", "audit", "targets", "spec", "models", "diff", "watch", "search", "whoami"}

# Operators may do everything.
allow if operator

# Enterprise admins: read and write their enterprise's configuration.
allow if {
	input.kind == "model"
	input.action == "write"
	enterprise_admin
}

# Enterprise members (and admins): read their enterprise.
allow if {
	input.kind == "model"
	input.action == "read"
	enterprise_member
}

allow if {
	input.kind == "enterprise"
	input.action == "read"
	enterprise_member
}

# Enterprise admins and members: read the global objects tied to their
# enterprise (never write them).
allow if {
	input.kind == "model"
	input.action == "read"
	input.scope == "global"
	owner_member
}

# Listings, filtered item by item by the server.
allow if {
	input.action == "read"
	input.kind in listings
	has_role
}

# An edge agent: its own cluster's link routes (desired state, check-in,
# certificate renewal), nothing else. input.cluster is absent off the edge
# routes: this never holds there.
allow if {
	input.kind == "edge"
	input.action in {"read", "write"}
	some r in input.principal.rights
	r.role == "agent"
	r.cluster == input.cluster
}

# Machines push operational state; nothing else.
allow if {
	input.kind == "state"
	input.action in {"write", "admin"}
	holds("state-writer")
}

# --- deny: overrides every allow -----------------------------------------

# Reading input.principal.name (not all of input.principal) keeps the
# groups out of the decision cache's key (internal/policy inputUse).
deny contains "anonymous principal" if not named

named if input.principal.name != ""

# A cluster's desired state carries the cluster's private sealing keys
# (its sealed-secret objects, docs/lifecycle.md "Sealed secrets"): the
# cluster's own agent alone reads it, operators included. It is the only
# read of the edge routes (the others write), so the rule tests the
# action rather than input.path, which keeps decisions cacheable.
deny contains "a cluster's desired state carries its sealing keys: only the cluster's agent reads it" if {
	input.kind == "edge"
	input.action == "read"
	not own_agent
}

own_agent if {
	some r in input.principal.rights
	r.role == "agent"
	r.cluster == input.cluster
}

deny contains "account suspended (role suspended)" if {
	holds("suspended")
}

# input.canonical is computed by AMP (no "." or ".." segments). Testing it
# rather than input.path keeps the policy independent of the full path, so
# one cached decision serves every path of an enterprise.
deny contains "path is not canonical" if not input.canonical

deny contains "unknown action" if {
	not input.action in {"read", "write", "admin"}
}
