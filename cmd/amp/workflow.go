package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newWorkflowCmd is "amp workflow": the durable workflows that rollouts run
// on (docs/lifecycle.md, Workflows).
func newWorkflowCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workflow list|show|cancel",
		Short: "Durable workflows (rollouts' runs): list, show one, cancel",
		Long: `AMP runs long operations, such as a rollout, as durable workflows: a run
goes one step at a time, kept in the store after each, so it survives a
crash (it resumes at the step it was on), failed steps are retried with
backoff, and a run can be cancelled. Operators only.

Examples:
  amp workflow list                     # every run, newest first
  amp workflow list --kind fleet-rollout
  amp workflow show rollout-upf-2-41    # its steps and what it waits on
  amp workflow cancel rollout-upf-2-41  # stops before its next step`,
		Args: args(cobra.NoArgs),
		RunE: runE(needSubcommand),
	}
	var kind string
	list := &cobra.Command{
		Use:   "list [--kind KIND]",
		Short: "List the workflow runs, newest first (table; -o json|yaml)",
		Args:  args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			format, err := g.outputFormat("text", "json", "yaml", "text")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			runs, err := g.client().Workflows(ctx, kind)
			if err != nil {
				return err
			}
			if format != "text" {
				return printAs(cmd.OutOrStdout(), format, runs)
			}
			t := &table{header: []string{"ID", "KIND", "STATE", "STEP", "WAITING-ON / REASON", "UPDATED"}}
			for _, r := range runs {
				t.rows = append(t.rows, []string{r.ID, r.Kind, r.State, orDash(r.Step), orDash(termSafe(firstOf(r.Waiting, r.Reason))), r.Updated.Format(time.RFC3339)})
			}
			return t.print(cmd.OutOrStdout())
		}),
	}
	list.Flags().StringVar(&kind, "kind", "", "only runs of this kind (fleet-rollout)")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a run: its state, the step it is on, what it waits on, its history (-o json|yaml)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("text", "json", "yaml", "text")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			r, err := g.client().Workflow(ctx, a[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "text" {
				return printAs(out, format, r)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "workflow %s (%s) of %s\nstate: %s\n", r.ID, r.Kind, orDash(r.Subject), r.State)
			if r.Step != "" {
				fmt.Fprintf(&b, "step: %s\n", r.Step)
			}
			if r.Waiting != "" {
				fmt.Fprintf(&b, "waiting on: %s\n", r.Waiting)
			}
			if r.Attempts > 0 {
				fmt.Fprintf(&b, "failed attempts: %d, next at %s\n", r.Attempts, r.NextAt.Format(time.RFC3339))
			}
			if r.Reason != "" {
				fmt.Fprintf(&b, "reason: %s\n", r.Reason)
			}
			fmt.Fprintf(&b, "created %s, updated %s\nhistory:\n", r.Created.Format(time.RFC3339), r.Updated.Format(time.RFC3339))
			for _, e := range r.History {
				fmt.Fprintf(&b, "  %s  %-12s %-9s %s\n", e.At.Format(time.RFC3339), e.Step, e.Outcome, e.Note)
			}
			for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
				fmt.Fprintln(out, termSafe(line))
			}
			return nil
		}),
	}
	cancelCmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a run: it stops before its next step (audited); a rollout leaves its clusters as they are",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			if err := g.client().CancelWorkflow(ctx, a[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "workflow %s: cancel requested\n", a[0])
			return nil
		}),
	}
	cmd.AddCommand(list, show, cancelCmd)
	return cmd
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
