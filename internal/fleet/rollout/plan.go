package rollout

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/schema"
)

// Partition is one step of a rollout: clusters of a stage's group upgraded
// together (max-unavailable at a time), then baked, then gated.
type Partition struct {
	Stage    int      `json:"stage"` // index into the plan's stages
	Name     string   `json:"name"`  // as declared: "25%", "zone=east", "all", "unmatched"
	Clusters []string `json:"clusters"`
}

// Plan is what a rollout will do, computed once when its run starts.
type Plan struct {
	Bundle     string        `json:"bundle"`
	Version    string        `json:"version"`
	Stages     []fleet.Stage `json:"stages"`
	Partitions []Partition   `json:"partitions"`
	// Unmatched are the clusters of a stage's group no partition took,
	// "cluster (stage group)"; with unmatched skip they are not deployed.
	Unmatched []string `json:"unmatched,omitempty"`
}

// MakePlan computes the plan of rollout id as of snap. A cluster in
// several stages' groups goes with the first stage that has it.
func MakePlan(snap *config.Snapshot, set *schema.ModelSet, id string) (*Plan, error) {
	o, ok := snap.Get(fleet.RolloutKey(set, id))
	if !ok {
		return nil, fmt.Errorf("rollout %q is not declared", id)
	}
	p := &Plan{Stages: fleet.Stages(snap, set, id)}
	p.Bundle, _ = o.Data["bundle"].(string)
	p.Version, _ = o.Data["version"].(string)
	labels := fleet.ClusterLabels(snap)
	taken := map[string]bool{}
	for si, st := range p.Stages {
		var members []string
		for _, c := range fleet.GroupMembers(snap, set, st.Group, labels) {
			if !taken[c] {
				members = append(members, c)
			}
		}
		parts, rest := partition(members, st.Partitions, labels)
		for _, pt := range parts {
			if len(pt.Clusters) > 0 {
				pt.Stage = si
				p.Partitions = append(p.Partitions, pt)
			}
		}
		for _, c := range members {
			taken[c] = true
		}
		if len(rest) == 0 {
			continue
		}
		for _, c := range rest {
			p.Unmatched = append(p.Unmatched, c+" ("+st.Group+")")
		}
		if st.Unmatched == "last-partition" {
			p.Partitions = append(p.Partitions, Partition{Stage: si, Name: "unmatched", Clusters: rest})
		}
	}
	return p, nil
}

// partition splits a stage's clusters (in id order) by its partitions, in
// order: "N%" takes ceil(N% of all members) of those not yet taken, a
// label selector those carrying its labels. It returns the partitions and
// the members none took. No partition declared: one, "all".
func partition(members, specs []string, labels map[string]map[string]string) ([]Partition, []string) {
	if len(specs) == 0 {
		return []Partition{{Name: "all", Clusters: members}}, nil
	}
	left := append([]string(nil), members...)
	var out []Partition
	for _, spec := range specs {
		pt := Partition{Name: spec}
		if pct, ok := strings.CutSuffix(spec, "%"); ok {
			n, _ := strconv.Atoi(pct)
			k := min(int(math.Ceil(float64(n)*float64(len(members))/100)), len(left))
			pt.Clusters, left = left[:k:k], left[k:]
		} else {
			sel := selector(spec)
			var keep []string
			for _, c := range left {
				if fleet.Matches(labels[c], sel) {
					pt.Clusters = append(pt.Clusters, c)
				} else {
					keep = append(keep, c)
				}
			}
			left = keep
		}
		out = append(out, pt)
	}
	return out, left
}

// selector reads "k=v,k2=v2" (the YANG pattern has checked it).
func selector(spec string) map[string]string {
	sel := map[string]string{}
	for _, kv := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		sel[k] = v
	}
	return sel
}

// maxUnavailable is how many clusters of a partition of n are upgraded at
// once: the stage's max-unavailable, never the whole partition of more
// than one (Fleet's 100% default makes its gate a no-op).
func maxUnavailable(st fleet.Stage, n int) int {
	return max(1, min(st.MaxUnavailable, n-1))
}
