package openapi

// Aether's aether-roc-api layer documents its routes by registration, as
// in amp serve (cmd/amp imports it); the goldens include them.
import "github.com/amp-edge/amp/internal/aether/rocapi"

// The bulk PATCH's schemas, under the names the tests of this package knew
// when the layer was documented here.
const (
	schemaElements       = rocapi.SchemaElements
	schemaDeleteElements = rocapi.SchemaDeleteElements
)
