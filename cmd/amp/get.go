package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

func newGetCmd(g *globalOpts) *cobra.Command {
	var (
		at       uint64
		limit    int
		filters  []string
		all      bool
		cont     string
		defaults bool
	)
	cmd := &cobra.Command{
		Use:   "get PATH",
		Short: "Read configuration: a list, an object or a leaf",
		Long: `Read configuration at PATH: a list (e.g. site/acme-chicago/device), an
object (site/acme-chicago/device/camera-1), a container (…/device-group/cameras/mbr)
or a leaf (…/upf/upf-1/port).

PATH is a full REST path (` + siteExample + `, /lab/v1.0.0/rack) or a
short one. A short path starts with a model set's CLI name (wl/deployment)
or with a top-level node only one set has (site/acme-chicago); it is
relative to the set's root: for a per-enterprise (tenant) set, the root of
the enterprise given with -e/--enterprise (env AMP_ENTERPRISE); for a
global set, the operator's. The server lists its sets at GET /models.

Output (-o): a list prints as a table by default (the key columns, the
display name and a few other fields; nested lists as their entry count), an
object or container as YAML, a leaf as its plain value; -o json and -o yaml
print the data as the API returns it; -o table flattens an object to
FIELD VALUE lines.

A list is read one page at a time when --limit is given; --all follows
the server's continue tokens and prints every entry.

Examples:
  amp get -e acme site
  amp get -e acme site/acme-chicago/device --filter sim-card=sim-1
  amp get ` + siteExample + `/acme-chicago/upf/upf-1/port
  amp get -e acme site/acme-chicago/sim-card --all --limit 500 -o json
  amp get -e acme site/acme-chicago/device/camera-1 --at 2   # as of transaction 2`,
		Args: args(cobra.ExactArgs(1)),
		ValidArgsFunction: func(cmd *cobra.Command, a []string, tc string) ([]string, cobra.ShellCompDirective) {
			return g.completePath(cmd, tc)
		},
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			path, err := g.restPath(ctx, a[0])
			if err != nil {
				return err
			}
			q := url.Values{}
			if cmd.Flags().Changed("at") {
				q.Set("at", strconv.FormatUint(at, 10))
			}
			for _, f := range filters {
				q.Add("filter", f)
			}
			if defaults {
				q.Set("with-defaults", "report-all")
			}
			if limit < 0 {
				return usagef("--limit must be positive")
			}
			c := g.client()
			out := cmd.OutOrStdout()
			var data any
			next := ""
			if all {
				if cont != "" {
					q.Set("continue", cont)
				}
				items, err := c.GetAll(ctx, path, q, limit)
				if err != nil {
					return err
				}
				list := make([]any, 0, len(items))
				for _, it := range items {
					v, err := decode(it)
					if err != nil {
						return err
					}
					list = append(list, v)
				}
				data = list
			} else {
				if limit > 0 {
					q.Set("limit", strconv.Itoa(limit))
				}
				if cont != "" {
					q.Set("continue", cont)
				}
				raw, h, err := c.Get(ctx, path, q)
				if err != nil {
					return err
				}
				next = h.Get("X-AMP-Continue")
				if data, err = decode(raw); err != nil {
					return fmt.Errorf("decode the answer: %w", err)
				}
			}
			var keys []string
			if n := g.catalog(ctx).listNode(path); n != nil {
				keys = n.Keys
			}
			if err := printData(out, format, keys, data); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more entries: use --all, or --continue %s for the next page\n", next)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.Uint64Var(&at, "at", 0, "read the state as of transaction index N (point in time)")
	f.IntVar(&limit, "limit", 0, "page size: at most N list entries (with --all: per request)")
	f.StringArrayVar(&filters, "filter", nil, "only list entries whose leaf has this value: leaf=value or a/b=value (repeatable, all must match)")
	f.BoolVar(&all, "all", false, "follow continue tokens and print every entry of the list")
	f.StringVar(&cont, "continue", "", "continue token of the previous page (printed on stderr)")
	f.BoolVar(&defaults, "with-defaults", false, "include default values (with-defaults=report-all)")
	return cmd
}

// printData prints what a GET answered in the chosen format; keys are the
// key columns of a list.
func printData(w io.Writer, format string, keys []string, data any) error {
	switch format {
	case "json":
		return printJSON(w, data)
	case "yaml":
		return printYAML(w, data)
	}
	switch x := data.(type) {
	case []any:
		if format == "" || format == "table" {
			if len(x) == 0 {
				fmt.Fprintln(w, "(no entries)")
				return nil
			}
			if allScalar(x) {
				for _, it := range x {
					fmt.Fprintln(w, termSafe(scalarText(it)))
				}
				return nil
			}
			return objectTable(x, keys, 8).print(w)
		}
	case map[string]any:
		if format == "table" {
			var pairs [][2]string
			flatten("", x, &pairs)
			t := &table{header: []string{"FIELD", "VALUE"}}
			for _, p := range pairs {
				t.rows = append(t.rows, []string{p[0], p[1]})
			}
			return t.print(w)
		}
		return printYAML(w, x)
	default:
		_, err := fmt.Fprintln(w, termSafe(scalarText(x)))
		return err
	}
	return printYAML(w, data)
}

func allScalar(items []any) bool {
	for _, it := range items {
		if !isScalar(it) {
			return false
		}
	}
	return true
}

// reportWrite prints the outcome of a write: its changes as a diff (the
// default, -o table) or the result as JSON/YAML. A committed write's
// changes are read back from the history.
func (g *globalOpts) reportWrite(cmd *cobra.Command, c *client.Client, res *client.WriteResult) error {
	format, err := g.outputFormat("table", "json", "yaml", "table")
	if err != nil {
		return err
	}
	if !res.DryRun && !res.Unchanged && res.Index > 0 {
		ctx, cancel := g.context(cmd, 0)
		defer cancel()
		if tx, err := c.Transaction(ctx, res.Index); err == nil {
			res.Changes = tx.Changes
		} else {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: committed as transaction %d, but reading its changes failed: %v\n", res.Index, err)
		}
	}
	if res.Changes == nil {
		res.Changes = []client.Change{}
	}
	out := cmd.OutOrStdout()
	if format != "table" {
		return printAs(out, format, res)
	}
	printChanges(out, res.Changes)
	switch {
	case res.DryRun && len(res.Changes) == 0:
		fmt.Fprintln(out, "dry run: no changes")
	case res.DryRun:
		fmt.Fprintf(out, "dry run: %s; nothing was committed\n", changeCounts(res.Changes))
	case res.Unchanged:
		fmt.Fprintf(out, "no changes: nothing recorded (transaction %d is current)\n", res.Index)
	case len(res.Changes) == 0:
		fmt.Fprintf(out, "no changes (transaction %d)\n", res.Index)
	default:
		fmt.Fprintf(out, "committed transaction %d (%s): %s\n", res.Index, res.ID, changeCounts(res.Changes))
	}
	return nil
}
