// Package hints holds what Aether's models suggest for a mandatory leaf a
// request left out (config.RegisterMissingHint): YANG forbids a default on
// a mandatory leaf, and the models' descriptions name the conventional
// value. cmd/amp imports it.
package hints

import (
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

func init() { config.RegisterMissingHint(Missing) }

// Missing suggests the conventional IMSI format (onf-site.yang,
// imsi-definition/format) and nothing else.
func Missing(c *schema.Node) string {
	if c.Name == "format" && c.Parent != nil && c.Parent.Name == "imsi-definition" {
		return "Aether's conventional format is CCCNNNEEESSSSSS"
	}
	return ""
}
