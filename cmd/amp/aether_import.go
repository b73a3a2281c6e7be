package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
	"github.com/amp-edge/amp/internal/aether/simcsv"
)

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
			var chunks [][]*simcsv.Row
			if batch > 0 {
				for i := 0; i < len(rows); i += batch {
					chunks = append(chunks, rows[i:min(i+batch, len(rows))])
				}
			} else {
				chunks = [][]*simcsv.Row{rows}
			}
			var bodies [][]byte
			var bodyRows [][]*simcsv.Row
			split := false
			for _, ch := range chunks {
				bs, rs := enc.EncodeLimited(ch, maxRequest)
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
				if r.SimID != "" {
					sum.SimCards++
				}
				if r.DeviceID != "" {
					sum.Devices++
				}
				if r.Group != "" {
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
				bt := importBatch{FirstLine: br[0].Line, LastLine: br[len(br)-1].Line, Rows: len(br), Bytes: len(body)}
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

// readSimCSV parses and checks the whole file (internal/aether/simcsv);
// every bad row is reported.
func (g *globalOpts) readSimCSV(name string, prog *progress) ([]*simcsv.Row, error) {
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
	set, err := aetherSet()
	if err != nil {
		return nil, err
	}
	rd, err := simcsv.NewReader(set)
	if err != nil {
		return nil, err
	}
	rd.Enterprise, rd.Unquote = g.enterprise, csvValue
	cr := &countingReader{r: src}
	cr.fn = func(n int64) { prog.update("parsing", n, size, fmt.Sprintf("%d rows", rd.Rows), false) }
	rows, err := rd.Read(cr, name)
	var bad *simcsv.RowsError
	if err == nil || errors.As(err, &bad) {
		prog.update("parsing", size, size, fmt.Sprintf("%d rows", rd.Rows), true)
	}
	return rows, err
}

// newSimEncoder returns the encoder of the import's bodies for the
// embedded Aether set.
func newSimEncoder() (*simcsv.Encoder, error) {
	set, err := aetherSet()
	if err != nil {
		return nil, err
	}
	dg := set.Root.Child("site").Child("device-group")
	miss := mandatoryMissing(dg, map[string]any{"device-group-id": "", "device": nil})
	return &simcsv.Encoder{Element: elementName("site", set.Version), GroupUnchanged: strings.Join(miss, ",")}, nil
}
