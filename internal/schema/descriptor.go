package schema

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"
)

// DescriptorFile is the name of a model set's descriptor, beside its YANG
// modules in <set>/<version>/.
const DescriptorFile = "modelset.yaml"

// Scope says who owns a model set's objects.
type Scope string

const (
	// ScopeTenant: every object lives under one tenant (an enterprise),
	// /{prefix}/v{version}/{tenant}/…
	ScopeTenant Scope = "tenant"
	// ScopeGlobal: the objects belong to the operator,
	// /{prefix}/v{version}/…
	ScopeGlobal Scope = "global"
)

// Descriptor is what a model set declares about itself beside its YANG:
// every generic layer (engine, REST, OpenAPI, gNMI, policy, audit, CLI)
// reads these fields instead of knowing a set by name.
type Descriptor struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Scope   Scope  `json:"scope"`
	// RESTPrefix is the first segment of the set's REST paths.
	RESTPrefix string `json:"rest-prefix,omitempty"`
	// GNMIOrigin is the origin of the set's gNMI paths.
	GNMIOrigin string `json:"gnmi-origin,omitempty"`
	// OpenAPIPrefix is put before the set's OpenAPI schema names; a set
	// whose clients know its bare names ("Site") keeps them with an empty
	// prefix.
	OpenAPIPrefix string `json:"openapi-prefix"`
	// CLIName is the set's short name on the command line.
	CLIName string `json:"cli-name,omitempty"`
	// Compat names the compatibility rule sets that apply to this set
	// only: layers registered with internal/api/compat by name.
	Compat []string `json:"compat,omitempty"`
	// MigrateFrom declares, in the newer version's descriptor, how objects
	// of an older version of the same set become objects of this one
	// (internal/schema/migrate; docs/models.md, "Migrations").
	MigrateFrom []MigrateFrom `json:"migrate-from,omitempty"`
}

// MigrateFrom is a declarative migration from an older version of a set:
// nodes renamed, "<object path>/<old>" to "<object path>/<new>" (schema
// paths without the leading slash, e.g. rack/height: rack/units).
type MigrateFrom struct {
	Version string            `json:"version"`
	Rename  map[string]string `json:"rename,omitempty"`
}

var (
	setNameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	setVersionRE = regexp.MustCompile(`^[0-9][0-9A-Za-z.+-]*$`)
)

// parseDescriptor reads a descriptor, checks it against the directory it was
// found in and fills in the defaults. A set without a descriptor file gets
// defaults of tenant scope (how --models sets loaded before descriptors).
func parseDescriptor(name, version string, text []byte) (Descriptor, error) {
	d := Descriptor{Name: name, Version: version, Scope: ScopeTenant, OpenAPIPrefix: camel(name)}
	if text != nil {
		if err := yaml.UnmarshalStrict(text, &d); err != nil {
			return d, fmt.Errorf("%s: %w", DescriptorFile, err)
		}
	}
	if d.Name != name || d.Version != version {
		return d, fmt.Errorf("%s: declares %s %s but lies in %s/%s", DescriptorFile, d.Name, d.Version, name, version)
	}
	if !setNameRE.MatchString(name) {
		return d, fmt.Errorf("set name %q must match %s", name, setNameRE)
	}
	if !setVersionRE.MatchString(version) {
		// A version starts with a digit, a tenant id with a letter: that is
		// how an old storage key (set/tenant/…) is told from a new one
		// (set/version/…).
		return d, fmt.Errorf("set version %q must start with a digit and match %s", version, setVersionRE)
	}
	switch d.Scope {
	case ScopeTenant, ScopeGlobal:
	default:
		return d, fmt.Errorf("%s: scope %q: want %q or %q", DescriptorFile, d.Scope, ScopeTenant, ScopeGlobal)
	}
	if d.RESTPrefix == "" {
		d.RESTPrefix = name
	}
	if d.GNMIOrigin == "" {
		d.GNMIOrigin = name
	}
	if d.CLIName == "" {
		d.CLIName = name
	}
	for _, s := range []struct{ field, v string }{{"rest-prefix", d.RESTPrefix}, {"gnmi-origin", d.GNMIOrigin}, {"cli-name", d.CLIName}} {
		if !setNameRE.MatchString(s.v) {
			return d, fmt.Errorf("%s: %s %q must match %s", DescriptorFile, s.field, s.v, setNameRE)
		}
	}
	return d, nil
}

// camel turns a set name into an OpenAPI schema prefix: "lab-inventory" →
// "LabInventory".
func camel(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		if r == '-' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Global reports whether the set's objects belong to the operator rather
// than to a tenant.
func (ms *ModelSet) Global() bool { return ms.Scope == ScopeGlobal }

// HasCompat reports whether the compatibility rule set applies to this set.
func (ms *ModelSet) HasCompat(rules string) bool {
	for _, c := range ms.Compat {
		if c == rules {
			return true
		}
	}
	return false
}
