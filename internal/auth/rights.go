package auth

import (
	"slices"
	"strings"

	"github.com/amp-edge/amp/internal/tenant"
)

// Role is a right the default policy knows. Enterprise roles are always
// held on one enterprise (Right.Enterprise); the others on none.
type Role string

// The roles of the Aether Management Platform (Edge Cloud Operations, ch. 5).
const (
	RoleOperator         Role = "operator"          // everything
	RoleEnterpriseAdmin  Role = "enterprise-admin"  // read-write on one enterprise
	RoleEnterpriseMember Role = "enterprise-member" // read-only on one enterprise
	RoleStateWriter      Role = "state-writer"      // machines: writes under /state/ only
	RoleSuspended        Role = "suspended"         // denied everything, whatever else is held
	// RoleAgent is an edge agent's, held on its cluster (Right.Cluster):
	// it reaches that cluster's /edge/v1/clusters/{cluster}/… routes and
	// nothing else. Only AMP's agent CA grants it, through a client
	// certificate (internal/edge/ca): no group and no API token can, so it
	// is not Known.
	RoleAgent Role = "agent"
)

// Right is a role, with the enterprise it is held on for the enterprise
// roles. Rights are structured so that no enterprise id can be read as a
// role: before, the rights were bare group strings built from enterprise
// ids ("<id>-admin"), and an enterprise named "acme-admin" made its members
// admins of "acme".
type Right struct {
	Role       Role   `json:"role"`
	Enterprise string `json:"enterprise,omitempty"`
	// Cluster is the cluster an agent right is held on (RoleAgent only).
	Cluster string `json:"cluster,omitempty"`
}

// GroupPrefix starts the structured group names: "amp:operator",
// "amp:enterprise-admin:acme". An identity provider that sends these needs
// no naming convention at all; String gives a right's group name.
const GroupPrefix = "amp:"

// String returns the structured group name of r (an agent's right names
// its cluster, for the audit trail; no group grants it).
func (r Right) String() string {
	if r.Cluster != "" {
		return GroupPrefix + string(r.Role) + ":" + r.Cluster
	}
	if r.Enterprise == "" {
		return GroupPrefix + string(r.Role)
	}
	return GroupPrefix + string(r.Role) + ":" + r.Enterprise
}

// Scoped reports whether role is held on an enterprise.
func (role Role) Scoped() bool {
	return role == RoleEnterpriseAdmin || role == RoleEnterpriseMember
}

// Known reports whether role is one of the roles above that a group or
// an API token may grant (every one but RoleAgent).
func (role Role) Known() bool {
	switch role {
	case RoleOperator, RoleEnterpriseAdmin, RoleEnterpriseMember, RoleStateWriter, RoleSuspended:
		return true
	}
	return false
}

// The group names of the book's Aether deployment that name a role by
// themselves.
const (
	bookOperator        = "AetherROCAdmin"
	bookEnterpriseAdmin = "EnterpriseAdmin"
	bookStateWriter     = "amp-state-writer"
	bookSuspended       = "amp-suspended"
)

// BookOperator is the book's operator group, for help texts that name it.
const BookOperator = bookOperator

// enterpriseGroup reports whether a book group name can be read as an
// enterprise id: well formed and not reserved (tenant.Reserved).
func enterpriseGroup(id string) bool { return tenant.WellFormed(id) && tenant.Reserved(id) == "" }

// RightsFromGroups maps an identity's group names to rights, the one
// mapping every source of groups (OIDC claims, client-certificate OUs,
// tokens stored before rights existed) goes through (docs/identity.md):
//
//	amp:operator, amp:state-writer, amp:suspended       the role
//	amp:enterprise-admin:<id>, amp:enterprise-member:<id>  the role on <id>
//
// and, unless book is false, the book's names:
//
//	AetherROCAdmin        operator
//	amp-state-writer      state-writer
//	amp-suspended         suspended
//	<id>-admin            enterprise-admin on <id>
//	EnterpriseAdmin       with <id>: enterprise-admin on each such <id>
//	<id>                  enterprise-member on <id>
//
// A book name is read as an enterprise only when it is a well-formed
// enterprise id that is not reserved (tenant.Reserved), so no group means
// two things. Other groups (offline_access, ...) grant nothing.
func RightsFromGroups(groups []string, book bool) []Right {
	out := []Right{} // never nil: RightsOf tells "no rights" from "not mapped yet"
	add := func(r Right) {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	enterpriseAdmin := book && slices.Contains(groups, bookEnterpriseAdmin)
	for _, g := range groups {
		if s, ok := strings.CutPrefix(g, GroupPrefix); ok {
			role, ent, _ := strings.Cut(s, ":")
			r := Right{Role: Role(role), Enterprise: ent}
			if r.Role.Known() && r.Role.Scoped() == (ent != "") && (ent == "" || tenant.WellFormed(ent)) {
				add(r)
			}
			continue
		}
		if !book {
			continue
		}
		switch g {
		case bookOperator:
			add(Right{Role: RoleOperator})
			continue
		case bookStateWriter:
			add(Right{Role: RoleStateWriter})
			continue
		case bookSuspended:
			add(Right{Role: RoleSuspended})
			continue
		}
		if ent, ok := strings.CutSuffix(g, tenant.AdminSuffix); ok {
			if enterpriseGroup(ent) {
				add(Right{Role: RoleEnterpriseAdmin, Enterprise: ent})
			}
			continue
		}
		if enterpriseGroup(g) {
			add(Right{Role: RoleEnterpriseMember, Enterprise: g})
			if enterpriseAdmin {
				add(Right{Role: RoleEnterpriseAdmin, Enterprise: g})
			}
		}
	}
	return out
}

// RightsOf returns what p may do as rights: p.Rights when the principal
// was built with them (API tokens, OIDC), otherwise its groups through the
// book's mapping (client-certificate OUs, principals built in code).
func RightsOf(p *Principal) []Right {
	if p == nil {
		return nil
	}
	if p.Rights != nil {
		return p.Rights
	}
	return RightsFromGroups(p.Groups, true)
}

// GroupNames returns the structured group names of rights (what the audit
// trail shows as an API token's groups).
func GroupNames(rights []Right) []string {
	out := make([]string, len(rights))
	for i, r := range rights {
		out[i] = r.String()
	}
	return out
}
