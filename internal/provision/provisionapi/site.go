package provisionapi

import (
	"net/http"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// inventorySet is the loaded inventory set, or the refusal naming path.
func inventorySet(h compat.Host, path string) (*schema.ModelSet, error) {
	set := inventory.Set(h.Schema())
	if set == nil {
		return nil, schema.Errorf(schema.KindNotFound, path, "the inventory model set is not loaded")
	}
	return set, nil
}

// readSite authorizes a read of the request's site and reads it as of
// one snapshot. The policy decides before the site is looked up: to a
// caller who may not read it, a site that does not exist and one of
// another tenant are refused alike.
func readSite(h compat.Host, r *http.Request) (*config.Snapshot, *schema.ModelSet, *inventory.Site, error) {
	set, err := inventorySet(h, r.URL.Path)
	if err != nil {
		return nil, nil, nil, err
	}
	id := r.PathValue("site")
	path := sitePath(set, id)
	if err := h.Authorize(r, auth.Read, path); err != nil {
		return nil, nil, nil, err
	}
	h.Touch(r, path)
	snap := h.Engine().Snapshot()
	site, ok := inventory.LoadSite(snap, set, id)
	if !ok {
		return nil, nil, nil, schema.Errorf(schema.KindNotFound, path, "site %q does not exist", id)
	}
	return snap, set, site, nil
}

// sitePath is the REST path of a site of the inventory.
func sitePath(set *schema.ModelSet, site string) string {
	return schema.RESTBase(set) + "/site/" + schema.EscapeSegment(site)
}
