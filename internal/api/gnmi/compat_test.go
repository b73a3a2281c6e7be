package gnmi

// Aether's aether-roc-api layer registers by import, as in amp serve: it
// makes Aether the set a path without an origin addresses, as the tests of
// this package (onos-config's clients) expect.
import _ "github.com/amp-edge/amp/internal/aether/rocapi"
