package edge

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// Status is a cluster's link as `amp cluster status` shows it: from the
// state its agent's check-ins wrote, with this replica's fresher memory
// of when it last heard from it (unless the store says another replica
// heard from it later), and the current desired state.
type Status struct {
	Cluster          string       `json:"cluster"`
	Site             string       `json:"site,omitempty"`
	Connected        bool         `json:"connected"`
	LastSeen         string       `json:"last-seen,omitempty"`
	AgentVersion     string       `json:"agent-version,omitempty"`
	ClockSkewSeconds int64        `json:"clock-skew-seconds"`
	Desired          wire.Applied `json:"desired"`
	Applied          wire.Applied `json:"applied"`
	// InSync: the agent holds the current desired state (same digest)
	// and reports every object of it applied.
	InSync  bool `json:"in-sync"`
	Objects int  `json:"objects"`
	// Failed names the objects not applied: "kind/name: message".
	Failed []string `json:"failed"`
	// The detail of one cluster: its report (facts in the declaration's
	// terms), every object's state and the last outage.
	Report       map[string]any   `json:"report,omitempty"`
	ObjectStates []map[string]any `json:"object-states,omitempty"`
	LastOutage   map[string]any   `json:"last-outage,omitempty"`
}

// Status returns cluster id's link status; detail adds the report, the
// object states and the last outage.
func (h *Hub) Status(id string, detail bool) (*Status, error) {
	h.mu.Lock()
	e, err := h.lookup(id)
	if err != nil {
		h.mu.Unlock()
		return nil, schema.Errorf(schema.KindNotFound, h.ClusterPath(id), "no cluster %q is declared", id)
	}
	cl, cur, seen, connected, heard := e.c, e.cur, e.seen, e.connected, e.heard()
	h.mu.Unlock()
	stored := h.dir.State(h.sch, h.eng.Snapshot(), id)
	a := stored["agent"]
	s := &Status{Cluster: cl.ID, Site: cl.Site, Desired: wire.Applied{Index: cur.index, Digest: cur.digest}, Failed: []string{}}
	s.Connected, _ = a["connected"].(bool)
	s.LastSeen, _ = a["last-seen"].(string)
	// This replica's memory is fresher than the store when it heard from
	// the agent itself, unless another replica recorded it later since
	// (the agent moved there).
	if t, err := time.Parse(time.RFC3339, s.LastSeen); heard && (err != nil || !t.After(seen)) {
		s.Connected, s.LastSeen = connected, stamp(seen)
	}
	s.AgentVersion, _ = a["agent-version"].(string)
	s.ClockSkewSeconds = int64(number(a["clock-skew-seconds"]))
	s.Applied.Index = uint64(number(a["applied-index"]))
	s.Applied.Digest, _ = a["applied-digest"].(string)
	objs, _ := a["object"].([]any)
	s.Objects = len(objs)
	for _, o := range objs {
		m, _ := o.(map[string]any)
		if st, _ := m["state"].(string); st != wire.StateApplied {
			msg, _ := m["message"].(string)
			s.Failed = append(s.Failed, fmt.Sprintf("%v/%v: %s %s", m["kind"], m["name"], st, msg))
		}
		if detail {
			s.ObjectStates = append(s.ObjectStates, m)
		}
	}
	s.InSync = s.Applied.Digest == s.Desired.Digest && len(s.Failed) == 0 && s.Objects == len(cur.objects)
	if detail {
		s.Report = stored["report"]
		s.LastOutage, _ = a["last-outage"].(map[string]any)
	}
	return s, nil
}

// Statuses returns the link status of every declared cluster that may
// (allowed decides, by the cluster's path) be shown.
func (h *Hub) Statuses(allowed func(c Cluster) bool) []*Status {
	out := []*Status{}
	for _, c := range h.dir.Clusters(h.sch, h.eng.Snapshot()) {
		if !allowed(c) {
			continue
		}
		s, err := h.Status(c.ID, false)
		if err != nil {
			continue // deleted since listed
		}
		out = append(out, s)
	}
	return out
}

// ClusterPath is the REST path of cluster id, declared or not: what an
// operator's status request is authorized for.
func (h *Hub) ClusterPath(id string) string { return h.dir.Path(h.sch, id) }

// number reads a stored number whatever Go type holds it.
func number(v any) float64 {
	switch n := v.(type) {
	case uint64:
		return float64(n)
	case int64:
		return float64(n)
	case uint32:
		return float64(n)
	case int32:
		return float64(n)
	case int:
		return float64(n)
	case float64:
		return n
	case json.Number:
		f, _ := n.Float64()
		return f
	}
	return 0
}
