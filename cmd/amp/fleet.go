package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// newFleetCmd is "amp fleet": lifecycle management, the fleet model set
// (docs/lifecycle.md).
func newFleetCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet secret|approve|rollback|status|diff",
		Short: "Lifecycle management: repos' secrets, rollouts' approvals and rollbacks, deployments' status",
		Long: `The fleet model set declares the config repos AMP reads with git, the
bundles of Helm charts they hold, the groups of clusters and the rollouts;
declare them with amp set or amp apply, read them with amp get
(fleet/git-repo, fleet/bundle, …). A repo names its webhook secret and
its credentials by id; "amp fleet secret" sets them.

Examples:
  amp set fleet:/git-repo/edge-apps/url https://git.example.com/ops/edge-apps.git
  amp set fleet:/git-repo/edge-apps/webhook-secret edge-apps-hook
  openssl rand -hex 32 | tee hook.txt | amp fleet secret set edge-apps-hook
  amp get fleet/git-repo/edge-apps     # status: the revision last fetched, or the error
  amp fleet status                     # which bundle version runs where
  amp fleet approve upf-2              # let a rollout's next partition start
  amp fleet rollback upf-2             # put its clusters back`,
		Args: args(cobra.NoArgs),
		RunE: runE(needSubcommand),
	}
	cmd.AddCommand(newFleetSecretCmd(g))
	cmd.AddCommand(newFleetRolloutCmds(g)...)
	return cmd
}

func newFleetSecretCmd(g *globalOpts) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "secret set ID [--from-file FILE] | secret delete ID",
		Short: "Set or delete a secret that git-repo entries name by id (never shown back)",
		Args:  args(cobra.NoArgs),
		RunE:  runE(needSubcommand),
	}
	set := &cobra.Command{
		Use:   "set ID [--from-file FILE]",
		Short: "Set a webhook secret or credentials, read from stdin or a file",
		Long: `Set the secret ID: a repo's webhook secret (what the git server signs its
push webhooks with; give the server the same value) or its credentials
("user:password", or a token alone, sent as the password of user git).
The secret is read from stdin (its first line) or from --from-file, never
from the command line, so it stays out of shell history and process
lists. The server keeps it in its store's metadata and never shows it
back; setting is an operator's and is audited (without the secret).

Examples:
  openssl rand -hex 32 | tee hook.txt | amp fleet secret set edge-apps-hook
  amp fleet secret set edge-apps-token --from-file token.txt`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			secret, err := readSecret(cmd, file)
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			if err := g.client().PutFleetSecret(ctx, a[0], secret); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s set\n", a[0])
			return nil
		}),
	}
	set.Flags().StringVar(&file, "from-file", "", "read the secret from this file (its first line) instead of stdin")
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a secret: the repos naming it can no longer be verified or fetched with it",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			if err := g.client().DeleteFleetSecret(ctx, a[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s deleted\n", a[0])
			return nil
		}),
	}
	cmd.AddCommand(set, del)
	return cmd
}

// readSecret reads a secret from the first line of stdin or of file,
// never from the command line (shell history, process lists).
func readSecret(cmd *cobra.Command, file string) (string, error) {
	var in io.Reader = cmd.InOrStdin()
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		in = f
	}
	b, err := io.ReadAll(io.LimitReader(in, 8192))
	if err != nil {
		return "", err
	}
	secret, _, _ := strings.Cut(string(b), "\n")
	if secret = strings.TrimRight(secret, "\r"); secret == "" {
		return "", usagef("no secret: give it on stdin or with --from-file")
	}
	return secret, nil
}
