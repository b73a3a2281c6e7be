package config

import (
	"sync"

	"github.com/amp-edge/amp/internal/schema"
)

// Check is validation a southbound adapter contributes to every commit:
// a rule its backend will apply that the model does not state (a name
// pattern, an integer width), so a transaction the backend would refuse
// is refused at commit time, with the path and the backend's rule,
// instead of failing later at push time.
//
// It is called for each object the transaction created or changed, after
// the schema's own checks passed; report records a problem at the leaf
// path inner (relative to the object; nil for the object itself). A Check
// must be a pure function of the object: it runs in the commit path.
type Check func(o *Object, report func(inner []string, reason string))

type checks struct {
	mu   sync.RWMutex
	list []Check
}

// AddCheck registers a check that every later transaction passes
// through (adapters register theirs before the server takes writes).
func (e *Engine) AddCheck(c Check) {
	e.checks.mu.Lock()
	e.checks.list = append(e.checks.list, c)
	e.checks.mu.Unlock()
}

// runChecks applies the registered checks to the objects the transaction
// touched that exist after it and changed.
func (w *work) runChecks(get func(key string) (*Object, bool)) {
	w.e.checks.mu.RLock()
	list := w.e.checks.list
	w.e.checks.mu.RUnlock()
	if len(list) == 0 {
		return
	}
	for _, key := range w.order {
		after, ok := get(key)
		if !ok || after.Node == nil {
			continue
		}
		if before := w.before[key]; before != nil && equalValue(before.Data, after.Data) {
			continue // unchanged: it passed when it was written
		}
		for _, c := range list {
			c(after, func(inner []string, reason string) {
				w.probs.Add(schema.RESTPathOfKey(after.Node.Set, after.Key, inner, false, nil), "%s", reason)
			})
		}
	}
}
