package cluster

import (
	"context"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// Record writes a cluster's registration as its operational state
// (`registration`, config false): not versioned, read back with the
// cluster and shown by the plan. The cluster must be declared.
func Record(ctx context.Context, eng *config.Engine, set *schema.ModelSet, id string, reg Registration) error {
	route, err := eng.Schema().ParseRoute(Path(set, id) + "/registration")
	if err != nil {
		return err
	}
	loc, err := route.Resolve()
	if err != nil {
		return err
	}
	val, err := schema.DecodeJSON(loc.Node, map[string]any{"registered-at": reg.RegisteredAt, "token-id": reg.TokenID,
		"minted-by": reg.MintedBy, "source": reg.Source}, loc.REST(), false, schema.DecodeOptions{AllowState: true})
	if err != nil {
		return err
	}
	return eng.SetState(ctx, loc, config.OpReplace, val)
}
