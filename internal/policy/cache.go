package policy

import (
	"strings"
	"sync"

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

// cacheKey encodes the whole policy input; NUL cannot occur in names,
// groups or paths of well-formed requests, and \x01 separates groups.
func cacheKey(p *auth.Principal, action auth.Action, path string) string {
	var b strings.Builder
	n := len(action) + len(path) + 8
	if p != nil {
		n += len(p.Name) + len(p.Via)
		for _, g := range p.Groups {
			n += len(g) + 1
		}
	}
	b.Grow(n)
	b.WriteString(string(action))
	b.WriteByte(0)
	b.WriteString(path)
	b.WriteByte(0)
	if p != nil {
		b.WriteString(p.Name)
		b.WriteByte(0)
		b.WriteString(p.Via)
		b.WriteByte(0)
		for _, g := range p.Groups {
			b.WriteString(g)
			b.WriteByte(1)
		}
	}
	return b.String()
}
