package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
	"github.com/amp-edge/amp/internal/schema"
)

// The CSV columns of import and export, in export order.
var simColumns = []string{"enterprise", "site", "sim-id", "iccid", "imsi", "device-id", "imei", "display-name", "device-group"}

func newImportCmd(g *globalOpts) *cobra.Command {
	var (
		dryRun     bool
		batch      int
		maxRequest int64
		message    string
	)
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Bulk-import SIM cards and devices from CSV",
		Long: `Import SIM cards and devices from a CSV file (use - for stdin).

The first line names the columns, in any order:

  enterprise,site,sim-id,iccid,imsi,device-id,imei,display-name,device-group

  enterprise    enterprise id (may be omitted when -e is given)
  site          site id (required)
  sim-id        SIM card id; may be empty on a row that only has a device
  iccid, imsi   the SIM card's ICCID and IMSI (optional)
  device-id     device id (optional): the device is created or updated with
                imei and sim-card = sim-id
  imei          the device's IMEI (optional)
  display-name  optional: the device's display name (the SIM's when the
                row has no device)
  device-group  optional: add the device to this existing device group

Only site and sim-id (or device-id) columns are required; "amp export -o
csv" writes all nine, so an export imports back unchanged.

Rows are checked locally first (column count, empty or malformed ids,
IMSI/ICCID/IMEI formats, duplicates) and every bad row is reported with
its line number; nothing is sent then. The import merges: existing SIMs and
devices are updated, nothing is deleted, and importing the same file again
changes nothing ("no changes").

By default the whole file is ONE transaction (all or nothing), sent as one
PATCH /aether-roc-api request built in memory and streamed. If that request
would be larger than --max-request (default 48 MiB; the server accepts 64
MiB unless started with another --max-bulk-body) it is split into several
transactions and the command says so. --batch N commits every N rows as a
separate transaction and reports each batch.

On a terminal a progress bar on stderr shows the rows parsed, then the bytes
uploaded. The last line summarises rows, objects, the transaction index and
the elapsed time; -o json|yaml prints the summary as data. Transactions are
labelled with source "import" in the history.

Examples:
  amp import sims.csv -e acme --dry-run
  amp import sims.csv -m "batch 2026-11"
  amp import big.csv --batch 10000`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			if batch < 0 {
				return usagef("--batch must be positive")
			}
			if maxRequest < 4096 {
				return usagef("--max-request must be at least 4096 bytes")
			}
			start := time.Now()
			errw := cmd.ErrOrStderr()
			prog := newProgress(errw)
			rows, err := g.readSimCSV(a[0], prog)
			prog.clear()
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				return fmt.Errorf("%s has no data rows", a[0])
			}
			enc, err := newSimEncoder()
			if err != nil {
				return err
			}
			// Cut the rows into transactions.
			var chunks [][]*simRow
			if batch > 0 {
				for i := 0; i < len(rows); i += batch {
					chunks = append(chunks, rows[i:min(i+batch, len(rows))])
				}
			} else {
				chunks = [][]*simRow{rows}
			}
			var bodies [][]byte
			var bodyRows [][]*simRow
			split := false
			for _, ch := range chunks {
				bs, rs := enc.encodeLimited(ch, maxRequest)
				if len(bs) > 1 {
					split = true
				}
				bodies = append(bodies, bs...)
				bodyRows = append(bodyRows, rs...)
			}
			if split {
				fmt.Fprintf(errw, "note: the import is larger than --max-request (%s): it is split into %d transactions, so it is no longer all or nothing\n", mib(maxRequest), len(bodies))
			}
			ctx, cancel := g.context(cmd, 30*time.Minute)
			defer cancel()
			c := g.client(client.WithSource("import"), client.WithMessage(message))
			sum := importSummary{File: a[0], Rows: len(rows), DryRun: dryRun}
			for _, r := range rows {
				if r.simID != "" {
					sum.SimCards++
				}
				if r.devID != "" {
					sum.Devices++
				}
				if r.group != "" {
					sum.Memberships++
				}
			}
			var total int64
			for _, b := range bodies {
				total += int64(len(b))
			}
			var sent int64
			failed := 0
			for i, body := range bodies {
				base := sent
				var uploaded atomic.Int64
				cr := &countingReader{r: bytes.NewReader(body), fn: func(n int64) {
					uploaded.Store(n)
					prog.update("uploading", base+n, total, mib(base+n)+"/"+mib(total), n == int64(len(body)))
				}}
				stop := make(chan struct{})
				go func() { // while the server works, show that it does
					t := time.NewTicker(500 * time.Millisecond)
					defer t.Stop()
					began := time.Now()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
							if uploaded.Load() == int64(len(body)) {
								prog.update(fmt.Sprintf("uploaded %s; the server is checking and committing", mib(base+int64(len(body)))), 0, 0,
									time.Since(began).Round(time.Second).String(), true)
							} else {
								began = time.Now()
							}
						}
					}
				}()
				res, err := c.PatchTopLevel(ctx, client.Stream{R: cr, Length: int64(len(body))}, dryRun)
				close(stop)
				sent += int64(len(body))
				prog.clear()
				br := bodyRows[i]
				bt := importBatch{FirstLine: br[0].line, LastLine: br[len(br)-1].line, Rows: len(br), Bytes: len(body)}
				if err != nil {
					failed++
					bt.Error = err.Error()
					var ce *client.Error
					if errors.As(err, &ce) {
						bt.Error = ce.Summary()
						bt.Problems = ce.Problems
					}
				} else if dryRun {
					bt.Changes = len(res.Changes)
				} else if res.Unchanged {
					bt.Unchanged = true
				} else {
					bt.Index, bt.ID = res.Index, res.ID
					if info, err := c.TransactionInfo(ctx, res.Index); err == nil {
						bt.ChangedObjects = info.ChangedObjects
					}
				}
				sum.Batches = append(sum.Batches, bt)
				if len(bodies) > 1 && format == "table" {
					reportBatch(cmd.OutOrStdout(), errw, i+1, len(bodies), bt, dryRun)
				}
				if err != nil && batch == 0 && !split {
					// One transaction: report as a plain error.
					return err
				}
				if err != nil && ctx.Err() != nil {
					break
				}
			}
			sum.Elapsed = time.Since(start).Round(time.Millisecond).String()
			out := cmd.OutOrStdout()
			if format != "table" {
				if err := printAs(out, format, sum); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(out, sum.line())
			}
			if failed > 0 {
				fmt.Fprintf(errw, "error: %d of %d transactions failed\n", failed, len(bodies))
				return &cliError{code: 1}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "validate on the server and count the changes without committing")
	f.IntVar(&batch, "batch", 0, "commit every N rows as a separate transaction (default: the whole file in one)")
	f.Int64Var(&maxRequest, "max-request", 48<<20, "largest request body in bytes; a larger import is split into several transactions")
	f.StringVarP(&message, "message", "m", "", "commit message recorded in the history")
	return cmd
}

