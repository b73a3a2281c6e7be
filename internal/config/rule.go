package config

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/schema"
)

// Rule is an invariant of a model set that no single object states: one
// that spans objects (two devices in one rack slot, a MAC address on two
// interfaces, an address outside its VLAN's prefix). A set's wing
// registers its rules (RegisterRule) from init; the engine runs them at
// commit, where the commit is decided, on every write path (REST, gNMI,
// CLI, bulk, rollback) and on every store, after the schema's own checks
// (must, unique, leafref) and the adapters' Checks passed.
//
// Both functions are called at most once per transaction, and only when
// the transaction changed an object of the rule's set, with every such
// change: a rule works per transaction and incrementally (per site, say),
// not per object, so a bulk write of a whole site costs one pass.
type Rule struct {
	// Name identifies the rule in the metrics
	// (amp_config_rule_duration_seconds, amp_config_rule_refusals_total).
	Name string
	// Expand, if set, returns edits the engine applies in the same
	// transaction before validating it (a device's template interfaces
	// when the device is created): history and rollback see one change.
	// tx is the transaction's state after the request's own edits. It
	// runs for requests that edit, not for a rollback or a migration,
	// which restore or convert objects as they were. The edits are
	// validated like the request's own; Expand runs once, not again on
	// its own edits.
	Expand func(tx *Snapshot, changes []ObjectChange) []Edit
	// Check reports what the transaction's state violates. tx is the
	// state after every edit (read it with Get, Tree, Entries, Referrers
	// or by iterating tx.Objects by key prefix; it is immutable). A problem
	// refuses the whole transaction and changes nothing.
	Check func(tx *Snapshot, changes []ObjectChange, report Report)
}

// Report records a problem: the REST path it is at and why. conflict
// marks a clash with another object (409, like a YANG unique); otherwise
// the value is invalid (400, like a leafref to nothing).
type Report func(conflict bool, path, reason string)

var rules struct {
	mu    sync.RWMutex
	bySet map[string][]Rule
}

// RegisterRule adds r to the rules of the model set named set (every
// version of it: a rule reads the version it knows from the changes'
// keys). Rules are registered from init, before any engine opens.
func RegisterRule(set string, r Rule) {
	rules.mu.Lock()
	defer rules.mu.Unlock()
	// Copy on write: a transaction reads the map without the lock.
	next := make(map[string][]Rule, len(rules.bySet)+1)
	for k, v := range rules.bySet {
		next[k] = v
	}
	next[set] = append(append([]Rule{}, next[set]...), r)
	rules.bySet = next
}

// rulesBySet returns the registered rules, by set name; the map is never
// changed once returned.
func rulesBySet() map[string][]Rule {
	rules.mu.RLock()
	defer rules.mu.RUnlock()
	return rules.bySet
}

// setChanges groups the transaction's changes so far by the name of the
// set of a rule they belong to; objects that did not change are left out.
func (w *work) setChanges(bySet map[string][]Rule) map[string][]ObjectChange {
	out := map[string][]ObjectChange{}
	for _, key := range w.order {
		name, _, _ := strings.Cut(key, "/")
		if bySet[name] == nil {
			continue
		}
		before := w.before[key]
		after, ok := w.get(key)
		if !ok {
			after = nil
		}
		if before == nil && after == nil || before != nil && after != nil && equalValue(before.Data, after.Data) {
			continue
		}
		out[name] = append(out[name], ObjectChange{Key: key, Before: before, After: after})
	}
	return out
}

// txSnapshot is a read-only snapshot of the transaction's current state.
func (w *work) txSnapshot() *Snapshot {
	// CommitOnly leaves the transaction usable: later writes copy the
	// nodes this tree shares instead of changing them.
	return &Snapshot{Index: w.index, Objects: w.txn.CommitOnly(), schema: w.e.schema, back: &sync.Map{}}
}

// expandRules applies the edits the rules' Expand functions ask for.
func (w *work) expandRules() {
	bySet := rulesBySet()
	if len(bySet) == 0 {
		return
	}
	changes := w.setChanges(bySet)
	if len(changes) == 0 {
		return
	}
	tx := w.txSnapshot()
	for _, name := range sortedNames(changes) {
		cs := changes[name]
		for _, r := range bySet[name] {
			if r.Expand == nil {
				continue
			}
			t0 := time.Now()
			for _, ed := range r.Expand(tx, cs) {
				w.applyEdit(ed)
			}
			w.e.m.ruleSeconds.WithLabelValues(r.Name).Observe(time.Since(t0).Seconds())
		}
	}
}

// checkRules runs the rules' Check functions on the transaction's final
// state (tx).
func (w *work) checkRules(tx *Snapshot) {
	bySet := rulesBySet()
	if len(bySet) == 0 {
		return
	}
	refused := false
	report := func(conflict bool, path, reason string) {
		switch {
		case !conflict:
			w.probs.Kind = schema.KindInvalid
		case w.probs.Kind == 0:
			w.probs.Kind = schema.KindConflict
		}
		w.probs.Add(path, "%s", reason)
		refused = true
	}
	changes := w.setChanges(bySet)
	for _, name := range sortedNames(changes) {
		for _, r := range bySet[name] {
			if r.Check == nil {
				continue
			}
			t0 := time.Now()
			refused = false
			r.Check(tx, changes[name], report)
			w.e.m.ruleSeconds.WithLabelValues(r.Name).Observe(time.Since(t0).Seconds())
			if refused {
				w.e.m.ruleRefusals.WithLabelValues(r.Name).Inc()
			}
		}
	}
}

// sortedNames orders the sets, so problems are reported in a stable order.
func sortedNames(m map[string][]ObjectChange) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Schema returns the models the snapshot's objects are of: a rule resolves
// the keys it builds (schema.ParseObjectKey) and finds its set with it.
func (s *Snapshot) Schema() *schema.Schema { return s.schema }

// Referrers calls fn, until it returns false, for every object that
// refers to the object stored at key (by a leafref or an ampx:refers-to),
// with the referring leaf ("device=srv1"): a rule finds what depends on a
// changed object through the engine's reference index instead of
// scanning.
func (s *Snapshot) Referrers(key string, fn func(referrer, leaf string) bool) {
	if s.Refs != nil {
		referrers(s.Refs, refWithin+refAcross, key, fn)
	}
}
