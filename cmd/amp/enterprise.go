package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

func newEnterpriseCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "enterprise list|create|delete",
		Aliases: []string{"enterprises", "ent"},
		Short:   "List, create and delete enterprises",
		Long: `Manage enterprises, the configuration targets every model path is under
(` + tenantPathsExample + `). Creating and deleting need an admin token.

Examples:
  amp enterprise list
  amp enterprise create contoso --display-name "Contoso Ltd"
  amp enterprise delete contoso --dry-run`,
		Args: args(cobra.NoArgs),
		RunE: runE(needSubcommand),
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List enterprises (table: ID DISPLAY-NAME DESCRIPTION; -o json|yaml)",
		Args:  args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			ents, err := g.client().Enterprises(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				if ents == nil {
					ents = []client.Enterprise{}
				}
				return printAs(out, format, ents)
			}
			t := &table{header: []string{"ID", "DISPLAY-NAME", "DESCRIPTION"}}
			for _, e := range ents {
				t.rows = append(t.rows, []string{e.ID, e.DisplayName, truncate(e.Description, 60)})
			}
			return t.print(out)
		}),
	}
	var displayName, description string
	var dryRun bool
	create := &cobra.Command{
		Use:   "create ID",
		Short: "Create an enterprise",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			res, err := g.client().CreateEnterprise(ctx, client.Enterprise{ID: a[0], DisplayName: displayName, Description: description}, dryRun)
			if err != nil {
				return err
			}
			return reportSimple(cmd, g, res, fmt.Sprintf("created enterprise %s", a[0]))
		}),
	}
	create.Flags().StringVar(&displayName, "display-name", "", "display name (1..80 characters)")
	create.Flags().StringVar(&description, "description", "", "description (1..1024 characters)")
	create.Flags().BoolVar(&dryRun, "dry-run", false, "validate without committing")
	var delDry bool
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an enterprise and ALL its configuration",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			res, err := g.client().DeleteEnterprise(ctx, a[0], delDry)
			if err != nil {
				return err
			}
			return reportSimple(cmd, g, res, fmt.Sprintf("deleted enterprise %s", a[0]))
		}),
	}
	del.Flags().BoolVar(&delDry, "dry-run", false, "show what would be deleted without committing")
	cmd.AddCommand(list, create, del)
	return cmd
}

// reportSimple reports an enterprise write: one line, or the changes of a
// dry run.
func reportSimple(cmd *cobra.Command, g *globalOpts, res *client.WriteResult, what string) error {
	format, err := g.outputFormat("table", "json", "yaml", "table")
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if format != "table" {
		return printAs(out, format, res)
	}
	if res.DryRun {
		printChanges(out, res.Changes)
		fmt.Fprintf(out, "dry run: %s; nothing was committed\n", changeCounts(res.Changes))
		return nil
	}
	fmt.Fprintf(out, "%s (transaction %d)\n", what, res.Index)
	return nil
}
