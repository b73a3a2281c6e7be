package rackview

import (
	"bytes"
	"encoding/csv"
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// Cable is what the report and a trace say about one cable.
type Cable struct {
	ID     string `json:"cable-id"`
	Label  string `json:"label"`
	Status string `json:"status"`
	Type   string `json:"type"`
	// Length is the decimal without trailing zeros ("2", "2.5"), ""
	// when unknown; LengthUnit its unit.
	Length     string `json:"length,omitempty"`
	LengthUnit string `json:"length-unit,omitempty"`
	// Color is six hex digits, NetBox's form.
	Color string `json:"color,omitempty"`
}

// CableRow is one row of the cable report (the book's Figure 5.4).
type CableRow struct {
	Cable
	// SideA is the device's name (DeviceName), DeviceA its id at the
	// site, TerminationA its interface.
	SideA        string `json:"side-a"`
	DeviceA      string `json:"device-a"`
	TerminationA string `json:"termination-a"`
	SideB        string `json:"side-b"`
	DeviceB      string `json:"device-b"`
	TerminationB string `json:"termination-b"`
}

// Cables reports the site's cables, in natural order of their ids (c2
// before c10).
func Cables(site *inventory.Site) []CableRow {
	rows := make([]CableRow, 0, len(site.Cables))
	for _, id := range sortedCables(site) {
		c := site.Cables[id]
		rows = append(rows, CableRow{
			Cable: cableOf(c),
			SideA: endName(site, c.A.Device), DeviceA: c.A.Device, TerminationA: c.A.Interface,
			SideB: endName(site, c.B.Device), DeviceB: c.B.Device, TerminationB: c.B.Interface,
		})
	}
	return rows
}

// CSVHeader is the cable report's header, NetBox's column names.
var CSVHeader = []string{"ID", "Label", "Side A", "Termination A", "Side B", "Termination B", "Status", "Type", "Length", "Color"}

// CSV writes the report as CSV (RFC 4180) under CSVHeader; the length
// carries its unit ("3 ft").
func CSV(rows []CableRow) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(CSVHeader)
	for _, r := range rows {
		_ = w.Write([]string{r.ID, csvText(r.Label), r.SideA, r.TerminationA, r.SideB, r.TerminationB, r.Status, r.Type, r.LengthText(), r.Color})
	}
	w.Flush()
	return b.Bytes()
}

// csvText keeps a spreadsheet from running free text as a formula (CSV
// injection: a label "=HYPERLINK(…)"), as amp's CSV exports do: a cell
// that starts with = + - @, tab, carriage return or ' gets a leading '.
// Only the label is free text; the other cells follow the model's
// patterns or enumerations.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
		return "'" + s
	}
	return s
}

// LengthText is the length with its unit, "" when unknown.
func (c Cable) LengthText() string {
	if c.Length == "" {
		return ""
	}
	return strings.TrimSpace(c.Length + " " + c.LengthUnit)
}

func cableOf(c *inventory.Cable) Cable {
	return Cable{ID: c.ID, Label: c.Label, Status: c.Status, Type: c.Type,
		Length: trimDecimal(c.Length), LengthUnit: c.LengthUnit, Color: c.Color}
}

// endName names a cable's device; a device the site does not have (the
// model's references make that impossible) keeps its id.
func endName(site *inventory.Site, id string) string {
	if d, ok := site.Devices[id]; ok {
		return DeviceName(site, d)
	}
	return id
}

// trimDecimal drops a decimal's trailing fraction zeros: "2.00" → "2".
func trimDecimal(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// sortedCables is the site's cable ids in natural order.
func sortedCables(site *inventory.Site) []string {
	ids := inventory.Sorted(site.Cables)
	sort.SliceStable(ids, func(i, j int) bool { return inventory.NaturalLess(ids[i], ids[j]) })
	return ids
}
