package rest

import (
	"github.com/amp-edge/amp/internal/aether/rocapi"
)

// Aether's aether-roc-api layer joins the server by registration, as in
// amp serve (cmd/amp imports it); the tests of this package drive it
// through the server, under the names they had when it lived here.
type (
	onosTransaction = rocapi.Transaction
	onosPathValue   = rocapi.PathValue
)

const maxOnosPathValues = rocapi.MaxPathValues
