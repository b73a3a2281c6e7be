package provisionapi

import (
	"net/http"
	"strings"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/provision/rackview"
	"github.com/amp-edge/amp/internal/schema"
)

// viewRoutes are the rack and cable views of a site (docs/provisioning.md,
// "Rack elevation, cable report and trace"): read-only, each authorized as
// a read of the site, so operators and the admins and members of the
// site's tenant see them, and nobody else learns whether the site exists.
func viewRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /provision/{site}/racks/{rack}/elevation.svg", Name: "provision-elevation", Handler: elevation},
		{Pattern: "GET /provision/{site}/cables", Name: "provision-cables", Handler: cables},
		{Pattern: "GET /provision/{site}/devices/{device}/interfaces/{name}/trace", Name: "provision-trace", Handler: trace},
	}
}

// elevation answers GET /provision/{site}/racks/{rack}/elevation.svg?face=front|rear.
func elevation(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	face, err := rackview.ParseFace(r.URL.Query().Get("face"))
	if err != nil {
		return schema.Errorf(schema.KindInvalid, "?face", "%v", err)
	}
	snap, set, site, err := readSite(h, r)
	if err != nil {
		return err
	}
	rack, ok := site.Racks[r.PathValue("rack")]
	if !ok {
		return schema.Errorf(schema.KindNotFound, sitePath(set, site.ID)+"/rack/"+schema.EscapeSegment(r.PathValue("rack")),
			"site %q has no rack %q", site.ID, r.PathValue("rack"))
	}
	types := map[string]*inventory.DeviceType{}
	for _, d := range site.Devices {
		if _, done := types[d.DeviceType]; d.Rack != rack.ID || done {
			continue
		}
		if dt, ok := inventory.LoadDeviceType(snap, set, d.DeviceType); ok {
			types[dt.ID] = dt
		}
	}
	hd := w.Header()
	hd.Set("Content-Type", "image/svg+xml")
	// The drawing has no script and loads nothing: a browser that opens it
	// should run and fetch nothing either.
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, err = w.Write(rackview.Elevation(site, rack, face, types))
	return err
}

// cables answers GET /provision/{site}/cables: JSON, or CSV for
// ?format=csv or an Accept of text/csv.
func cables(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	asCSV := false
	switch f := r.URL.Query().Get("format"); f {
	case "csv":
		asCSV = true
	case "json":
	case "":
		asCSV = strings.Contains(r.Header.Get("Accept"), "text/csv")
	default:
		return schema.Errorf(schema.KindInvalid, "?format", "%q is not a format of the cable report: use json or csv", f)
	}
	_, _, site, err := readSite(h, r)
	if err != nil {
		return err
	}
	rows := rackview.Cables(site)
	if !asCSV {
		return h.WriteJSON(w, http.StatusOK, rows)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+site.ID+`-cables.csv"`)
	_, err = w.Write(rackview.CSV(rows))
	return err
}

// trace answers GET /provision/{site}/devices/{device}/interfaces/{name}/trace.
func trace(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	_, set, site, err := readSite(h, r)
	if err != nil {
		return err
	}
	devID, name := r.PathValue("device"), r.PathValue("name")
	devPath := sitePath(set, site.ID) + "/device/" + schema.EscapeSegment(devID)
	d, ok := site.Devices[devID]
	if !ok {
		return schema.Errorf(schema.KindNotFound, devPath, "site %q has no device %q", site.ID, devID)
	}
	if _, ok := d.Interfaces[name]; !ok {
		return schema.Errorf(schema.KindNotFound, devPath+"/interface/"+schema.EscapeSegment(name),
			"device %q has no interface %q", devID, name)
	}
	return h.WriteJSON(w, http.StatusOK, rackview.TraceFrom(site, d, name))
}
