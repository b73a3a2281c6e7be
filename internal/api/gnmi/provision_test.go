package gnmi

// The inventory set is built in, and its descriptor names the provision
// layer, which registers by import as in amp serve (cmd/amp imports it).
import (
	_ "github.com/amp-edge/amp/internal/edge/edgeapi"
	_ "github.com/amp-edge/amp/internal/provision/provisionapi"
)
