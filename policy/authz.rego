# AMP's default authorization policy (Edge Cloud Operations, ch. 5): the
# roles of the Aether Management Platform, mapped from identity-provider
# groups (LDAP groups, Keycloak realm roles or groups, Dex groups, or the
# groups of an API token).
#
#   AetherROCAdmin            operators: everything.
#   <enterprise>-admin        enterprise admins: read-write on their
#   EnterpriseAdmin + <ent>   enterprise's subtree of every model set.
#   <enterprise>              enterprise members: read-only on it.
#   amp-state-writer          machines reporting operational state:
#                             writes under /state/ only.
#
# Deny by default; any "deny" reason overrides every "allow".
#
# Input (built by internal/policy from each request):
#   principal   {name, groups, via}   via: token | oidc | mtls
#   action      "read" | "write" | "admin"
#   path        the REST path, e.g. /aether/v2.1.x/acme/site/s1
#   kind        model | state | enterprise | enterprises | transactions |
#               sync-status | audit | admin | ... (first path segment) | other
#   set, version, enterprise   parsed from model, state and /enterprises/{id} paths
#   canonical   false when the path has "." or ".." segments
#
# Listings (kind enterprises, transactions, sync-status, audit, targets,
# diff, watch, search) are allowed to anyone holding some role: the server
# filters each item through this same policy (read on the item's path), so
# a caller sees only what they may read.
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

groups := {g | some g in input.principal.groups}

operator if "AetherROCAdmin" in groups

# The rules below test input.kind and input.action with == first, so that
# OPA's rule index skips the ones that cannot match.

enterprise_admin if concat("", [input.enterprise, "-admin"]) in groups

enterprise_admin if {
	"EnterpriseAdmin" in groups
	input.enterprise in groups
}

enterprise_member if input.enterprise in groups

enterprise_member if enterprise_admin

# has_role: the caller holds some role at all (listing endpoints).
has_role if count(groups - non_enterprise_groups) > 0

non_enterprise_groups := {"EnterpriseAdmin", "amp-state-writer", "amp-suspended", "offline_access", "uma_authorization"}

listings := {"enterprises", "transactions", "sync-status", "audit", "targets", "spec", "diff", "watch", "search"}

# Operators may do everything.
allow if operator

# Enterprise admins: read and write their enterprise's configuration.
allow if {
	input.kind == "model"
	input.action == "write"
	input.enterprise != ""
	enterprise_admin
}

# Enterprise members (and admins): read their enterprise.
allow if {
	input.kind == "model"
	input.action == "read"
	input.enterprise != ""
	enterprise_member
}

allow if {
	input.kind == "enterprise"
	input.action == "read"
	input.enterprise != ""
	enterprise_member
}

# Listings, filtered item by item by the server.
allow if {
	input.action == "read"
	input.kind in listings
	has_role
}

# Machines push operational state; nothing else.
allow if {
	input.kind == "state"
	input.action in {"write", "admin"}
	"amp-state-writer" in groups
}

# --- deny: overrides every allow -----------------------------------------

deny contains "anonymous principal" if {
	object.get(input.principal, "name", "") == ""
}

deny contains "account suspended (group amp-suspended)" if {
	"amp-suspended" in groups
}

# input.canonical is computed by AMP (no "." or ".." segments). Testing it
# rather than input.path keeps the policy independent of the full path, so
# one cached decision serves every path of an enterprise.
deny contains "path is not canonical" if not input.canonical

deny contains "unknown action" if {
	not input.action in {"read", "write", "admin"}
}
