# Unit tests of the default policy: `amp policy test` (and `go test
# ./internal/policy`) run them with OPA's tester.
package amp.authz_test

import rego.v1

import data.amp.authz

# Principals as AMP builds them: groups as asserted, rights as mapped
# (internal/auth RightsFromGroups). The policy reads only the rights.
olivia := {"name": "olivia", "groups": ["AetherROCAdmin"], "rights": [{"role": "operator", "enterprise": ""}], "via": "oidc"}

alice := {"name": "alice", "groups": ["acme-admin"], "rights": [{"role": "enterprise-admin", "enterprise": "acme"}], "via": "oidc"}

# Keycloak / Aether style: a role plus a group named after the enterprise.
kim := {"name": "kim", "groups": ["EnterpriseAdmin", "acme"], "rights": [{"role": "enterprise-member", "enterprise": "acme"}, {"role": "enterprise-admin", "enterprise": "acme"}], "via": "oidc"}

mallory := {"name": "mallory", "groups": ["starbucks"], "rights": [{"role": "enterprise-member", "enterprise": "starbucks"}], "via": "oidc"}

nobody := {"name": "nobody", "groups": [], "rights": [], "via": "oidc"}

bot := {"name": "upf-exporter", "groups": ["amp:state-writer"], "rights": [{"role": "state-writer", "enterprise": ""}], "via": "token"}

# The input as internal/policy builds it: "tenant" only when the path has
# one, "enterprise" always (equal to it, or "").
req(p, action, path, kind, ent) := object.union({
	"principal": p, "action": action, "path": path,
	"kind": kind, "set": "aether", "version": "2.1.x", "scope": "tenant", "enterprise": ent,
	"canonical": true,
}, tenant_of(ent))

tenant_of(ent) := {} if ent == ""

tenant_of(ent) := {"tenant": ent} if ent != ""

# A path of a global model set: no tenant.
global(p, action, kind, path) := {
	"principal": p, "action": action, "path": path,
	"kind": kind, "set": "lab", "version": "1.0.0", "scope": "global", "enterprise": "",
	"canonical": true,
}

model(p, action, ent) := req(p, action, sprintf("/aether/v2.1.x/%s/site/s1/device/d1", [ent]), "model", ent)

allowed(input_) if authz.decision.allow with input as input_

test_operator_everything if {
	allowed(model(olivia, "write", "acme"))
	allowed(model(olivia, "read", "starbucks"))
	allowed(req(olivia, "admin", "/enterprises", "enterprises", ""))
	allowed(req(olivia, "admin", "/enterprises/acme", "enterprise", "acme"))
	allowed(req(olivia, "admin", "/admin/log-level", "admin", ""))
	allowed(req(olivia, "admin", "/admin/backup", "admin", ""))
	allowed(req(olivia, "write", "/transactions", "transactions", ""))
	allowed(req(olivia, "admin", "/state/aether/v2.1.x/acme/upf/u1", "state", "acme"))
}

test_enterprise_admin_own_enterprise if {
	allowed(model(alice, "read", "acme"))
	allowed(model(alice, "write", "acme"))
	allowed(req(alice, "read", "/aether/v2.1.x/acme", "model", "acme"))
	allowed(req(alice, "read", "/enterprises/acme", "enterprise", "acme"))
	allowed(model(kim, "write", "acme"))
}

test_enterprise_admin_not_other_enterprise if {
	not allowed(model(alice, "read", "starbucks"))
	not allowed(model(alice, "write", "starbucks"))
	not allowed(req(alice, "read", "/enterprises/starbucks", "enterprise", "starbucks"))
	not allowed(model(kim, "write", "starbucks"))
}

test_enterprise_admin_not_operator_things if {
	not allowed(req(alice, "admin", "/enterprises", "enterprises", ""))
	not allowed(req(alice, "admin", "/enterprises/acme", "enterprise", "acme"))
	not allowed(req(alice, "admin", "/admin/log-level", "admin", ""))
	not allowed(req(alice, "admin", "/admin/backup", "admin", ""))
	not allowed(req(alice, "admin", "/state/aether/v2.1.x/acme/upf/u1", "state", "acme"))
	not allowed(req(alice, "write", "/state/aether/v2.1.x/acme/upf/u1", "state", "acme"))
	not allowed(req(alice, "write", "/transactions", "transactions", ""))
	not allowed(model(alice, "admin", "acme"))
}