type importBatch struct {
	FirstLine      int              `json:"first-line"`
	LastLine       int              `json:"last-line"`
	Rows           int              `json:"rows"`
	Bytes          int              `json:"bytes"`
	Index          uint64           `json:"index,omitempty"`
	ID             string           `json:"id,omitempty"`
	ChangedObjects int              `json:"changed-objects"`
	Unchanged      bool             `json:"unchanged,omitempty"` // nothing to change: no transaction recorded
	Changes        int              `json:"changes,omitempty"`
	Error          string           `json:"error,omitempty"`
	Problems       []client.Problem `json:"problems,omitempty"`
}

type importSummary struct {
	File        string        `json:"file"`
	Rows        int           `json:"rows"`
	SimCards    int           `json:"sim-cards"`
	Devices     int           `json:"devices"`
	Memberships int           `json:"device-group-memberships"`
	DryRun      bool          `json:"dry-run,omitempty"`
	Batches     []importBatch `json:"transactions"`
	Elapsed     string        `json:"elapsed"`
}

func (s *importSummary) line() string {
	objs := fmt.Sprintf("%s, %s", plural(s.SimCards, "SIM card", "SIM cards"), plural(s.Devices, "device", "devices"))
	if s.Memberships > 0 {
		objs += ", " + plural(s.Memberships, "group membership", "group memberships")
	}
	changed, idx, ok := 0, []string{}, 0
	for _, b := range s.Batches {
		if b.Error != "" {
			continue
		}
		ok++
		changed += b.ChangedObjects + b.Changes
		if b.Index > 0 {
			idx = append(idx, fmt.Sprint(b.Index))
		}
	}
	prefix := "imported"
	if s.DryRun {
		prefix = "dry run:"
	}
	var what string
	switch {
	case ok == 0:
		what = "nothing committed"
	case s.DryRun && changed == 0:
		what = "no changes"
	case s.DryRun:
		what = fmt.Sprintf("would make %s; nothing was committed", plural(changed, "change", "changes"))
	case changed == 0 && len(idx) == 0:
		what = "no changes, nothing recorded"
	case changed == 0:
		what = fmt.Sprintf("no changes (transaction %s)", strings.Join(idx, ", "))
	default:
		what = fmt.Sprintf("%s changed in %s %s", plural(changed, "object", "objects"), map[bool]string{true: "transaction", false: "transactions"}[len(idx) == 1], strings.Join(idx, ", "))
	}
	return fmt.Sprintf("%s %s: %s (%s): %s in %s", prefix, s.File, plural(s.Rows, "row", "rows"), objs, what, s.Elapsed)
}

