package fleet

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // a stage's window names an IANA zone, wherever AMP runs

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

func init() {
	config.RegisterRule(SetName, config.Rule{Name: "fleet-rollout", Check: checkRollouts})
}

// RolloutKey is the storage key of a rollout of set.
func RolloutKey(set *schema.ModelSet, id string) string {
	return schema.RootKey(set, "") + "/rollout/" + schema.EscapeSegment(id)
}

// RolloutPath is the REST path of a rollout of set.
func RolloutPath(set *schema.ModelSet, id string) string {
	return schema.RESTBase(set) + "/rollout/" + schema.EscapeSegment(id)
}

// rolloutOf returns the set and rollout id a storage key under a rollout
// addresses ("fleet/1.0.0/rollout/r1/stage/prod" → r1).
func rolloutOf(sch *schema.Schema, key string) (*schema.ModelSet, string, bool) {
	segs := strings.Split(key, "/")
	if len(segs) < 4 || segs[0] != SetName || segs[2] != "rollout" {
		return nil, "", false
	}
	set := sch.Set(SetName, segs[1])
	id, err := schema.UnescapeSegment(segs[3])
	return set, id, set != nil && err == nil
}

// Stage is a rollout stage as declared.
type Stage struct {
	Group          string
	Order          uint64
	HasOrder       bool
	Partitions     []string
	Unmatched      string
	MaxUnavailable int
	ReadyTimeout   time.Duration
	OfflineWait    time.Duration
	Bake           time.Duration
	Approval       bool
	HelmTest       bool
	TimeZone       string
	Allowed        []string
	Blackout       []string
	// The metric gate: a PromQL query that must hold through the bakes.
	Prometheus     string
	Query          string
	MetricInterval time.Duration
}

// Stages reads a rollout's stages (YANG defaults applied), sorted by
// order, then group.
func Stages(snap *config.Snapshot, set *schema.ModelSet, id string) []Stage {
	var out []Stage
	Children(snap, RolloutKey(set, id)+"/stage/", func(group string, o *config.Object) {
		st := Stage{Group: group, Unmatched: "skip", MaxUnavailable: 1, ReadyTimeout: 600 * time.Second,
			OfflineWait: 300 * time.Second, Bake: 600 * time.Second, TimeZone: "UTC"}
		if v, ok := uintOf(o.Data["order"]); ok {
			st.Order, st.HasOrder = v, true
		}
		st.Partitions = strs(o.Data["partition"])
		if s, ok := o.Data["unmatched"].(string); ok {
			st.Unmatched = s
		}
		if v, ok := uintOf(o.Data["max-unavailable"]); ok {
			st.MaxUnavailable = int(v)
		}
		secs := func(name string, d *time.Duration) {
			if v, ok := uintOf(o.Data[name]); ok {
				*d = time.Duration(v) * time.Second
			}
		}
		secs("ready-timeout", &st.ReadyTimeout)
		secs("offline-wait", &st.OfflineWait)
		secs("bake-time", &st.Bake)
		st.Approval, _ = o.Data["manual-approval"].(bool)
		st.HelmTest, _ = o.Data["helm-test"].(bool)
		st.MetricInterval = 10 * time.Second
		if g, ok := o.Data["metric-gate"].(map[string]any); ok {
			st.Prometheus, _ = g["prometheus"].(string)
			st.Query, _ = g["query"].(string)
			if v, ok := uintOf(g["interval"]); ok {
				st.MetricInterval = time.Duration(v) * time.Second
			}
		}
		if w, ok := o.Data["window"].(map[string]any); ok {
			if tz, ok := w["time-zone"].(string); ok {
				st.TimeZone = tz
			}
			st.Allowed, st.Blackout = strs(w["allowed"]), strs(w["blackout"])
		}
		out = append(out, st)
	})
	sortStages(out)
	return out
}

func sortStages(st []Stage) {
	for i := 1; i < len(st); i++ { // few stages: insertion sort, stable
		for j := i; j > 0 && st[j].Order < st[j-1].Order; j-- {
			st[j], st[j-1] = st[j-1], st[j]
		}
	}
}

// checkRollouts refuses, for each rollout the transaction touched, what a
// rollout could never do safely: several stages without a distinct order
// (the list is kept in key order, so "production" would run before
// "staging"), a time zone Go does not know, and a max-unavailable that
// is the whole of a group of several clusters (the gate would be a
// no-op: Fleet's default of 100%).
func checkRollouts(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	seen := map[string]bool{}
	var labels map[string]map[string]string
	for _, c := range changes {
		set, id, ok := rolloutOf(tx.Schema(), c.Key)
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		if _, exists := tx.Get(RolloutKey(set, id)); !exists {
			continue
		}
		stages := Stages(tx, set, id)
		orders := map[uint64]string{}
		for _, st := range stages {
			path := RolloutPath(set, id) + "/stage/" + schema.EscapeSegment(st.Group)
			if len(stages) > 1 {
				if !st.HasOrder {
					report(true, path+"/order", fmt.Sprintf("rollout %q has %d stages: give each an order (lower runs first), so they cannot run in the wrong order", id, len(stages)))
				} else if other, dup := orders[st.Order]; dup {
					report(true, path+"/order", fmt.Sprintf("stages %q and %q both have order %d: each stage needs its own", other, st.Group, st.Order))
				}
				orders[st.Order] = st.Group
			}
			if _, err := time.LoadLocation(st.TimeZone); err != nil || st.TimeZone == "Local" {
				report(true, path+"/window/time-zone", fmt.Sprintf("%q is not an IANA time zone (e.g. UTC, Europe/Berlin)", st.TimeZone))
			}
			if st.Query != "" && st.Prometheus == "" {
				report(true, path+"/metric-gate/prometheus", "a metric gate's query needs the Prometheus to ask (its base URL)")
			}
			if labels == nil {
				labels = ClusterLabels(tx)
			}
			if n := len(GroupMembers(tx, set, st.Group, labels)); n > 1 && st.MaxUnavailable >= n {
				report(true, path+"/max-unavailable", fmt.Sprintf("max-unavailable %d would upgrade all %d clusters of group %q at once (100%%): the rollout's gate would be a no-op; at most %d", st.MaxUnavailable, n, st.Group, n-1))
			}
		}
	}
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// uintOf reads a stored unsigned number.
func uintOf(v any) (uint64, bool) {
	switch n := v.(type) {
	case uint64:
		return n, true
	case uint32:
		return uint64(n), true
	case uint16:
		return uint64(n), true
	case int64:
		return uint64(n), n >= 0
	case int:
		return uint64(n), n >= 0
	}
	return 0, false
}

// Rollouts lists the declared rollouts' ids as of snap.
func Rollouts(snap *config.Snapshot, set *schema.ModelSet) []string {
	var out []string
	Children(snap, schema.RootKey(set, "")+"/rollout/", func(id string, _ *config.Object) { out = append(out, id) })
	return out
}
