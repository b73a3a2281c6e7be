package fleet

import (
	"fmt"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// checkCycles refuses a transaction that closes a cycle of depends-on
// among bundles: such bundles could never be applied (each waits for the
// other), so the cycle is refused at commit, at the depends-on of a
// bundle the transaction changed, naming every bundle on the cycle. A
// new cycle must pass through a bundle whose depends-on changed, so only
// those are searched from, and only the bundles they reach are read.
func checkCycles(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	reported := map[string]bool{} // a cycle is reported once, not per member
	for _, c := range changes {
		if c.After == nil {
			continue
		}
		set, id, ok := bundleOf(tx.Schema(), c.Key)
		if !ok || (c.Before != nil && sameDeps(c.Before, c.After)) {
			continue
		}
		cycle := findCycle(tx, set, id)
		if cycle == nil || reported[canonical(cycle)] {
			continue
		}
		reported[canonical(cycle)] = true
		reason := fmt.Sprintf("bundle %q would depend on itself through the cycle %s: a bundle in a cycle can never be applied; remove one of these depends-on", id, strings.Join(cycle, " → "))
		if len(cycle) == 2 {
			reason = fmt.Sprintf("bundle %q cannot depend on itself", id)
		}
		report(true, BundlePath(set, id)+"/depends-on", reason)
	}
}

// findCycle returns a path of depends-on from start back to start
// (start, …, start), or nil when there is none.
func findCycle(tx *config.Snapshot, set *schema.ModelSet, start string) []string {
	done := map[string]bool{} // bundles from which start is not reachable
	var path []string
	var visit func(id string) bool
	visit = func(id string) bool {
		path = append(path, id)
		for _, d := range deps(tx, set, id) {
			if d == start {
				path = append(path, d)
				return true
			}
			if !done[d] && visit(d) {
				return true
			}
		}
		done[id] = true
		path = path[:len(path)-1]
		return false
	}
	if visit(start) {
		return path
	}
	return nil
}

// deps reads a bundle's depends-on (none for a bundle that does not
// exist: the leafref refuses that on its own).
func deps(tx *config.Snapshot, set *schema.ModelSet, id string) []string {
	o, ok := tx.Get(BundleKey(set, id))
	if !ok {
		return nil
	}
	return depsOf(o)
}

func depsOf(o *config.Object) []string {
	list, _ := o.Data["depends-on"].([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func sameDeps(a, b *config.Object) bool {
	return strings.Join(depsOf(a), "\x00") == strings.Join(depsOf(b), "\x00")
}

// canonical names a cycle whatever bundle it was found from: its members
// rotated to start at the least.
func canonical(cycle []string) string {
	ring := cycle[:len(cycle)-1]
	least := 0
	for i, s := range ring {
		if s < ring[least] {
			least = i
		}
	}
	return strings.Join(append(append([]string{}, ring[least:]...), ring[:least]...), "\x00")
}