test_enterprise_admin_right_is_held_on_one_enterprise if {
	not allowed(model({"name": "x", "rights": [{"role": "enterprise-admin", "enterprise": "starbucks"}]}, "write", "acme"))
	not allowed(model({"name": "x", "rights": [{"role": "enterprise-admin", "enterprise": ""}]}, "write", "acme"))
}

# Groups grant nothing by themselves: only the rights AMP mapped count, so
# no group named after an enterprise ("acme-admin", "amp-state-writer")
# can be read as a role.
test_groups_alone_grant_nothing if {
	not allowed(model({"name": "x", "groups": ["acme-admin", "AetherROCAdmin"], "rights": []}, "write", "acme"))
	not allowed(req({"name": "x", "groups": ["amp-state-writer"], "rights": []}, "write", "/state/aether/v2.1.x/acme/upf/u1", "state", "acme"))
	member_of_acme_admin := {"name": "x", "rights": [{"role": "enterprise-member", "enterprise": "acme-admin"}]}
	not allowed(model(member_of_acme_admin, "write", "acme"))
	not allowed(model(member_of_acme_admin, "read", "acme"))
}

test_member_read_only if {
	allowed(model(mallory, "read", "starbucks"))
	allowed(req(mallory, "read", "/enterprises/starbucks", "enterprise", "starbucks"))
	not allowed(model(mallory, "write", "starbucks"))
	not allowed(model(mallory, "read", "acme"))
	not allowed(req(mallory, "read", "/enterprises/acme", "enterprise", "acme"))
}

test_listings_for_role_holders_only if {
	allowed(req(alice, "read", "/enterprises", "enterprises", ""))
	allowed(req(mallory, "read", "/transactions", "transactions", ""))
	allowed(req(kim, "read", "/sync-status", "sync-status", ""))
	allowed(req(alice, "read", "/audit", "audit", ""))
	not allowed(req(nobody, "read", "/enterprises", "enterprises", ""))
	not allowed(req(nobody, "read", "/transactions", "transactions", ""))
}

test_deny_by_default if {
	not allowed(model(nobody, "read", "acme"))
	not allowed(req(alice, "read", "/something/else", "other", ""))
	not allowed(req(alice, "read", "/metrics", "metrics", ""))
}

test_machines_state_only if {
	allowed(req(bot, "write", "/state/aether/v2.1.x/acme/upf/u1", "state", "acme"))
	allowed(req(bot, "admin", "/state/aether/v2.1.x/acme/upf/u1", "state", "acme"))
	not allowed(model(bot, "write", "acme"))
	not allowed(model(bot, "read", "acme"))
}

test_deny_overrides_allow if {
	suspended := {"name": "olivia", "rights": [{"role": "operator", "enterprise": ""}, {"role": "suspended", "enterprise": ""}]}
	not allowed(model(suspended, "read", "acme"))
	"account suspended (role suspended)" in authz.decision.deny with input as model(suspended, "read", "acme")
	not allowed(model({"name": "", "rights": [{"role": "operator", "enterprise": ""}]}, "read", "acme"))
	not allowed(model(olivia, "delete", "acme"))
}

test_non_canonical_path_denied if {
	inp := object.union(model(olivia, "read", "acme"), {"path": "/aether/v2.1.x/acme/../starbucks", "canonical": false})
	not allowed(inp)
	"path is not canonical" in authz.decision.deny with input as inp
}

test_missing_canonical_flag_denied if {
	not allowed(object.remove(model(olivia, "read", "acme"), ["canonical"]))
}

test_global_sets_operators_only if {
	allowed(global(olivia, "read", "model", "/lab/v1.0.0/rack/r1"))
	allowed(global(olivia, "write", "model", "/lab/v1.0.0/rack/r1"))
	allowed(global(olivia, "read", "model", "/lab/v1.0.0"))
	not allowed(global(alice, "read", "model", "/lab/v1.0.0/rack/r1"))
	not allowed(global(alice, "write", "model", "/lab/v1.0.0/rack/r1"))
	not allowed(global(kim, "write", "model", "/lab/v1.0.0/rack/r1"))
	not allowed(global(mallory, "read", "model", "/lab/v1.0.0"))
	not allowed(global(nobody, "read", "model", "/lab/v1.0.0/rack/r1"))
	not allowed(global(bot, "read", "model", "/lab/v1.0.0/rack/r1"))
}

# A global object tied to an enterprise by its ampx:tenant leaf: the
# server fills in input.owner from the object.
tied(p, action, owner) := object.union(global(p, action, "model", "/lab/v1.0.0/rack/r1"), {"owner": owner})

