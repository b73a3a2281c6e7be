package controller

import (
	"fmt"
	"sort"
	"strings"
)

// checkDependencies refuses, in desired, every object whose dependencies
// cannot be met: one naming an id nothing renders, and every object of a
// dependency cycle (each gets the cycle's members in its error). Objects
// already in error are left as they are; they are not pushed anyway.
func checkDependencies(desired map[string]Desired) {
	for id, d := range desired {
		if d.Err != "" {
			continue
		}
		for _, dep := range d.DependsOn {
			if _, ok := desired[dep]; !ok {
				d.Err = fmt.Sprintf("depends on %s, which the adapter does not render", dep)
				desired[id] = d
				break
			}
		}
	}
	for _, cycle := range cycles(desired) {
		msg := "dependency cycle: " + strings.Join(cycle, " → ") + " → " + cycle[0]
		for _, id := range cycle {
			d := desired[id]
			if d.Err == "" {
				d.Err = msg
				desired[id] = d
			}
		}
	}
}

// cycles returns the dependency cycles among the objects (the strongly
// connected components of more than one object, or of one that depends on
// itself), each sorted, found with Tarjan's algorithm.
func cycles(desired map[string]Desired) [][]string {
	ids := make([]string, 0, len(desired))
	for id, d := range desired {
		if len(d.DependsOn) > 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids) // the same cycles in the same order every time
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	var visit func(id string)
	visit = func(id string) {
		index[id], low[id] = len(index), len(index)
		stack = append(stack, id)
		onStack[id] = true
		self := false
		for _, dep := range desired[id].DependsOn {
			if _, ok := desired[dep]; !ok {
				continue
			}
			self = self || dep == id
			if _, seen := index[dep]; !seen {
				visit(dep)
				low[id] = min(low[id], low[dep])
			} else if onStack[dep] {
				low[id] = min(low[id], index[dep])
			}
		}
		if low[id] != index[id] {
			return
		}
		var scc []string
		for {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[top] = false
			scc = append(scc, top)
			if top == id {
				break
			}
		}
		if len(scc) > 1 || self {
			sort.Strings(scc)
			out = append(out, scc)
		}
	}
	for _, id := range ids {
		if _, seen := index[id]; !seen {
			visit(id)
		}
	}
	return out
}

// order sorts one backend's batch for its worker: pushes before deletes
// (a slice moves to its new device group before the old one goes), pushes
// from the objects nothing they need comes after (dependencies first),
// deletes the other way round, ties by id. Order only saves round trips:
// the worker checks every dependency before each push or delete anyway.
// Called with c.mu held.
func (c *Controller) order(ids []string) {
	depth := map[string]int{}
	var depthOf func(id string, seen map[string]bool) int
	depthOf = func(id string, seen map[string]bool) int {
		if d, ok := depth[id]; ok {
			return d
		}
		e := c.objs[id]
		if e == nil || seen[id] {
			return 0 // gone, or a cycle (refused at render)
		}
		seen[id] = true
		d := 0
		for _, dep := range e.desired.DependsOn {
			d = max(d, depthOf(dep, seen)+1)
		}
		delete(seen, id)
		depth[id] = d
		return d
	}
	deleting := func(id string) bool { e := c.objs[id]; return e != nil && e.st.Deleting }
	for _, id := range ids {
		depthOf(id, map[string]bool{})
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if da, db := deleting(a), deleting(b); da != db {
			return db
		} else if depth[a] != depth[b] {
			return (depth[a] < depth[b]) != da
		}
		return a < b
	})
}

// blocker returns the object id has to wait for: for a push, a
// dependency whose own push is still queued or under way; for a delete, an
// object the backend holds that depends on id and whose push or delete is
// still queued or under way. "" when id may go. Dependencies order; they
// do not gate: once a dependency's attempt is over, failed or not, its
// dependents go (a failed one is retried on its own schedule), as sorting
// did before. Called with c.mu held.
func (c *Controller) blocker(id string, e *entry) string {
	if e.st.Deleting {
		for ref := range c.referrers[id] {
			if r := c.objs[ref]; r != nil && r.outstanding() {
				return ref
			}
		}
		return ""
	}
	for _, dep := range e.desired.DependsOn {
		if de := c.objs[dep]; de != nil && de.outstanding() {
			return dep
		}
	}
	return ""
}

// outstanding: the entry's push or delete is queued, waiting or under way.
func (e *entry) outstanding() bool {
	return e.st.Status == Pending || e.st.Status == Progressing
}

// wait records that id waits for dep; dep's attempt, whatever its outcome,
// queues it again. Called with c.mu held.
func (c *Controller) wait(id string, e *entry, dep string) {
	e.blocked = dep
	e.st.Status, e.st.Message, e.st.Progress = Pending, "waiting for "+dep, nil
	w := c.waiters[dep]
	if w == nil {
		w = map[string]bool{}
		c.waiters[dep] = w
	}
	w[id] = true
}

// released returns the objects that waited for dep, now that dep's push
// or delete was attempted, to be queued again. Called with c.mu held.
func (c *Controller) released(dep string) []string {
	var out []string
	for id := range c.waiters[dep] {
		if w := c.objs[id]; w != nil && w.blocked == dep {
			out = append(out, id)
		}
	}
	delete(c.waiters, dep)
	return out
}

// unblocked returns the waiting objects whose blocker has nothing
// outstanding any more without an attempt having released them (it could
// not be rendered, or is no longer rendered), to be queued again. Called
// with c.mu held.
func (c *Controller) unblocked() []string {
	var out []string
	for dep, ws := range c.waiters {
		if de := c.objs[dep]; de != nil && de.outstanding() {
			continue
		}
		for id := range ws {
			if w := c.objs[id]; w != nil && w.blocked == dep {
				out = append(out, id)
			}
		}
		delete(c.waiters, dep)
	}
	return out
}

// setApplied records the dependencies of what the backend now holds for
// id (nil: it holds nothing), for deletes to wait on. Called with c.mu
// held.
func (c *Controller) setApplied(id string, deps []string) {
	if e := c.objs[id]; e != nil {
		for _, dep := range e.appliedDeps {
			delete(c.referrers[dep], id)
			if len(c.referrers[dep]) == 0 {
				delete(c.referrers, dep)
			}
		}
		e.appliedDeps = deps
	}
	for _, dep := range deps {
		r := c.referrers[dep]
		if r == nil {
			r = map[string]bool{}
			c.referrers[dep] = r
		}
		r[id] = true
	}
}
