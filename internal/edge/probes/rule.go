package probes

import (
	"errors"
	"fmt"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// What the agent would refuse is refused at commit: a probe whose spec
// an agent would not run (which would refuse its cluster's whole desired
// state), and, in a tenant set, a probe naming another enterprise's site
// or cluster.
func init() { config.RegisterRule(SetName, config.Rule{Name: "probes", Check: check}) }

func check(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	sch := tx.Schema()
	set := sch.Set(SetName, "")
	inv := inventory.Set(sch)
	if set == nil {
		return
	}
	for _, ch := range changes {
		o := ch.After
		if o == nil || o.Node == nil || o.Node.Name != "probe" || o.Node.Parent == nil || o.Node.Parent.Kind != schema.Root {
			continue
		}
		path := schema.RESTPathOfKey(set, o.Key, nil, false, nil)
		if err := specOf(o.Data).Check(); err != nil {
			var f *wire.ProbeField
			if errors.As(err, &f) {
				report(false, path+"/"+f.Field, f.Reason)
			} else {
				report(false, path, err.Error())
			}
		}
		tenant := set.TenantOfKey(o.Key)
		if set.Global() || inv == nil {
			continue
		}
		for _, site := range stringList(o.Data["site"]) {
			if s, ok := tx.Get(inventory.SiteKey(inv, site)); ok && s.Data["tenant"] != tenant {
				report(false, path+"/site", fmt.Sprintf("site %q is not a site of enterprise %s: a probe runs at its enterprise's sites only", site, tenant))
			}
		}
		for _, id := range stringList(o.Data["cluster"]) {
			c, ok := tx.Get(schema.RootKey(inv, "") + "/cluster/" + schema.EscapeSegment(id))
			if !ok {
				continue // the reference check names it
			}
			site, _ := c.Data["site"].(string)
			s, ok := tx.Get(inventory.SiteKey(inv, site))
			if site == "" || !ok || s.Data["tenant"] != tenant {
				report(false, path+"/cluster", fmt.Sprintf("cluster %q is not at a site of enterprise %s: a probe runs at its enterprise's sites only", id, tenant))
			}
		}
	}
}
