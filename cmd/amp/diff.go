package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDiffCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff A [B]",
		Short: "Show what changed between two points of the history",
		Long: `Show the changes from the state after transaction A to the state after
transaction B (default: the current state), as a diff (+ created,
~ updated, - deleted); -o json|yaml prints {from, to, changes}.

Examples:
  amp diff 3 7
  amp diff 3          # from transaction 3 to now`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			from, err := parseIndexZero(a[0])
			if err != nil {
				return err
			}
			var to uint64
			if len(a) == 2 {
				if to, err = parseIndex(a[1]); err != nil {
					return err
				}
			}
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			d, err := g.client().Diff(ctx, from, to)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				return printAs(out, format, d)
			}
			printChanges(out, d.Changes)
			fmt.Fprintf(out, "from %d to %d: %s\n", d.From, d.To, changeCounts(d.Changes))
			return nil
		}),
	}
	return cmd
}

// parseIndexZero accepts 0 (the empty state before any transaction).
func parseIndexZero(s string) (uint64, error) {
	if s == "0" {
		return 0, nil
	}
	return parseIndex(s)
}
