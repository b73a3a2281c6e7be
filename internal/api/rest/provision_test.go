package rest

// The inventory set is built in, and its descriptor names the provision
// layer, which registers by import as in amp serve (cmd/amp imports it).
import (
	_ "github.com/amp-edge/amp/internal/edge/edgeapi"
	// The fleet set is built in too; its descriptor names the fleet layer.
	_ "github.com/amp-edge/amp/internal/fleet/fleetapi"
	_ "github.com/amp-edge/amp/internal/fleet/sealapi"
	_ "github.com/amp-edge/amp/internal/monitor/monitorapi"
	_ "github.com/amp-edge/amp/internal/provision/provisionapi"
)
