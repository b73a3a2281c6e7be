// Package fleet is the wing of the "fleet" model set (models/fleet,
// lifecycle management, book chapter 4): its invariants that YANG cannot
// state, registered with the engine at init so that every write path on
// every store enforces them at commit. cmd/amp imports it (through the
// set's REST layer, internal/fleet/fleetapi). docs/lifecycle.md.
package fleet

import (
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// SetName is the fleet model set's name.
const SetName = "fleet"

func init() {
	config.RegisterRule(SetName, config.Rule{Name: "fleet-depends-on", Check: checkCycles})
}

// BundleKey is the storage key of a bundle of set.
func BundleKey(set *schema.ModelSet, id string) string {
	return schema.RootKey(set, "") + "/bundle/" + schema.EscapeSegment(id)
}

// BundlePath is the REST path of a bundle of set.
func BundlePath(set *schema.ModelSet, id string) string {
	return schema.RESTBase(set) + "/bundle/" + schema.EscapeSegment(id)
}

// bundleOf returns the set and bundle id a storage key addresses
// ("fleet/1.0.0/bundle/sd-core"), or ok=false for any other key.
func bundleOf(sch *schema.Schema, key string) (set *schema.ModelSet, id string, ok bool) {
	segs := strings.Split(key, "/")
	if len(segs) != 4 || segs[0] != SetName || segs[2] != "bundle" {
		return nil, "", false
	}
	if set = sch.Set(SetName, segs[1]); set == nil {
		return nil, "", false
	}
	id, err := schema.UnescapeSegment(segs[3])
	return set, id, err == nil
}