func reportBatch(out, errw io.Writer, i, n int, b importBatch, dry bool) {
	where := fmt.Sprintf("transaction %d/%d (lines %d-%d, %d rows)", i, n, b.FirstLine, b.LastLine, b.Rows)
	switch {
	case b.Error != "":
		fmt.Fprintf(errw, "%s: error: %s\n", where, b.Error)
		for _, p := range b.Problems {
			fmt.Fprintf(errw, "  %s: %s\n", p.Path, p.Reason)
		}
	case dry:
		fmt.Fprintf(out, "%s: dry run, %s\n", where, plural(b.Changes, "change", "changes"))
	case b.Unchanged:
		fmt.Fprintf(out, "%s: no changes, nothing recorded\n", where)
	default:
		fmt.Fprintf(out, "%s: committed as %d, %s changed\n", where, b.Index, plural(b.ChangedObjects, "object", "objects"))
	}
}

// simRow is one checked CSV row.
type simRow struct {
	line                                                    int
	ent, site, simID, iccid, imsi, devID, imei, name, group string
}

// rowChecker validates row fields against the embedded model's types.
type rowChecker struct {
	types map[string]*schema.Node // column -> leaf
}

func newRowChecker() (*rowChecker, error) {
	set, err := aetherSet()
	if err != nil {
		return nil, err
	}
	site := set.Root.Child("site")
	sim, dev, dg := site.Child("sim-card"), site.Child("device"), site.Child("device-group")
	if site == nil || sim == nil || dev == nil || dg == nil {
		return nil, fmt.Errorf("the embedded models lack site/sim-card, device or device-group")
	}
	return &rowChecker{types: map[string]*schema.Node{
		"site": site.Child("site-id"), "sim-id": sim.Child("sim-id"), "iccid": sim.Child("iccid"), "imsi": sim.Child("imsi"),
		"device-id": dev.Child("device-id"), "imei": dev.Child("imei"), "display-name": dev.Child("display-name"),
		"device-group": dg.Child("device-group-id"),
	}}, nil
}

func (rc *rowChecker) check(col, v string) error {
	n := rc.types[col]
	if n == nil || v == "" {
		return nil
	}
	if t := leafType(n); t != nil {
		if _, err := t.Parse(v); err != nil {
			return fmt.Errorf("%s %q: %v", col, v, err)
		}
	}
	return nil
}

