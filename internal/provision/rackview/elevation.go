package rackview

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// Face is the side of a rack an elevation shows.
type Face string

// The two faces of a rack.
const (
	Front Face = "front"
	Rear  Face = "rear"
)

// ParseFace reads a face as the API takes it; "" is the front.
func ParseFace(s string) (Face, error) {
	switch Face(s) {
	case "", Front:
		return Front, nil
	case Rear:
		return Rear, nil
	}
	return "", fmt.Errorf("%q is not a rack face: use front or rear", s)
}

// The drawing's geometry, in SVG user units (pixels at 100%): a rack unit
// is 22 high as in NetBox's elevations, with the unit numbers left of the
// rack and the legend right of it.
const (
	UnitHeight = 22
	RackX      = 40  // left edge of the rack: the unit numbers are left of it
	RackWidth  = 240 // inner width of the rack
	Top        = 40  // the title is above
	legendX    = RackX + RackWidth + 30
	legendW    = 220
	lineHeight = 18
	margin     = 20
)

// palette colours a deployment by its ordinal (0..9, unique at a site), so
// a deployment keeps its colour in every rack of its site and across
// renders. Devices of no deployment are NoDeployment.
var palette = [10]string{
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
}

// The fills of a device of no deployment and of an empty unit.
const (
	NoDeployment = "#c7c7c7"
	EmptyUnit    = "#f5f5f5"
)

// DeploymentColor is the fill of a deployment's devices ("" deployment or
// one the site does not have: the colour of no deployment).
func DeploymentColor(site *inventory.Site, deployment string) string {
	d, ok := site.Deployments[deployment]
	if !ok || d.Ordinal < 0 || d.Ordinal >= len(palette) {
		return NoDeployment
	}
	return palette[d.Ordinal]
}

// Placed is a device as an elevation draws it: the units it spans and
// where its box is.
type Placed struct {
	Device *inventory.Device
	// Height is its type's height in units.
	Height int
	// FullDepth devices show on both faces.
	FullDepth bool
	// Y and H are the box's top and height in the drawing.
	Y, H int
}

// Layout is what an elevation of one face of a rack draws.
type Layout struct {
	Site *inventory.Site
	Rack *inventory.Rack
	Face Face
	// Devices are drawn on this face, by position.
	Devices []Placed
	// Unmounted are the rack's devices no face shows: no position, or a
	// type of 0 U (a PDU in the side of the rack).
	Unmounted []string
	// Deployments are the legend's entries: the site's deployments by
	// ordinal, then "" when a drawn device has none.
	Deployments []string
}

// UnitY is the top of rack unit u (1 is the bottom unit) in a rack of
// height units.
func UnitY(height, u int) int { return Top + (height-u)*UnitHeight }

// Lay works out the elevation of face of rack at site. types holds the
// device types of the rack's devices; a device whose type is missing is
// taken as 1 U and full depth, NetBox's default.
func Lay(site *inventory.Site, rack *inventory.Rack, face Face, types map[string]*inventory.DeviceType) *Layout {
	l := &Layout{Site: site, Rack: rack, Face: face}
	noDep := false
	for _, id := range inventory.Sorted(site.Devices) {
		d := site.Devices[id]
		if d.Rack != rack.ID {
			continue
		}
		height, full := 1, true
		if dt, ok := types[d.DeviceType]; ok {
			height, full = dt.UHeight, dt.FullDepth
		}
		if d.Position == 0 || height == 0 {
			l.Unmounted = append(l.Unmounted, DeviceName(site, d))
			continue
		}
		if !full && Face(d.Face) != face {
			continue
		}
		top := d.Position + height - 1
		l.Devices = append(l.Devices, Placed{Device: d, Height: height, FullDepth: full,
			Y: UnitY(rack.UHeight, top), H: height * UnitHeight})
		if _, ok := site.Deployments[d.Deployment]; !ok {
			noDep = true
		}
	}
	sort.SliceStable(l.Devices, func(i, j int) bool { return l.Devices[i].Device.Position < l.Devices[j].Device.Position })
	deps := inventory.Sorted(site.Deployments)
	sort.SliceStable(deps, func(i, j int) bool {
		return site.Deployments[deps[i]].Ordinal < site.Deployments[deps[j]].Ordinal
	})
	l.Deployments = deps
	if noDep {
		l.Deployments = append(l.Deployments, "")
	}
	return l
}

// Width is the drawing's width: the rack and the legend.
func (l *Layout) Width() int { return legendX + legendW }

// Height is the drawing's height: the rack, or the legend when it is
// longer, and a line for the unmounted devices.
func (l *Layout) Height() int {
	h := Top + l.Rack.UHeight*UnitHeight
	if lh := Top + (len(l.Deployments)+1)*lineHeight; lh > h {
		h = lh
	}
	if len(l.Unmounted) > 0 {
		h += lineHeight + 6
	}
	return h + margin
}

