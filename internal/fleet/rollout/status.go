package rollout

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/fleet"
)

var (
	statusMu   sync.Mutex
	statusLast = map[*config.Engine]map[string]map[string]any{}
)

// writeStatus shows a run's state as its rollout's status (when the
// rollout still exists and the status changed).
func writeStatus(ctx context.Context, eng *config.Engine, run string, st *state, waiting string) error {
	set := eng.Schema().Set(fleet.SetName, "")
	if _, ok := eng.Snapshot().Get(fleet.RolloutKey(set, st.Rollout)); !ok {
		return nil
	}
	s := statusOf(run, st, waiting)
	statusMu.Lock()
	defer statusMu.Unlock()
	last := statusLast[eng]
	if last == nil {
		last = map[string]map[string]any{}
		statusLast[eng] = last
	}
	if reflect.DeepEqual(last[st.Rollout], s) {
		return nil
	}
	if err := writeState(ctx, eng, fleet.RolloutPath(set, st.Rollout)+"/status", s); err != nil {
		return err
	}
	last[st.Rollout] = s
	return nil
}

// statusOf is the rollout's status (amp-fleet.yang rollout/status).
func statusOf(run string, st *state, waiting string) map[string]any {
	s := map[string]any{"workflow": run, "phase": st.Phase}
	if st.Phase == "" {
		s["phase"] = "planned"
	}
	if st.Halted != "" {
		s["halted-reason"] = st.Halted
	}
	if waiting != "" {
		s["waiting-on"] = waiting
	}
	if p := st.Plan; p != nil {
		s["version"] = p.Version
		s["partitions"] = len(p.Partitions)
		var plan []any
		cur := 0
		for i, pt := range p.Partitions {
			state := st.Parts[i].State
			if state != "pending" && state != "" {
				cur = i + 1
			}
			plan = append(plan, map[string]any{"index": i + 1, "stage": p.Stages[pt.Stage].Group, "name": pt.Name,
				"cluster": toAny(pt.Clusters), "state": state})
		}
		if cur > 0 {
			s["partition"] = cur
		}
		if len(plan) > 0 {
			s["plan"] = plan
		}
		if len(p.Unmatched) > 0 {
			s["unmatched"] = toAny(p.Unmatched)
		}
	}
	var skipped []any
	for c, why := range st.Skipped {
		skipped = append(skipped, map[string]any{"cluster": c, "reason": why})
	}
	if len(skipped) > 0 {
		s["skipped"] = skipped
	}
	var hist []any
	for i, h := range st.History {
		e := map[string]any{"seq": i + 1, "at": h.At.UTC().Format(time.RFC3339), "event": h.Event, "partition": h.Partition}
		if h.Detail != "" {
			e["detail"] = h.Detail
		}
		hist = append(hist, e)
	}
	if len(hist) > 0 {
		s["history"] = hist
	}
	return s
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
