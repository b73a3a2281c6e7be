package dedicatedupf

import (
	"fmt"
	"slices"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/schema"
)

func init() {
	config.RegisterRule(aetherSet, config.Rule{Name: "dedicated-upf-allowed", Check: checkAllowed})
}

// checkAllowed refuses a slice's request for a dedicated UPF whose bundle
// the operator has not allowed the slice's enterprise
// (bundle/allowed-for-dedicated-upf in the fleet set), at the request's
// bundle leaf: a tenant deploys only the UPF bundles it was given. Only a
// request made or changed by the transaction is checked, so an allowance
// the operator withdraws later stops new requests without blocking other
// edits of the slice.
func checkAllowed(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	aset := tx.Schema().Set(aetherSet, "")
	if aset == nil {
		return
	}
	fset := tx.Schema().Set(fleet.SetName, "")
	for _, c := range changes {
		sl, ok := sliceOfKey(aset, c.Key)
		if !ok || c.After == nil {
			continue
		}
		req := asked(c.After)
		if req.Bundle == "" || req == asked(c.Before) {
			continue
		}
		path := schema.RESTPathOfKey(aset, c.Key, []string{"dedicated-upf", "bundle"}, false, nil)
		if fset == nil {
			report(false, path, "the fleet model set is not loaded: no bundle may be asked for")
			continue
		}
		b, ok := tx.Get(fleet.BundleKey(fset, req.Bundle))
		if !ok {
			report(false, path, fmt.Sprintf("there is no fleet bundle %q", req.Bundle))
			continue
		}
		allowed, _ := b.Data["allowed-for-dedicated-upf"].([]any)
		if !slices.Contains(allowed, any(sl.Enterprise)) {
			report(false, path, fmt.Sprintf("bundle %q is not allowed as a dedicated UPF of enterprise %s: the operator lists the enterprises that may ask for it at %s/allowed-for-dedicated-upf",
				req.Bundle, sl.Enterprise, fleet.BundlePath(fset, req.Bundle)))
		}
	}
}