// Elevation draws face of rack at site as SVG (the book's Figure 5.3):
// the units numbered from 1 at the bottom, each device a box over the
// units it spans, labelled with its name and coloured by its deployment,
// and the legend of the colours.
func Elevation(site *inventory.Site, rack *inventory.Rack, face Face, types map[string]*inventory.DeviceType) []byte {
	return Lay(site, rack, face, types).SVG()
}

// SVG renders the layout.
func (l *Layout) SVG() []byte {
	var b bytes.Buffer
	w, h := l.Width(), l.Height()
	units := l.Rack.UHeight
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12" data-site="%s" data-rack="%s" data-face="%s" data-u-height="%d">`+"\n",
		w, h, w, h, esc(l.Site.ID), esc(l.Rack.ID), l.Face, units)
	fmt.Fprintf(&b, `<title>%s</title>`+"\n", esc(l.title()))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", RackX, Top-16, esc(l.title()))
	for u := units; u >= 1; u-- {
		y := UnitY(units, u)
		fmt.Fprintf(&b, `<g class="unit" data-unit="%d"><rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#d0d0d0"/>`, u, RackX, y, RackWidth, UnitHeight, EmptyUnit)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#555555">%d</text></g>`+"\n", RackX-6, y+15, u)
	}
	for _, p := range l.Devices {
		d := p.Device
		name := DeviceName(l.Site, d)
		fill, ink := DeploymentColor(l.Site, d.Deployment), "#ffffff"
		if fill == NoDeployment {
			ink = "#000000"
		}
		fmt.Fprintf(&b, `<g class="device" data-device="%s" data-position="%d" data-u-height="%d" data-face="%s" data-full-depth="%t" data-deployment="%s">`,
			esc(d.ID), d.Position, p.Height, esc(d.Face), p.FullDepth, esc(d.Deployment))
		fmt.Fprintf(&b, `<title>%s</title>`, esc(deviceTitle(name, d, p)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#ffffff"/>`, RackX, p.Y, RackWidth, p.H, fill)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text></g>`+"\n", RackX+8, p.Y+p.H/2+4, ink, esc(label(d)))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333333" stroke-width="2"/>`+"\n", RackX, Top, RackWidth, units*UnitHeight)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">Deployments</text>`+"\n", legendX, Top+12)
	for i, dep := range l.Deployments {
		y := Top + (i+1)*lineHeight
		text := "no deployment"
		if d, ok := l.Site.Deployments[dep]; ok {
			text = dep + " (" + d.Kind + ")"
		}
		fmt.Fprintf(&b, `<g class="legend-entry" data-deployment="%s"><rect x="%d" y="%d" width="14" height="14" fill="%s"/><text x="%d" y="%d">%s</text></g>`+"\n",
			esc(dep), legendX, y, DeploymentColor(l.Site, dep), legendX+20, y+12, esc(text))
	}
	if len(l.Unmounted) > 0 {
		fmt.Fprintf(&b, `<text class="unmounted" x="%d" y="%d" fill="#555555">Not in a unit: %s</text>`+"\n",
			RackX, Top+units*UnitHeight+lineHeight+4, esc(strings.Join(l.Unmounted, ", ")))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func (l *Layout) title() string {
	name := l.Rack.ID
	if l.Rack.DisplayName != "" {
		name = l.Rack.DisplayName
	}
	return fmt.Sprintf("%s / %s (%d U), %s", l.Site.ID, name, l.Rack.UHeight, l.Face)
}

// maxLabel is how many characters fit in a box at 12 px (the full name is
// in the box's tooltip).
const maxLabel = 34

// label is what a device's box says: devname and deployment, unique at
// the site (the site is in the title), cut to fit the box.
func label(d *inventory.Device) string {
	l := d.Devname
	if d.Deployment != "" {
		l += "." + d.Deployment
	}
	if r := []rune(l); len(r) > maxLabel {
		l = string(r[:maxLabel-1]) + "…"
	}
	return l
}

// deviceTitle is the tooltip a browser shows over a device.
func deviceTitle(name string, d *inventory.Device, p Placed) string {
	units := fmt.Sprintf("U%d", d.Position)
	if p.Height > 1 {
		units = fmt.Sprintf("U%d-U%d", d.Position, d.Position+p.Height-1)
	}
	depth := d.Face + " only"
	if p.FullDepth {
		depth = "full depth"
	}
	return fmt.Sprintf("%s: %s, %s, %s, %s (%s)", name, d.Role, d.DeviceType, units, depth, d.Status)
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
