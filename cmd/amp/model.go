package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

// newModelCmd is "amp model": actions on the server's model sets.
func newModelCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Act on the server's model sets (migrate a set between versions)",
	}
	cmd.AddCommand(newModelMigrateCmd(g))
	return cmd
}

func newModelMigrateCmd(g *globalOpts) *cobra.Command {
	var dryRun bool
	var message string
	cmd := &cobra.Command{
		Use:   "migrate SET FROM TO",
		Short: "Move every object of a model set's version FROM into version TO, as one transaction",
		Long: `Convert every object of version FROM of model set SET into version TO (both
loaded on the server) and move it there, as ONE transaction: all objects or
none. The conversion is the one TO's descriptor declares (migrate-from) or
Go code registers (docs/models.md, "Migrations"). A conversion that fails,
or a reference the move would leave dangling, migrates nothing and is
printed with the object and the reason; the exit status is 1. Operators only.

--dry-run prints the changes (every FROM object deleted, every TO object
created) without committing. Afterwards the FROM version holds no objects;
'amp rollback N' of the migration's transaction restores them (refused,
naming them, while objects of other sets refer to the moved ones).

Examples:
  amp model migrate lab 1.0.0 1.1.0 --dry-run
  amp model migrate lab 1.0.0 1.1.0 -m "lab inventory 1.1"`,
		Args: args(cobra.ExactArgs(3)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			set, from, to := a[0], a[1], a[2]
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			// The server answers once the one transaction is committed:
			// show that it is working, and for how long.
			prog := newProgress(cmd.ErrOrStderr())
			label := fmt.Sprintf("migrating %s %s to %s", set, from, to)
			stop := make(chan struct{})
			done := make(chan struct{})
			start := time.Now()
			go func() {
				defer close(done)
				t := time.NewTicker(200 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						prog.update(label, 0, 0, time.Since(start).Truncate(time.Second).String(), false)
					}
				}
			}()
			res, err := g.client(client.WithMessage(message)).MigrateModelSet(ctx, set, from, to, dryRun)
			close(stop)
			<-done
			prog.clear()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				return printAs(out, format, res)
			}
			if res.DryRun {
				printChanges(out, res.Changes)
				fmt.Fprintf(out, "dry run: migrating %s %s to %s would make %s; nothing was committed\n", set, from, to, changeCounts(res.Changes))
				return nil
			}
			fmt.Fprintf(out, "migrated %s %s to %s as transaction %d (%s); 'amp history' shows it, 'amp rollback %d' undoes it\n", set, from, to, res.Index, res.ID, res.Index)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the changes without committing them")
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message (default: \"migrate SET FROM to TO\")")
	return cmd
}
