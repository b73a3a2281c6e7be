// Package tenant says what an enterprise (tenant) id may be. The rules are
// shared by the configuration engine, which refuses a bad id when an
// enterprise is created, and by internal/auth, which reads enterprise ids
// out of identity-provider group names: both must agree, or a group name
// could mean two things.
package tenant

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxLen bounds an enterprise id.
const MaxLen = 63

var idRE = regexp.MustCompile(`^[a-z]([a-z0-9-]?[a-z0-9])*$`)

// WellFormed reports whether id has the syntax of an enterprise id:
// 1..63 characters matching [a-z]([a-z0-9-]?[a-z0-9])*.
func WellFormed(id string) bool { return len(id) <= MaxLen && idRE.MatchString(id) }

// Syntax describes WellFormed for error messages.
const Syntax = "1..63 characters matching [a-z]([a-z0-9-]?[a-z0-9])*"

// The parts of the book's group names (docs/identity.md) that an
// enterprise id must not have.
const (
	AdminSuffix    = "-admin" // "<id>-admin": the admins of <id>
	ReservedPrefix = "amp-"   // amp-state-writer, amp-suspended: AMP's roles
)

// Reserved returns why id may not name a new enterprise, or "" when it
// may. An enterprise "acme-admin" would read, in the book's group names,
// as the admins of "acme", and ids starting with "amp-" as AMP's own
// roles; the rights AMP maps from groups are structured so that neither
// happens, and refusing the ids keeps every group name unambiguous.
func Reserved(id string) string {
	switch {
	case strings.HasSuffix(id, AdminSuffix):
		return fmt.Sprintf("ids ending in %q are reserved: the group %q names the admins of enterprise %q", AdminSuffix, id, strings.TrimSuffix(id, AdminSuffix))
	case strings.HasPrefix(id, ReservedPrefix):
		return fmt.Sprintf("ids starting with %q are reserved for AMP's own roles (amp-state-writer, amp-suspended)", ReservedPrefix)
	}
	return ""
}

// IDField is the member of a tenant's record (GET /enterprises/{id}) that
// holds its id: aether-roc-api's name, kept for its clients.
const IDField = "enterprise-id"

// Record returns the body of a new tenant's record; the configuration
// engine stores it as given and adds the display name and description.
func Record(id string) map[string]any { return map[string]any{IDField: id} }
