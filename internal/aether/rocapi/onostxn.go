package rocapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// GET /transactions is aether-roc-api's route, so it answers in its shape:
// onos-config Transaction objects (aether-top-level-openapi3.yaml,
// TransactionList), oldest first. Aether's GUI reads
// details.change[0]['path-values'] of every one. AMP's own newest-first
// summaries, with paging, are GET /amp/transactions.

// Transaction is onos-config's Transaction as aether-roc-api renders it.
type Transaction struct {
	ID       string       `json:"id"`
	Index    uint64       `json:"index"`
	Meta     onosMeta     `json:"meta"`
	Username string       `json:"username"`
	Strategy onosStrategy `json:"strategy"`
	Details  onosDetails  `json:"details"`
	Status   onosStatus   `json:"status"`
}

type onosMeta struct {
	Key      string    `json:"key"`
	Version  uint64    `json:"version"`
	Revision uint64    `json:"revision"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

type onosStrategy struct {
	Synchronicity string `json:"synchronicity"`
	Isolation     string `json:"isolation"`
}

type onosDetails struct {
	Change   []onosChangeTarget `json:"change"`
	Rollback onosRollback       `json:"rollback"`
}

type onosRollback struct {
	Index uint64 `json:"rollback_index"`
}

type onosChangeTarget struct {
	TargetName string           `json:"target-name"`
	PathValues []onosPathTarget `json:"path-values"`
}

type onosPathTarget struct {
	Path      string    `json:"path"`
	PathValue PathValue `json:"path-value"`
}

type PathValue struct {
	Path    string         `json:"path"`
	Value   onosTypedValue `json:"value"`
	Deleted bool           `json:"deleted"`
}

type onosTypedValue struct {
	Value    string `json:"value"`
	Type     string `json:"type"`
	TypeOpts []int  `json:"type_opts"`
}

type onosStatus struct {
	State     string     `json:"state"`
	Phases    onosPhases `json:"phases"`
	Proposals []string   `json:"proposals"`
}

type onosPhases struct {
	Initialize onosPhase `json:"initialize"`
	Validate   onosPhase `json:"validate"`
	Commit     onosPhase `json:"commit"`
	Apply      onosPhase `json:"apply"`
}

type onosPhase struct {
	State  string         `json:"state"`
	Status onosPhaseTimes `json:"status"`
}

type onosPhaseTimes struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// maxOnosTransactions bounds one answer: every transaction in it is read
// whole from the log and rendered leaf by leaf.
const maxOnosTransactions = 1000

// MaxPathValues bounds the leaves listed per transaction, so that the
// history of bulk imports (tens of thousands of leaves each) stays a
// bounded answer; GET /transactions/{index} has every change.
const MaxPathValues = 1000

func listTransactions(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	limit, hasLimit, err := h.QueryUint(r, "limit")
	if err != nil {
		return err
	}
	if !hasLimit || limit == 0 {
		limit = 100
	}
	if limit > maxOnosTransactions {
		return schema.Errorf(schema.KindInvalid, "/transactions?limit", "at most %d transactions per request (got %d); page with before=", maxOnosTransactions, limit)
	}
	before, _, err := h.QueryUint(r, "before")
	if err != nil {
		return err
	}
	if err := h.Authorize(r, auth.Read, "/transactions"); err != nil {
		return err
	}
	list, err := h.VisibleTransactions(r, before, int(limit), r.URL.Query().Get("enterprise"))
	if err != nil {
		return err
	}
	out := []Transaction{}
	for _, t := range list {
		rec, err := h.Engine().Transaction(t.Index)
		if schema.KindOf(err) == schema.KindGone {
			break // compacted while we read: the rest is older still
		}
		if err != nil {
			return err
		}
		out = append(out, transaction(h, rec))
	}
	slices.Reverse(out) // the engine lists newest first; onos-config oldest first
	return h.WriteJSON(w, http.StatusOK, out)
}

// transaction renders one committed transaction. AMP commits
// synchronously and atomically, so every phase is done at the commit time;
// APPLIED means applied to AMP's store (GET /sync-status says what the
// backends took).
func transaction(h compat.Host, rec *config.Record) Transaction {
	done := onosPhaseTimes{Start: rec.Time, End: rec.Time}
	return Transaction{
		ID:       rec.ID,
		Index:    rec.Index,
		Meta:     onosMeta{Key: rec.ID, Version: rec.Index, Revision: rec.Index, Created: rec.Time, Updated: rec.Time},
		Username: rec.Principal,
		Strategy: onosStrategy{Synchronicity: "SYNCHRONOUS", Isolation: "DEFAULT"},
		Details:  onosDetails{Change: changes(h.Schema(), h.Engine().Changes(rec)), Rollback: onosRollback{Index: rec.RollbackOf}},
		Status: onosStatus{State: "APPLIED", Proposals: []string{}, Phases: onosPhases{
			Initialize: onosPhase{State: "INITIALIZED", Status: done},
			Validate:   onosPhase{State: "VALIDATED", Status: done},
			Commit:     onosPhase{State: "COMMITTED", Status: done},
			Apply:      onosPhase{State: "APPLIED", Status: done},
		}},
	}
}

// changes groups leaf changes by target (enterprise) as onos-config
// does, with gNMI paths relative to the target: a created or updated leaf
// is one path-value, a deleted leaf or object one with deleted set. At most
// MaxPathValues are listed.
func changes(sch *schema.Schema, cs []config.Change) []onosChangeTarget {
	var out []onosChangeTarget
	at := map[string]int{}
	listed := 0
	add := func(target, path string, v onosTypedValue, deleted bool) {
		if listed == MaxPathValues {
			return
		}
		listed++
		i, ok := at[target]
		if !ok {
			i = len(out)
			at[target] = i
			out = append(out, onosChangeTarget{TargetName: target, PathValues: []onosPathTarget{}})
		}
		out[i].PathValues = append(out[i].PathValues, onosPathTarget{Path: path, PathValue: PathValue{Path: path, Value: v, Deleted: deleted}})
	}
	for _, c := range cs {
		target, base, n := gnmiPathOf(sch, c.Path)
		if c.Op == "delete" {
			add(target, base, onosTypedValue{Type: "EMPTY", TypeOpts: []int{}}, true)
			continue
		}
		flattenValue(base, n, c.New, func(p string, v onosTypedValue) { add(target, p, v, false) })
	}
	return out
}

// gnmiPathOf turns the REST path of a change into its target, its gNMI
// path and its schema node (nil for an enterprise record,
// /enterprises/{id}, which is the target's root).
func gnmiPathOf(sch *schema.Schema, rest string) (target, path string, n *schema.Node) {
	if id, ok := strings.CutPrefix(rest, "/enterprises/"); ok {
		return id, "/", nil
	}
	route, err := sch.ParseRoute(rest)
	if err != nil || route.Kind != schema.RouteModel {
		return "", rest, nil // not a model path: shown as AMP names it
	}
	if loc, err := route.Resolve(); err == nil {
		return route.Tenant, loc.GNMIPath(), loc.Node
	}
	return route.Tenant, rest, nil
}

// flattenValue calls fn for every leaf of a JSON value of node n under
// base, typed by the schema as onos-config types values, in its
// ValueToString form (leaf-lists comma-separated).
func flattenValue(base string, n *schema.Node, v any, fn func(path string, tv onosTypedValue)) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			fn(base, onosTypedValue{Type: "EMPTY", TypeOpts: []int{}})
			return
		}
		names := make([]string, 0, len(x))
		for k := range x {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			var c *schema.Node
			if n != nil {
				c = n.Child(k)
			}
			flattenValue(strings.TrimSuffix(base, "/")+"/"+k, c, x[k], fn)
		}
	case []any:
		elems := make([]string, len(x))
		for i, e := range x {
			elems[i] = valueString(e)
		}
		fn(base, onosTypedValue{Value: strings.Join(elems, ","), Type: "LEAFLIST_" + onosType(n), TypeOpts: []int{}})
	default:
		fn(base, onosTypedValue{Value: valueString(x), Type: onosType(n), TypeOpts: []int{}})
	}
}

// onosType is onos-config's ValueType for a leaf's type (a leafref takes
// its target's); what it cannot tell is STRING.
func onosType(n *schema.Node) string {
	if n == nil || n.Type == nil {
		return "STRING"
	}
	t := n.Type
	for t.Base == schema.TLeafref && t.Target != nil {
		t = t.Target.Type
	}
	switch t.Base {
	case schema.TInt:
		return "INT"
	case schema.TUint:
		return "UINT"
	case schema.TBool:
		return "BOOL"
	case schema.TDecimal:
		return "DECIMAL"
	case schema.TEmpty:
		return "EMPTY"
	case schema.TBinary:
		return "BYTES"
	}
	return "STRING"
}

func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}
