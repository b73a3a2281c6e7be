package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

func newHistoryCmd(g *globalOpts) *cobra.Command {
	var limit int
	var before uint64
	cmd := &cobra.Command{
		Use:   "history [show N]",
		Short: "List the transaction history, or show one transaction's changes",
		Long: `List committed transactions, newest first, as a table:

  INDEX TIME USER SOURCE TARGETS CHANGES MESSAGE

(CHANGES is the number of objects changed; SOURCE is api, cli, import or
rollback). -e/--enterprise lists only transactions touching that
enterprise; --before N pages back in time. -o json|yaml prints the list.

"amp history show N" prints transaction N with its changes as a diff
(+ created, ~ updated, - deleted); -o json|yaml prints it as data.

Examples:
  amp history --limit 10
  amp history -e acme
  amp history show 7 -o yaml`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			list, err := g.client().Transactions(ctx, limit, before, g.enterprise)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				if list == nil {
					list = []client.TxnInfo{}
				}
				return printAs(out, format, list)
			}
			t := &table{header: []string{"INDEX", "TIME", "USER", "SOURCE", "TARGETS", "CHANGES", "MESSAGE"}}
			for _, tx := range list {
				src := tx.Source
				if tx.RollbackOf > 0 {
					src += fmt.Sprintf(" (of %d)", tx.RollbackOf)
				}
				t.rows = append(t.rows, []string{strconv.FormatUint(tx.Index, 10), tx.Time.Local().Format("2006-01-02 15:04:05"),
					tx.Username, src, strings.Join(tx.Targets, ","), strconv.Itoa(tx.ChangedObjects), truncate(tx.Message, 60)})
			}
			return t.print(out)
		}),
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "list at most N transactions (server maximum 10000)")
	cmd.Flags().Uint64Var(&before, "before", 0, "list only transactions older than index N")
	show := &cobra.Command{
		Use:   "show N",
		Short: "Show transaction N and its changes",
		Args:  args(cobra.ExactArgs(1)),
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
			tx, err := g.client().Transaction(ctx, n)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				if tx.Changes == nil {
					tx.Changes = []client.Change{}
				}
				return printAs(out, format, tx)
			}
			fmt.Fprintf(out, "transaction %d  %s\n", tx.Index, tx.ID)
			fmt.Fprintf(out, "time:     %s\n", tx.Time.Local().Format(time.RFC3339))
			fmt.Fprintf(out, "user:     %s\nsource:   %s\n", termSafe(tx.Username), termSafe(tx.Source))
			if tx.RollbackOf > 0 {
				fmt.Fprintf(out, "rollback of: %d\n", tx.RollbackOf)
			}
			if tx.Message != "" {
				fmt.Fprintf(out, "message:  %s\n", termSafe(tx.Message))
			}
			fmt.Fprintf(out, "targets:  %s\n", termSafe(strings.Join(tx.Targets, ", ")))
			fmt.Fprintf(out, "changes:  %s\n\n", changeCounts(tx.Changes))
			printChanges(out, tx.Changes)
			return nil
		}),
	}
	cmd.AddCommand(show)
	return cmd
}

func parseIndex(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, usagef("%q is not a transaction index (a positive integer)", s)
	}
	return n, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
