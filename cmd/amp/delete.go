package main

import (
	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

func newDeleteCmd(g *globalOpts) *cobra.Command {
	var dryRun bool
	var message string
	cmd := &cobra.Command{
		Use:   "delete PATH",
		Short: "Delete an object, a container or a leaf",
		Long: `Delete what PATH names (full or short path, relative to -e): a list entry
with everything below it, a container, or a leaf. Deleting something that
does not exist is an error (404).

Prints the changes as a diff; -o json|yaml prints the result; --dry-run
shows what would be deleted without committing.

Examples:
  amp delete -e acme site/acme-chicago/device/camera-1
  amp delete -e acme site/acme-chicago/upf/upf-1/config-endpoint --dry-run`,
		Args: args(cobra.ExactArgs(1)),
		ValidArgsFunction: func(cmd *cobra.Command, a []string, tc string) ([]string, cobra.ShellCompDirective) {
			return g.completePath(cmd, tc)
		},
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			if _, err := g.outputFormat("table", "json", "yaml", "table"); err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			path, err := g.restPath(ctx, a[0])
			if err != nil {
				return err
			}
			c := g.client(client.WithMessage(message))
			res, err := c.Delete(ctx, path, dryRun)
			if err != nil {
				return err
			}
			return g.reportWrite(cmd, c, res)
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be deleted without committing")
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message recorded in the history")
	return cmd
}
