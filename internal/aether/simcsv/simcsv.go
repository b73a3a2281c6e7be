// Package simcsv is Aether's SIM card and device CSV: the file `amp
// import` reads and `amp export --csv` writes, one row per SIM card and/or
// device of a site, and the PATCH /aether-roc-api bodies an import sends.
// Rows are checked against the model's types before anything is sent, and
// every bad row is reported at once. cmd/amp keeps only the commands'
// wiring (files, progress, batches).
package simcsv

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/tenant"
)

// Columns are the file's columns, in the order an export writes them; an
// import takes them in any order (site, and sim-id or device-id, needed).
var Columns = []string{"enterprise", "site", "sim-id", "iccid", "imsi", "device-id", "imei", "display-name", "device-group"}

// Row is one checked CSV row: its line in the file and its cells.
type Row struct {
	Line                                                                     int
	Enterprise, Site, SimID, ICCID, IMSI, DeviceID, IMEI, DisplayName, Group string
}

// Reader parses and checks a SIM/device CSV file against the model's
// types: every bad row is reported, and none is returned then.
type Reader struct {
	// Enterprise is the enterprise of rows that name none (no enterprise
	// column, or an empty cell).
	Enterprise string
	// Unquote undoes what the export did to a cell to keep spreadsheets
	// from reading it as a formula (nil: cells are taken as they are).
	Unquote func(string) string
	// Rows counts the rows read so far, for progress reports.
	Rows  int
	types map[string]*schema.Node // column -> leaf
}

// NewReader returns a reader for the rows of set, Aether's model set
// (site/sim-card, site/device, site/device-group).
func NewReader(set *schema.ModelSet) (*Reader, error) {
	site := set.Root.Child("site")
	if site == nil {
		return nil, fmt.Errorf("model set %s %s has no site list", set.Name, set.Version)
	}
	sim, dev, dg := site.Child("sim-card"), site.Child("device"), site.Child("device-group")
	if sim == nil || dev == nil || dg == nil {
		return nil, fmt.Errorf("model set %s %s lacks site/sim-card, device or device-group", set.Name, set.Version)
	}
	return &Reader{types: map[string]*schema.Node{
		"site": site.Child("site-id"), "sim-id": sim.Child("sim-id"), "iccid": sim.Child("iccid"), "imsi": sim.Child("imsi"),
		"device-id": dev.Child("device-id"), "imei": dev.Child("imei"), "display-name": dev.Child("display-name"),
		"device-group": dg.Child("device-group-id"),
	}}, nil
}

// check parses a cell as its leaf's type (a leafref's target's).
func (rd *Reader) check(col, v string) error {
	n := rd.types[col]
	if n == nil || v == "" {
		return nil
	}
	t := n.Type
	for t != nil && t.Base == schema.TLeafref && t.Target != nil {
		t = t.Target.Type
	}
	if t != nil {
		if _, err := t.Parse(v); err != nil {
			return fmt.Errorf("%s %q: %v", col, v, err)
		}
	}
	return nil
}

