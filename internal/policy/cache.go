package policy

import (
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/amp-edge/amp/internal/auth"
)

// decisionCache remembers decisions for repeated inputs (the same caller
// reading the same paths, listings filtered item by item). It is bounded:
// when full it is emptied, which is cheap and keeps the hot set warm again
// within a few requests.
type decisionCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]Decision
}

func newDecisionCache(max int) *decisionCache {
	return &decisionCache{max: max, m: make(map[string]Decision, 64)}
}

func (c *decisionCache) get(k string) (Decision, bool) {
	c.mu.RLock()
	d, ok := c.m[k]
	c.mu.RUnlock()
	return d, ok
}

func (c *decisionCache) put(k string, d Decision) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string]Decision, 64)
	}
	c.m[k] = d
	c.mu.Unlock()
}

// inputUse is the set of input fields a policy reads, found by walking
// the references of its modules. The cache keys a decision on those fields
// only: the default policy never reads input.path (it reads the parsed
// kind, tenant and canonical flag instead), so one evaluation serves
// every path of an enterprise, and misses are the exception rather than
// one per distinct path.
type inputUse struct {
	all    bool            // the whole input or a computed key: key on everything
	fields map[string]bool // "path", "kind", ..., "principal.name", ...
}

// principalFields are what Input puts under input.principal.
var principalFields = []string{"principal.name", "principal.groups", "principal.rights", "principal.via"}

// analyseInputUse walks every reference in the modules. A reference to
// input.principal as a whole counts as all its fields; a bare `input`, or
// an input key that is not a constant string, counts as everything.
func analyseInputUse(mods []*ast.Module) inputUse {
	u := inputUse{fields: map[string]bool{}}
	for _, m := range mods {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if !r.HasPrefix(ast.InputRootRef) {
				return false
			}
			if len(r) < 2 {
				u.all = true
				return false
			}
			top, ok := r[1].Value.(ast.String)
			if !ok {
				u.all = true
				return false
			}
			if top != "principal" {
				u.fields[string(top)] = true
				return false
			}
			if len(r) < 3 {
				for _, f := range principalFields {
					u.fields[f] = true
				}
				return false
			}
			sub, ok := r[2].Value.(ast.String)
			if !ok {
				for _, f := range principalFields {
					u.fields[f] = true
				}
				return false
			}
			u.fields["principal."+string(sub)] = true
			return false
		})
	}
	return u
}

// key encodes the fields of the input the policy reads (all of them when
// the analysis could not tell). NUL cannot occur in names, groups or paths
// of well-formed requests, and \x01 separates groups.
// reads reports whether the policy may read an input field.
func (u inputUse) reads(field string) bool { return u.all || u.fields[field] }

func (u inputUse) key(p *auth.Principal, action auth.Action, res auth.Resource) string {
	var b strings.Builder
	b.Grow(len(res.Path) + 96)
	field := func(name, v string) {
		if u.all || u.fields[name] {
			b.WriteString(v)
		}
		b.WriteByte(0)
	}
	field("action", string(action))
	field("path", res.Path)
	field("kind", res.Kind)
	field("set", res.Set)
	field("version", res.Version)
	field("scope", res.Scope)
	field("tenant", res.Tenant)
	field("enterprise", res.Tenant)
	field("owner", res.Owner)
	field("cluster", res.Cluster)
	if res.Canonical {
		field("canonical", "t")
	} else {
		field("canonical", "f")
	}
	if p != nil {
		field("principal.name", p.Name)
		field("principal.via", p.Via)
		if u.all || u.fields["principal.groups"] {
			for _, g := range p.Groups {
				b.WriteString(g)
				b.WriteByte(1)
			}
		}
		b.WriteByte(0)
		if u.all || u.fields["principal.rights"] {
			// \x02 separates a right's role, enterprise and cluster: one
			// cluster's agent never gets another's cached decision.
			for _, r := range auth.RightsOf(p) {
				b.WriteString(string(r.Role))
				b.WriteByte(2)
				b.WriteString(r.Enterprise)
				b.WriteByte(2)
				b.WriteString(r.Cluster)
				b.WriteByte(1)
			}
		}
	} else {
		b.WriteString("\x00nil")
	}
	return b.String()
}
