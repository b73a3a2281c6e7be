// Package policy holds AMP's default authorization policy as configuration-
// as-code: Rego modules (authz.rego) and their unit tests (*_test.rego),
// embedded in the binary. internal/policy compiles them; an operator can
// replace them with a directory of their own (see docs/identity.md).
package policy

import "embed"

// FS holds the default policy's *.rego files (tests included).
//
//go:embed *.rego
var FS embed.FS
