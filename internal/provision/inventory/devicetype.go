package inventory

import (
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// LoadDeviceType reads one device type; ok is false when it does not
// exist. The views of one site need only its devices' types, not the
// whole set Load reads.
func LoadDeviceType(snap *config.Snapshot, set *schema.ModelSet, id string) (*DeviceType, bool) {
	o, ok := snap.Get(schema.RootKey(set, "") + "/device-type/" + schema.EscapeSegment(id))
	if !ok {
		return nil, false
	}
	tree, _ := snap.Tree(o)
	return deviceTypeOf(tree), true
}
