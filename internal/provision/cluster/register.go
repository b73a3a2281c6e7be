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
	return setState(ctx, eng, set, id, "registration", config.OpReplace, map[string]any{"registered-at": reg.RegisteredAt,
		"token-id": reg.TokenID, "minted-by": reg.MintedBy, "source": reg.Source})
}
