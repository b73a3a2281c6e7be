package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ce *cliError
		if errors.As(err, &ce) {
			return ce.code
		}
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		if isUsage(err) {
			fmt.Fprintln(os.Stderr, "Run 'amp --help' for usage.")
			return 2
		}
		return 1
	}
	return 0
}

// cliError carries an exit code; its message was printed already.
type cliError struct{ code int }

func (e *cliError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "amp",
		Short: "AMP: control and management for edge clouds (" + platformName + ")",
		Long: `AMP runs the control and management platform for a fleet of edge sites
(amp serve) and drives it from the command line.

Start it on a laptop with the demo data set:
  amp serve --demo
then, in another shell, use the token it prints:
  export AMP_TOKEN=$(cat ~/.local/share/amp/admin.token)
  amp get ` + siteExample,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newServeCmd(), newAgentCmd(), newPolicyCmd(), newRestoreCmd(), newMigrateStoreCmd(), newRepairWALCmd())
	addClientCommands(root)
	root.AddCommand(newVerifyCmd())
	return root
}
