package main

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

func newRollbackCmd(g *globalOpts) *cobra.Command {
	var dryRun bool
	var message string
	cmd := &cobra.Command{
		Use:   "rollback N",
		Short: "Undo transaction N with a new transaction",
		Long: `Undo transaction N: a new transaction restores what N changed. If a later
transaction changed the same data the rollback is refused (409) and each
conflicting path is printed with its reason; the exit status is 1.

Prints the rollback's changes as a diff; --dry-run shows them without
committing; -o json|yaml prints the result.

Examples:
  amp rollback 7 --dry-run
  amp rollback 7 -m "undo the bad import"`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			n, err := parseIndex(a[0])
			if err != nil {
				return err
			}
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			res, err := g.client(client.WithMessage(message)).Rollback(ctx, n, dryRun)
			if err != nil {
				var ce *client.Error
				if errors.As(err, &ce) && ce.Status == http.StatusConflict {
					w := cmd.ErrOrStderr()
					fmt.Fprintf(w, "error: cannot roll back transaction %d: later transactions changed the same data\n", n)
					for _, p := range ce.Problems {
						fmt.Fprintf(w, "  %s: %s\n", p.Path, p.Reason)
					}
					if len(ce.Problems) == 0 {
						fmt.Fprintf(w, "  %s\n", ce.Error())
					}
					return &cliError{code: 1}
				}
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				return printAs(out, format, res)
			}
			printChanges(out, res.Changes)
			if res.DryRun {
				fmt.Fprintf(out, "dry run: rolling back transaction %d would make %s; nothing was committed\n", n, changeCounts(res.Changes))
			} else {
				fmt.Fprintf(out, "rolled back transaction %d as transaction %d (%s): %s\n", n, res.Index, res.ID, changeCounts(res.Changes))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the changes without committing them")
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message (default: \"rollback of transaction N\")")
	return cmd
}
