package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/amp-edge/amp/internal/auth"
)

func TestAnalyseInputUse(t *testing.T) {
	for name, tc := range map[string]struct {
		src      string
		all      bool
		has, not []string
	}{
		"default-like": {
			src: `allow if { input.kind == "model"; input.enterprise in input.principal.groups; input.canonical }`,
			has: []string{"kind", "enterprise", "principal.groups", "canonical"},
			not: []string{"path", "principal.name", "action"},
		},
		"reads the path": {
			src: `allow if startswith(input.path, "/aether")`,
			has: []string{"path"},
		},
		"whole principal": {
			src: `allow if object.get(input.principal, "name", "") != ""`,
			has: []string{"principal.name", "principal.groups", "principal.via"},
			not: []string{"path"},
		},
		"whole input":     {src: `allow if count(input) > 0`, all: true},
		"computed key":    {src: `allow if { k := "path"; input[k] }`, all: true},
		"imported input":  {src: "import input as i\nallow if i.kind", all: true},
		"imported a leaf": {src: "import input.path as p\nallow if p", has: []string{"path"}},
	} {
		t.Run(name, func(t *testing.T) {
			src := tc.src
			if !strings.HasPrefix(src, "import") {
				src = "\n" + src
			}
			m, err := ast.ParseModule("p.rego", "package amp.authz\n"+src)
			if err != nil {
				t.Fatal(err)
			}
			u := analyseInputUse([]*ast.Module{m})
			if u.all != tc.all {
				t.Fatalf("all = %v, want %v (fields %v)", u.all, tc.all, u.fields)
			}
			for _, f := range tc.has {
				if !u.fields[f] {
					t.Errorf("%s not found among %v", f, u.fields)
				}
			}
			for _, f := range tc.not {
				if u.fields[f] {
					t.Errorf("%s reported, but the policy does not read it", f)
				}
			}
		})
	}
}

// The cache must never let a decision about one input answer another the
// policy tells apart: other enterprises, other actions, other callers,
// non-canonical paths, and — for a policy that reads it — the path itself.
func TestCacheKeysOnWhatThePolicyReads(t *testing.T) {
	e, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if e.cur.Load().use.fields["path"] || e.cur.Load().use.all {
		t.Fatalf("the default policy should not read input.path: %+v", e.cur.Load().use)
	}
	ctx := context.Background()
	check := func(e *Engine, p *auth.Principal, a auth.Action, path string, want bool) {
		t.Helper()
		if got := e.authorizePath(ctx, p, a, path) == nil; got != want {
			t.Errorf("%s %s %s: allowed=%v, want %v", p.Name, a, path, got, want)
		}
	}
	for i := 0; i < 3; i++ { // second and third rounds are served from the cache
		check(e, alice, auth.Write, "/aether/v2.1.x/acme/site/s1", true)
		check(e, alice, auth.Write, fmt.Sprintf("/aether/v2.1.x/acme/site/s%d/device/d1", i), true)
		check(e, alice, auth.Write, "/aether/v2.1.x/acme/../starbucks/site/s1", false)
		check(e, alice, auth.Write, "/aether/v2.1.x/starbucks/site/s1", false)
		check(e, mallory, auth.Read, "/aether/v2.1.x/starbucks/site/s1", true)
		check(e, mallory, auth.Write, "/aether/v2.1.x/starbucks/site/s1", false)
		check(e, &auth.Principal{Name: "mallory", Groups: []string{"acme"}}, auth.Read, "/aether/v2.1.x/starbucks/site/s1", false)
	}
	if n := len(e.cur.Load().cache.m); n != 6 {
		t.Errorf("cache holds %d decisions, want 6 (one per caller, action and enterprise, plus the non-canonical one)", n)
	}

	// A policy that reads the path is cached per path.
	byPath, err := Load(fstest.MapFS{"a.rego": {Data: []byte(`package amp.authz
import rego.v1
decision := {"allow": endswith(input.path, "/ok"), "deny": set()}
`)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		check(byPath, alice, auth.Read, "/aether/v2.1.x/acme/ok", true)
		check(byPath, alice, auth.Read, "/aether/v2.1.x/acme/no", false)
	}
}
