package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// GET /transactions is aether-roc-api's route, so it answers in its shape:
// onos-config Transaction objects (aether-top-level-openapi3.yaml,
// TransactionList), oldest first. Aether's GUI reads
// details.change[0]['path-values'] of every one. AMP's own newest-first
// summaries, with paging, are GET /amp/transactions (listTransactions).

// onosTransaction is onos-config's Transaction as aether-roc-api renders it.
type onosTransaction struct {
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
	Path      string        `json:"path"`
	PathValue onosPathValue `json:"path-value"`
}

type onosPathValue struct {
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

func (s *Server) listOnosTransactions(w http.ResponseWriter, r *http.Request) error {
	limit, hasLimit, err := queryUint(r, "limit")
	if err != nil {
		return err
	}
	if !hasLimit || limit == 0 {
		limit = 100
	}
	if limit > maxOnosTransactions {
		return schema.Errorf(schema.KindInvalid, "/transactions?limit", "at most %d transactions per request (got %d); page with before=", maxOnosTransactions, limit)
	}
	before, _, err := queryUint(r, "before")
	if err != nil {
		return err
	}
	if err := s.authorize(r, auth.Read, "/transactions"); err != nil {
		return err
	}
	list, err := s.eng.ListTransactions(before, int(limit)*4+16, r.URL.Query().Get("enterprise"))
	if err != nil {
		return err
	}
	out := []onosTransaction{}
	for _, t := range list {
		if len(out) == int(limit) {
			break
		}
		if !s.canSeeTargets(r, t.Targets) {
			continue
		}
		rec, err := s.eng.Transaction(t.Index)
		if schema.KindOf(err) == schema.KindGone {
			break // compacted while we read: the rest is older still
		}
		if err != nil {
			return err
		}
		out = append(out, s.onosTransaction(rec))
	}
	slices.Reverse(out) // the engine lists newest first; onos-config oldest first
	return writeJSON(w, http.StatusOK, out)
}

// onosTransaction renders one committed transaction. AMP commits
// synchronously and atomically, so every phase is done at the commit time;
// APPLIED means applied to AMP's store (GET /sync-status says what the
// backends took).
func (s *Server) onosTransaction(rec *config.Record) onosTransaction {
	done := onosPhaseTimes{Start: rec.Time, End: rec.Time}
	return onosTransaction{
		ID:       rec.ID,
		Index:    rec.Index,
		Meta:     onosMeta{Key: rec.ID, Version: rec.Index, Revision: rec.Index, Created: rec.Time, Updated: rec.Time},
		Username: rec.Principal,
		Strategy: onosStrategy{Synchronicity: "SYNCHRONOUS", Isolation: "DEFAULT"},
		Details:  onosDetails{Change: s.onosChanges(s.eng.Changes(rec)), Rollback: onosRollback{Index: rec.RollbackOf}},
		Status: onosStatus{State: "APPLIED", Proposals: []string{}, Phases: onosPhases{
			Initialize: onosPhase{State: "INITIALIZED", Status: done},
			Validate:   onosPhase{State: "VALIDATED", Status: done},
			Commit:     onosPhase{State: "COMMITTED", Status: done},
			Apply:      onosPhase{State: "APPLIED", Status: done},
		}},
	}
}

// onosChanges groups leaf changes by target (enterprise) as onos-config
// does, with gNMI paths relative to the target: a created or updated leaf
// is one path-value, a deleted leaf or object one with deleted set.
func (s *Server) onosChanges(changes []config.Change) []onosChangeTarget {
	var out []onosChangeTarget
	at := map[string]int{}
	add := func(target, path string, v onosTypedValue, deleted bool) {
		i, ok := at[target]
		if !ok {
			i = len(out)
			at[target] = i
			out = append(out, onosChangeTarget{TargetName: target, PathValues: []onosPathTarget{}})
		}
		out[i].PathValues = append(out[i].PathValues, onosPathTarget{Path: path, PathValue: onosPathValue{Path: path, Value: v, Deleted: deleted}})
	}
	for _, c := range changes {
		target, base := s.gnmiPathOf(c.Path)
		if c.Op == "delete" {
			add(target, base, onosTypedValue{Type: "EMPTY", TypeOpts: []int{}}, true)
			continue
		}
		flattenValue(base, c.New, func(p string, v onosTypedValue) { add(target, p, v, false) })
	}
	return out
}

// gnmiPathOf turns the REST path of a change into its target and gNMI
// path; an enterprise record (/enterprises/{id}) is the target's root.
func (s *Server) gnmiPathOf(rest string) (target, path string) {
	if id, ok := strings.CutPrefix(rest, "/enterprises/"); ok {
		return id, "/"
	}
	for _, set := range s.sch.Sets {
		tail, ok := strings.CutPrefix(rest, "/"+set.Name+"/v"+set.Version+"/")
		if !ok {
			continue
		}
		segs := schema.SplitPath(tail)
		if len(segs) == 0 {
			break
		}
		target, _ = schema.UnescapeSegment(segs[0])
		if loc, err := schema.Resolve(set, target, segs[1:]); err == nil {
			return target, loc.GNMIPath()
		}
		break
	}
	return target, rest // not a model path: shown as AMP names it
}

// flattenValue calls fn for every leaf of an RFC 7951 value under base, with
// onos-config's typed value (ValueToString form).
func flattenValue(base string, v any, fn func(path string, tv onosTypedValue)) {
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
			flattenValue(strings.TrimSuffix(base, "/")+"/"+k, x[k], fn)
		}
	case []any:
		elems := make([]string, len(x))
		typ := "LEAFLIST_STRING"
		for i, e := range x {
			tv := scalarValue(e)
			elems[i] = tv.Value
			typ = "LEAFLIST_" + tv.Type
		}
		fn(base, onosTypedValue{Value: strings.Join(elems, ","), Type: typ, TypeOpts: []int{}})
	default:
		fn(base, scalarValue(x))
	}
}

func scalarValue(v any) onosTypedValue {
	tv := onosTypedValue{TypeOpts: []int{}}
	switch x := v.(type) {
	case nil:
		tv.Type = "EMPTY"
	case string:
		tv.Type, tv.Value = "STRING", x
	case bool:
		tv.Type, tv.Value = "BOOL", fmt.Sprint(x)
	case int, int8, int16, int32, int64:
		tv.Type, tv.Value = "INT", fmt.Sprint(x)
	case uint, uint8, uint16, uint32, uint64:
		tv.Type, tv.Value = "UINT", fmt.Sprint(x)
	case float32, float64:
		tv.Type, tv.Value = "FLOAT", fmt.Sprint(x)
	case json.Number:
		tv.Type, tv.Value = "DECIMAL", x.String()
	default:
		tv.Type, tv.Value = "STRING", fmt.Sprint(x)
	}
	return tv
}
