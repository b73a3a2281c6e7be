// Package rackview draws a site's racks and reports its cables, from the
// typed inventory (internal/provision/inventory), as the book's chapter 3
// shows them from NetBox: the rack elevation (Figure 5.3) as SVG, the
// cable report (Figure 5.4) as rows for JSON, CSV and the CLI's table,
// and the cable trace from one interface. Everything it returns is
// deterministic: the same inventory gives the same bytes.
//
// It knows no HTTP and no engine; internal/provision/provisionapi serves
// it.
package rackview

import "github.com/amp-edge/amp/internal/provision/inventory"

// DeviceName is a device's name as the book's cable report shows it,
// <devname>.<deployment>.<site> (its FQDN without the site's domain):
// unique in the site, since a devname is unique per deployment. A device
// of no deployment is <devname>.<site>.
func DeviceName(site *inventory.Site, d *inventory.Device) string {
	if d.Deployment == "" {
		return d.Devname + "." + site.ID
	}
	return d.Devname + "." + d.Deployment + "." + site.ID
}