// Read parses and checks the whole of src (name: the file's, for the
// messages); every bad row is reported in one *RowsError.
func (rd *Reader) Read(src io.Reader, name string) ([]*Row, error) {
	r := csv.NewReader(src)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: read the header line: %v", name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range Columns {
			known = known || c == h
		}
		if !known {
			return nil, fmt.Errorf("%s: line 1: unknown column %q (the columns are %s)", name, h, strings.Join(Columns, ","))
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("%s: line 1: column %q appears twice", name, h)
		}
		col[h] = i
	}
	if _, ok := col["site"]; !ok {
		return nil, fmt.Errorf("%s: line 1: the header has no site column (columns: %s)", name, strings.Join(Columns, ","))
	}
	_, hasSim := col["sim-id"]
	_, hasDev := col["device-id"]
	if !hasSim && !hasDev {
		return nil, fmt.Errorf("%s: line 1: the header needs a sim-id or device-id column", name)
	}
	if _, ok := col["enterprise"]; !ok && rd.Enterprise == "" {
		return nil, fmt.Errorf("%s: line 1: no enterprise column: add one or give -e/--enterprise", name)
	}
	var rows []*Row
	var bad []string
	badRows := 0
	seenSim := map[string]int{}
	seenDev := map[string]int{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				badRows++
				bad = append(bad, fmt.Sprintf("line %d: %v", pe.Line, pe.Err))
				if pe.Err == csv.ErrQuote || pe.Err == csv.ErrBareQuote {
					continue
				}
				continue
			}
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		rd.Rows++
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		var probs []string
		if len(rec) != len(header) {
			probs = append(probs, fmt.Sprintf("%d columns, the header has %d", len(rec), len(header)))
		}
		get := func(c string) string {
			if i, ok := col[c]; ok && i < len(rec) {
				v := strings.TrimSpace(rec[i])
				if rd.Unquote != nil {
					v = rd.Unquote(v)
				}
				return v
			}
			return ""
		}
		row := &Row{Line: line, Enterprise: get("enterprise"), Site: get("site"), SimID: get("sim-id"), ICCID: get("iccid"), IMSI: get("imsi"),
			DeviceID: get("device-id"), IMEI: get("imei"), DisplayName: get("display-name"), Group: get("device-group")}
		if row.Enterprise == "" {
			row.Enterprise = rd.Enterprise
		}
		if row.Enterprise == "" {
			probs = append(probs, "empty enterprise (and no -e)")
		}
		if row.Site == "" {
			probs = append(probs, "empty site")
		}
		if row.SimID == "" && row.DeviceID == "" {
			probs = append(probs, "empty sim-id and device-id")
		}
		if row.SimID == "" && (row.ICCID != "" || row.IMSI != "") {
			probs = append(probs, "iccid/imsi given without sim-id")
		}
		if row.DeviceID == "" && row.IMEI != "" {
			probs = append(probs, "imei given without device-id")
		}
		if row.DeviceID == "" && row.Group != "" {
			probs = append(probs, "device-group given without device-id")
		}
		for _, c := range []struct{ col, v string }{{"site", row.Site}, {"sim-id", row.SimID}, {"iccid", row.ICCID}, {"imsi", row.IMSI},
			{"device-id", row.DeviceID}, {"imei", row.IMEI}, {"display-name", row.DisplayName}, {"device-group", row.Group}} {
			if err := rd.check(c.col, c.v); err != nil {
				probs = append(probs, err.Error())
			}
		}
		if row.SimID != "" {
			k := row.Enterprise + "\x00" + row.Site + "\x00" + row.SimID
			if prev, dup := seenSim[k]; dup {
				probs = append(probs, fmt.Sprintf("sim-id %q of site %s is also on line %d", row.SimID, row.Site, prev))
			} else {
				seenSim[k] = line
			}
		}
		if row.DeviceID != "" {
			k := row.Enterprise + "\x00" + row.Site + "\x00" + row.DeviceID
			if prev, dup := seenDev[k]; dup {
				probs = append(probs, fmt.Sprintf("device-id %q of site %s is also on line %d", row.DeviceID, row.Site, prev))
			} else {
				seenDev[k] = line
			}
		}
		if len(probs) > 0 {
			badRows++
			bad = append(bad, fmt.Sprintf("line %d: %s", line, strings.Join(probs, "; ")))
			continue
		}
		rows = append(rows, row)
	}
	if badRows > 0 {
		const show = 50
		what := "bad rows"
		if badRows == 1 {
			what = "bad row"
		}
		msg := fmt.Sprintf("%s: %d %s; nothing was imported", name, badRows, what)
		lines := bad
		if len(lines) > show {
			lines = append(lines[:show:show], fmt.Sprintf("… and %d more", len(bad)-show))
		}
		return nil, &RowsError{Msg: msg, Lines: lines}
	}
	return rows, nil
}

// RowsError lists the bad rows of a file, one line each (at most 50).
type RowsError struct {
	Msg   string
	Lines []string
}

func (e *RowsError) Error() string { return e.Msg + "\n  " + strings.Join(e.Lines, "\n  ") }

// Encoder writes PATCH /aether-roc-api bodies for rows, directly as JSON
// text (fast and small for 100,000s of rows).
type Encoder struct {
	// Element names the site list in the body (site-2.1.0).
	Element string
	// GroupUnchanged names the mandatory device-group leaves an import
	// does not send (additionalProperties.unchanged), comma-separated.
	GroupUnchanged string
}

