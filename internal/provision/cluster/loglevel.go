package cluster

import (
	"encoding/json"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

func init() { edge.RegisterSource(logLevelSource{}) }

// logLevelSource gives a cluster's agent the component log levels its
// declaration lists (log-level entries; docs/logging.md).
type logLevelSource struct{}

func (logLevelSource) Kind() string { return wire.KindLogLevel }
func (logLevelSource) Affects(sch *schema.Schema, _ *config.Snapshot, ch edge.Change) []string {
	return affects(sch, ch)
}

// Objects are the declared levels, one per component.
func (logLevelSource) Objects(sch *schema.Schema, snap *config.Snapshot, id string) ([]wire.Object, error) {
	_, o, ok := declared(sch, snap, id)
	if !ok {
		return nil, nil
	}
	tree, _ := snap.Tree(o)
	var out []wire.Object
	for _, e := range inventory.Entries(tree, "log-level") {
		name, _ := e["component"].(string)
		level, _ := e["level"].(string)
		b, err := json.Marshal(wire.LogLevelSpec{Level: level})
		if err != nil {
			return nil, err
		}
		idx := o.Modified
		if lo, ok := snap.Get(o.Key + "/log-level/" + schema.EscapeSegment(name)); ok {
			idx = lo.Modified
		}
		out = append(out, wire.Object{Kind: wire.KindLogLevel, Name: name, Spec: b, Index: idx})
	}
	return out, nil
}
