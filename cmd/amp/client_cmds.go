package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

// globalOpts are the persistent flags of the client verbs.
type globalOpts struct {
	server     string
	token      string
	output     string
	enterprise string
	timeout    time.Duration
	timeoutSet bool
	// TLS: the CA to trust and a client certificate (mutual TLS).
	ca, clientCert, clientKey string
	// The server's model sets, asked for once per invocation.
	catalogOnce sync.Once
	catalogVal  *catalog
}

// addClientCommands registers the client verbs.
func addClientCommands(root *cobra.Command) {
	g := &globalOpts{}
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", envOr("AMP_SERVER", client.DefaultServer), "AMP server URL, https (env AMP_SERVER)")
	pf.StringVar(&g.token, "token", os.Getenv("AMP_TOKEN"), "API token (env AMP_TOKEN; default: the admin token in the local data dir, <data-dir>/admin.token, when readable)")
	pf.StringVar(&g.ca, "ca", os.Getenv("AMP_CA"), "PEM file of the CA that signed the server's certificate, trusted besides the system's (env AMP_CA; default: the local CA of amp serve on this machine, <data-dir>/tls/ca.crt, when readable)")
	pf.StringVar(&g.clientCert, "client-cert", os.Getenv("AMP_CLIENT_CERT"), "PEM client certificate for a server that requires mutual TLS (env AMP_CLIENT_CERT; with --client-key)")
	pf.StringVar(&g.clientKey, "client-key", os.Getenv("AMP_CLIENT_KEY"), "PEM private key of --client-cert (env AMP_CLIENT_KEY)")
	pf.StringVarP(&g.output, "output", "o", "", "output format: json, yaml or table (export: csv, json or yaml); default depends on the verb, see its help")
	pf.StringVarP(&g.enterprise, "enterprise", "e", os.Getenv("AMP_ENTERPRISE"), "enterprise short paths are relative to (env AMP_ENTERPRISE)")
	pf.DurationVar(&g.timeout, "timeout", 2*time.Minute, "time limit of the whole command (import: 30m unless set)")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		g.timeoutSet = cmd.Flags().Changed("timeout")
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newGetCmd(g),
		newSetCmd(g),
		newDeleteCmd(g),
		newApplyCmd(g),
		newHistoryCmd(g),
		newDiffCmd(g),
		newRollbackCmd(g),
		newImportCmd(g),
		newExportCmd(g),
		newEnterpriseCmd(g),
		newAuditCmd(g),
		newTokenCmd(g),
		newBackupCmd(g),
		newModelCmd(g),
		newProvisionCmd(g),
		newClusterCmd(g),
		newFleetCmd(g),
		newSealCmd(g),
		newWorkflowCmd(g),
		newMonitorCmd(g),
		newLogLevelCmd(g),
		newLogsCmd(g),
		newLoginCmd(),
	)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// isUsage reports whether an error from cobra is a usage mistake.
func isUsage(err error) bool {
	var ue usageError
	if errors.As(err, &ue) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "required flag", "invalid argument", "accepts ", "requires at least", "flag needs an argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// args wraps a cobra.PositionalArgs so its errors are usage errors.
func args(pa cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := pa(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// runE adapts a verb: it prints the error as "error: …" with one line per
// problem and turns it into an exit status (2 for usage errors, 1 else).
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, a []string) error {
		err := fn(cmd, a)
		if err == nil {
			return nil
		}
		var ce *cliError
		if errors.As(err, &ce) {
			return err
		}
		printError(cmd.ErrOrStderr(), err)
		if isUsage(err) {
			fmt.Fprintf(cmd.ErrOrStderr(), "Run '%s --help' for usage.\n", cmd.CommandPath())
			return &cliError{code: 2}
		}
		return &cliError{code: 1}
	}
}

// printError prints err and, for a server error, each problem it lists.
func printError(w io.Writer, err error) {
	var ce *client.Error
	if errors.As(err, &ce) {
		fmt.Fprintf(w, "error: %s\n", termSafe(ce.Summary()))
		for _, p := range ce.Problems {
			fmt.Fprintf(w, "  %s: %s\n", termSafe(p.Path), termSafe(p.Reason))
		}
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(w, "error: %v (raise --timeout)\n", err)
		return
	}
	fmt.Fprintf(w, "error: %v\n", err)
}

// tokenFromDataDir reads the admin token `amp serve` wrote on this machine.
func tokenFromDataDir() string {
	b, err := os.ReadFile(filepath.Join(defaultDataDir(), "admin.token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// caFromDataDir is the local CA `amp serve` created on this machine, when
// readable.
func caFromDataDir() string {
	p := filepath.Join(defaultDataDir(), "tls", "ca.crt")
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	f.Close()
	return p
}

// tlsOptions are the client options of --ca, --client-cert, --client-key.
func (g *globalOpts) tlsOptions() []client.Option {
	ca := g.ca
	if ca == "" {
		ca = caFromDataDir()
	}
	var o []client.Option
	if ca != "" {
		o = append(o, client.WithCA(ca))
	}
	if g.clientCert != "" || g.clientKey != "" {
		o = append(o, client.WithClientCert(g.clientCert, g.clientKey))
	}
	return o
}

func (g *globalOpts) client(opts ...client.Option) *client.Client {
	tok := g.token
	if tok == "" {
		if tok = tokenFromLogin(); tok == "" {
			tok = tokenFromDataDir()
		}
	}
	base := append([]client.Option{client.WithVersion(version)}, g.tlsOptions()...)
	return client.New(g.server, tok, append(base, opts...)...)
}

// context bounds a command by --timeout (def when the flag is not given).
func (g *globalOpts) context(cmd *cobra.Command, def time.Duration) (context.Context, context.CancelFunc) {
	t := g.timeout
	if !g.timeoutSet && def > 0 {
		t = def
	}
	if t <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), t)
}

// outputFormat checks -o against the formats a verb supports and returns
// the one to use (def when -o is not given).
func (g *globalOpts) outputFormat(def string, allowed ...string) (string, error) {
	if g.output == "" {
		return def, nil
	}
	for _, a := range allowed {
		if g.output == a {
			return a, nil
		}
	}
	return "", usagef("-o %s is not supported here; use one of %s", g.output, strings.Join(allowed, ", "))
}

// needSubcommand is the verb of a command that only groups others: run
// alone, it names them (from the tree, so the list cannot go stale).
func needSubcommand(cmd *cobra.Command, _ []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	switch len(names) {
	case 0:
		return usagef("give a subcommand")
	case 1:
		return usagef("give a subcommand: %s", names[0])
	}
	return usagef("give a subcommand: %s or %s", strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}