// EncodeLimited encodes rows as one body, or as several of at most max
// bytes each (cutting between rows).
func (e *Encoder) EncodeLimited(rows []*Row, max int64) ([][]byte, [][]*Row) {
	body := e.Encode(rows)
	if int64(len(body)) <= max || len(rows) == 1 {
		return [][]byte{body}, [][]*Row{rows}
	}
	parts := int(int64(len(body))/max) + 1
	per := (len(rows) + parts - 1) / parts
	var bodies [][]byte
	var rs [][]*Row
	for i := 0; i < len(rows); i += per {
		b, r := e.EncodeLimited(rows[i:min(i+per, len(rows))], max)
		bodies = append(bodies, b...)
		rs = append(rs, r...)
	}
	return bodies, rs
}

type siteGroup struct {
	ent, site string
	rows      []*Row
	groups    []string
	members   map[string][]string
}

// Encode encodes rows as one body: the sites of each enterprise with
// their SIM cards, devices and device-group memberships, in the order the
// rows name them.
func (e *Encoder) Encode(rows []*Row) []byte {
	// Group by enterprise and site, keeping the order of first appearance.
	var sites []*siteGroup
	idx := map[string]*siteGroup{}
	for _, r := range rows {
		k := r.Enterprise + "\x00" + r.Site
		sg := idx[k]
		if sg == nil {
			sg = &siteGroup{ent: r.Enterprise, site: r.Site, members: map[string][]string{}}
			idx[k] = sg
			sites = append(sites, sg)
		}
		sg.rows = append(sg.rows, r)
		if r.Group != "" {
			if _, ok := sg.members[r.Group]; !ok {
				sg.groups = append(sg.groups, r.Group)
			}
			sg.members[r.Group] = append(sg.members[r.Group], r.DeviceID)
		}
	}
	var b bytes.Buffer
	b.Grow(len(rows) * 200)
	b.WriteString(`{"Updates":{`)
	writeStr(&b, e.Element)
	b.WriteString(":[")
	for i, sg := range sites {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"site-id":`)
		writeStr(&b, sg.site)
		b.WriteString(`,"additionalProperties":{"` + tenant.IDField + `":`)
		writeStr(&b, sg.ent)
		b.WriteString(`},"sim-card":[`)
		first := true
		for _, r := range sg.rows {
			if r.SimID == "" {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(`{"sim-id":`)
			writeStr(&b, r.SimID)
			writeField(&b, "iccid", r.ICCID)
			writeField(&b, "imsi", r.IMSI)
			if r.DeviceID == "" {
				writeField(&b, "display-name", r.DisplayName)
			}
			b.WriteByte('}')
		}
		b.WriteString(`],"device":[`)
		first = true
		for _, r := range sg.rows {
			if r.DeviceID == "" {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(`{"device-id":`)
			writeStr(&b, r.DeviceID)
			writeField(&b, "imei", r.IMEI)
			writeField(&b, "sim-card", r.SimID)
			writeField(&b, "display-name", r.DisplayName)
			b.WriteByte('}')
		}
		b.WriteByte(']')
		if len(sg.groups) > 0 {
			b.WriteString(`,"device-group":[`)
			for j, gname := range sg.groups {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"device-group-id":`)
				writeStr(&b, gname)
				if e.GroupUnchanged != "" {
					b.WriteString(`,"additionalProperties":{"unchanged":`)
					writeStr(&b, e.GroupUnchanged)
					b.WriteByte('}')
				}
				b.WriteString(`,"device":[`)
				for k, d := range sg.members[gname] {
					if k > 0 {
						b.WriteByte(',')
					}
					b.WriteString(`{"device-id":`)
					writeStr(&b, d)
					b.WriteByte('}')
				}
				b.WriteString("]}")
			}
			b.WriteByte(']')
		}
		b.WriteByte('}')
	}
	b.WriteString("]}}")
	return b.Bytes()
}

func writeField(b *bytes.Buffer, name, v string) {
	if v == "" {
		return
	}
	b.WriteByte(',')
	writeStr(b, name)
	b.WriteByte(':')
	writeStr(b, v)
}

// writeStr writes s as a JSON string; plain ASCII is copied directly.
func writeStr(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			b.Write(q)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