test_global_objects_tied_to_an_enterprise if {
	# its admins and members read it ...
	allowed(tied(alice, "read", "acme"))
	allowed(tied(kim, "read", "acme"))
	allowed(tied(mallory, "read", "starbucks"))

	# ... and never write it
	not allowed(tied(alice, "write", "acme"))
	not allowed(tied(kim, "write", "acme"))
	not allowed(tied(alice, "admin", "acme"))

	# other enterprises, machines and callers with no role do not read it
	not allowed(tied(mallory, "read", "acme"))
	not allowed(tied(alice, "read", "starbucks"))
	not allowed(tied(bot, "read", "acme"))
	not allowed(tied(nobody, "read", "acme"))

	# operators still do everything
	allowed(tied(olivia, "write", "acme"))

	# the tie reads only; a state or tenant path is not widened by an owner
	not allowed(object.union(global(alice, "write", "state", "/state/lab/v1.0.0/rack/r1"), {"owner": "acme"}))
	not allowed(object.union(model(mallory, "read", "acme"), {"owner": "starbucks"}))
}

# Machines report the state of global objects as of any other.
test_state_writer_pushes_global_state if {
	allowed(global(bot, "write", "state", "/state/lab/v1.0.0/rack/r1"))
	not allowed(global(bot, "write", "model", "/lab/v1.0.0/rack/r1"))
}

# Edge agents, as internal/edge/ca authenticates them: a right on their
# cluster only.
agent_x := {"name": "cluster:ace-x", "groups": ["amp:agent:ace-x"], "rights": [{"role": "agent", "enterprise": "", "cluster": "ace-x"}], "via": "mtls"}

edge(p, action, cluster, rest) := {
	"principal": p, "action": action, "path": sprintf("/edge/v1/clusters/%s/%s", [cluster, rest]),
	"kind": "edge", "set": "", "version": "", "scope": "", "enterprise": "", "canonical": true, "cluster": cluster,
}

test_agent_own_cluster_only if {
	allowed(edge(agent_x, "read", "ace-x", "desired"))
	allowed(edge(agent_x, "write", "ace-x", "status"))
	allowed(edge(agent_x, "write", "ace-x", "certificate"))
	not allowed(edge(agent_x, "admin", "ace-x", "status"))
	not allowed(edge(agent_x, "read", "ace-y", "desired"))
	not allowed(edge(agent_x, "write", "ace-y", "status"))
}

test_desired_state_agent_only if {
	not allowed(edge(olivia, "read", "ace-x", "desired"))
	allowed(edge(olivia, "write", "ace-x", "status"))
}

test_agent_nothing_else if {
	not allowed(model(agent_x, "read", "acme"))
	not allowed(req(agent_x, "read", "/enterprises", "enterprises", ""))
	not allowed(req(agent_x, "read", "/models", "models", ""))
	not allowed(req(agent_x, "read", "/spec", "spec", ""))
	not allowed(req(agent_x, "write", "/state/aether/v2.1.x/acme/upf/u1", "state", "acme"))
	not allowed(global(agent_x, "read", "model", "/inventory/v1.0.0/cluster/ace-x"))
	not allowed(global(agent_x, "write", "state", "/state/inventory/v1.0.0/cluster/ace-x/agent"))
	not allowed(req(agent_x, "write", "/clusters/ace-x/revoke", "other", ""))
	# An edge path without its cluster segment (input.cluster absent).
	not allowed({"principal": agent_x, "action": "read", "path": "/edge/v1/clusters", "kind": "edge", "set": "", "version": "", "scope": "", "enterprise": "", "canonical": true})
}

test_agent_right_without_cluster_nothing if {
	stray := {"name": "x", "groups": [], "rights": [{"role": "agent", "enterprise": "", "cluster": ""}], "via": "token"}
	not allowed(edge(stray, "read", "ace-x", "desired"))
}

test_operator_edge_routes if {
	allowed(edge(olivia, "write", "ace-x", "status"))
	not allowed(edge(alice, "read", "ace-x", "desired"))
}

test_whoami_for_role_holders if {
	allowed(req(mallory, "read", "/whoami", "whoami", ""))
	allowed(req(alice, "read", "/whoami", "whoami", ""))
	not allowed(req(nobody, "read", "/whoami", "whoami", ""))
	not allowed(req(agent_x, "read", "/whoami", "whoami", ""))
	not allowed(req(mallory, "write", "/whoami", "whoami", ""))
	not allowed(req({"name": "", "rights": []}, "read", "/whoami", "whoami", ""))
	not allowed(req({"name": "olivia", "rights": [{"role": "suspended", "enterprise": ""}]}, "read", "/whoami", "whoami", ""))
}
