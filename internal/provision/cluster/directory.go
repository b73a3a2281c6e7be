package cluster

import (
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge/ca"
	"github.com/amp-edge/amp/internal/provision/inventory"
)

// The agent CA (internal/edge/ca) knows no model set: this wing tells it
// which clusters are declared, and since when, so that a deleted cluster's
// certificates stop working at once, and do not come back when a cluster
// of the same name is declared again.
func init() { ca.SetDirectory(Created) }

// Created is the index at which the cluster was declared, 0 when it is not.
func Created(snap *config.Snapshot, id string) uint64 {
	set := inventory.Set(snap.Schema())
	if set == nil {
		return 0
	}
	o, ok := snap.Get(Key(set, id))
	if !ok {
		return 0
	}
	return o.Created
}