// readSimCSV parses and checks the whole file; every bad row is reported.
func (g *globalOpts) readSimCSV(name string, prog *progress) ([]*simRow, error) {
	var src io.Reader
	var size int64
	if name == "-" {
		src = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		src = f
	}
	nrows := 0
	cr := &countingReader{r: src}
	cr.fn = func(n int64) { prog.update("parsing", n, size, fmt.Sprintf("%d rows", nrows), false) }
	r := csv.NewReader(cr)
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
		for _, c := range simColumns {
			known = known || c == h
		}
		if !known {
			return nil, fmt.Errorf("%s: line 1: unknown column %q (the columns are %s)", name, h, strings.Join(simColumns, ","))
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("%s: line 1: column %q appears twice", name, h)
		}
		col[h] = i
	}
	if _, ok := col["site"]; !ok {
		return nil, fmt.Errorf("%s: line 1: the header has no site column (columns: %s)", name, strings.Join(simColumns, ","))
	}
	_, hasSim := col["sim-id"]
	_, hasDev := col["device-id"]
	if !hasSim && !hasDev {
		return nil, fmt.Errorf("%s: line 1: the header needs a sim-id or device-id column", name)
	}
	if _, ok := col["enterprise"]; !ok && g.enterprise == "" {
		return nil, fmt.Errorf("%s: line 1: no enterprise column: add one or give -e/--enterprise", name)
	}
	rc, err := newRowChecker()
	if err != nil {
		return nil, err
	}
	var rows []*simRow
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
		nrows++
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		var probs []string
		if len(rec) != len(header) {
			probs = append(probs, fmt.Sprintf("%d columns, the header has %d", len(rec), len(header)))
		}
		get := func(c string) string {
			if i, ok := col[c]; ok && i < len(rec) {
				return csvValue(strings.TrimSpace(rec[i]))
			}
			return ""
		}
		row := &simRow{line: line, ent: get("enterprise"), site: get("site"), simID: get("sim-id"), iccid: get("iccid"), imsi: get("imsi"),
			devID: get("device-id"), imei: get("imei"), name: get("display-name"), group: get("device-group")}
		if row.ent == "" {
			row.ent = g.enterprise
		}
		if row.ent == "" {
			probs = append(probs, "empty enterprise (and no -e)")
		}
		if row.site == "" {
			probs = append(probs, "empty site")
		}
		if row.simID == "" && row.devID == "" {
			probs = append(probs, "empty sim-id and device-id")
		}
		if row.simID == "" && (row.iccid != "" || row.imsi != "") {
			probs = append(probs, "iccid/imsi given without sim-id")
		}
		if row.devID == "" && row.imei != "" {
			probs = append(probs, "imei given without device-id")
		}
		if row.devID == "" && row.group != "" {
			probs = append(probs, "device-group given without device-id")
		}
		for _, c := range []struct{ col, v string }{{"site", row.site}, {"sim-id", row.simID}, {"iccid", row.iccid}, {"imsi", row.imsi},
			{"device-id", row.devID}, {"imei", row.imei}, {"display-name", row.name}, {"device-group", row.group}} {
			if err := rc.check(c.col, c.v); err != nil {
				probs = append(probs, err.Error())
			}
		}
		if row.simID != "" {
			k := row.ent + "\x00" + row.site + "\x00" + row.simID
			if prev, dup := seenSim[k]; dup {
				probs = append(probs, fmt.Sprintf("sim-id %q of site %s is also on line %d", row.simID, row.site, prev))
			} else {
				seenSim[k] = line
			}
		}
		if row.devID != "" {
			k := row.ent + "\x00" + row.site + "\x00" + row.devID
			if prev, dup := seenDev[k]; dup {
				probs = append(probs, fmt.Sprintf("device-id %q of site %s is also on line %d", row.devID, row.site, prev))
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
	prog.update("parsing", size, size, fmt.Sprintf("%d rows", nrows), true)
	if badRows > 0 {
		const show = 50
		msg := fmt.Sprintf("%s: %s; nothing was imported", name, plural(badRows, "bad row", "bad rows"))
		lines := bad
		if len(lines) > show {
			lines = append(lines[:show:show], fmt.Sprintf("… and %d more", len(bad)-show))
		}
		return nil, &rowsError{msg: msg, lines: lines}
	}
	return rows, nil
}

// rowsError lists bad CSV rows; printError shows one line per row.
type rowsError struct {
	msg   string
	lines []string
}

func (e *rowsError) Error() string { return e.msg + "\n  " + strings.Join(e.lines, "\n  ") }

// simEncoder writes PATCH /aether-roc-api bodies for rows, directly as
// JSON text (fast and small for 100,000s of rows).
type simEncoder struct {
	groupUnchanged string // mandatory device-group leaves an import does not send
	version        string
}

func newSimEncoder() (*simEncoder, error) {
	set, err := aetherSet()
	if err != nil {
		return nil, err
	}
	dg := set.Root.Child("site").Child("device-group")
	miss := mandatoryMissing(dg, map[string]any{"device-group-id": "", "device": nil})
	return &simEncoder{groupUnchanged: strings.Join(miss, ","), version: set.Version}, nil
}

// encodeLimited encodes rows as one body, or as several of at most max
// bytes each (cutting between rows).
func (e *simEncoder) encodeLimited(rows []*simRow, max int64) ([][]byte, [][]*simRow) {
	body := e.encode(rows)
	if int64(len(body)) <= max || len(rows) == 1 {
		return [][]byte{body}, [][]*simRow{rows}
	}
	parts := int(int64(len(body))/max) + 1
	per := (len(rows) + parts - 1) / parts
	var bodies [][]byte
	var rs [][]*simRow
	for i := 0; i < len(rows); i += per {
		b, r := e.encodeLimited(rows[i:min(i+per, len(rows))], max)
		bodies = append(bodies, b...)
		rs = append(rs, r...)
	}
	return bodies, rs
}

type siteGroup struct {
	ent, site string
	rows      []*simRow
	groups    []string
	members   map[string][]string
}

func (e *simEncoder) encode(rows []*simRow) []byte {
	// Group by enterprise and site, keeping the order of first appearance.
	var sites []*siteGroup
	idx := map[string]*siteGroup{}
	for _, r := range rows {
		k := r.ent + "\x00" + r.site
		sg := idx[k]
		if sg == nil {
			sg = &siteGroup{ent: r.ent, site: r.site, members: map[string][]string{}}
			idx[k] = sg
			sites = append(sites, sg)
		}
		sg.rows = append(sg.rows, r)
		if r.group != "" {
			if _, ok := sg.members[r.group]; !ok {
				sg.groups = append(sg.groups, r.group)
			}
			sg.members[r.group] = append(sg.members[r.group], r.devID)
		}
	}
	var b bytes.Buffer
	b.Grow(len(rows) * 200)
	b.WriteString(`{"Updates":{`)
	writeStr(&b, elementName("site", e.version))
	b.WriteString(":[")
	for i, sg := range sites {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"site-id":`)
		writeStr(&b, sg.site)
		b.WriteString(`,"additionalProperties":{"enterprise-id":`)
		writeStr(&b, sg.ent)
		b.WriteString(`},"sim-card":[`)
		first := true
		for _, r := range sg.rows {
			if r.simID == "" {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(`{"sim-id":`)
			writeStr(&b, r.simID)
			writeField(&b, "iccid", r.iccid)
			writeField(&b, "imsi", r.imsi)
			if r.devID == "" {
				writeField(&b, "display-name", r.name)
			}
			b.WriteByte('}')
		}
		b.WriteString(`],"device":[`)
		first = true
		for _, r := range sg.rows {
			if r.devID == "" {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(`{"device-id":`)
			writeStr(&b, r.devID)
			writeField(&b, "imei", r.imei)
			writeField(&b, "sim-card", r.simID)
			writeField(&b, "display-name", r.name)
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
				if e.groupUnchanged != "" {
					b.WriteString(`,"additionalProperties":{"unchanged":`)
					writeStr(&b, e.groupUnchanged)
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
