package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
	"github.com/amp-edge/amp/internal/edge/wire"
)

// newClusterCmd is "amp cluster": Kubernetes clusters declared in the
// inventory (docs/provisioning.md, "Clusters declared as code").
func newClusterCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster plan|token|tokens|register|revoke",
		Short: "Plan declared Kubernetes clusters and mint their agents' registration tokens",
		Long: `A cluster is declared in the inventory (model set "inventory", list
"cluster": site, deployment, distribution, Kubernetes version, CNI, labels
and nodes with roles, labels and taints); declare it with amp set or
amp apply. Its agent reports what the cluster really is, and registers
with a single-use token minted here (the book's bootstrap "finalize" step).

Examples:
  amp set inventory:/cluster/ace-x/kubernetes-version v1.31.4
  amp cluster plan ace-x                 # what would change, Terraform-like
  amp cluster status                     # every cluster's agent: connected, last seen, in sync
  amp cluster token ace-x --ttl 30m      # mint a token for ace-x's agent (shown once)
  amp cluster tokens ace-x               # list its unused tokens (no secrets)
  amp cluster token revoke ace-x 3f2a9c1b7d4e
  AMP_REGISTRATION_TOKEN=ampreg_… amp cluster register --csr agent.csr   # what the agent does
  amp cluster revoke ace-x               # its agent's certificates stop working`,
		Args: args(cobra.NoArgs),
		RunE: runE(needSubcommand),
	}
	cmd.AddCommand(newClusterPlanCmd(g), newClusterTokenCmd(g), newClusterTokensCmd(g), newClusterRegisterCmd(g), newClusterRevokeCmd(g))
	cmd.AddCommand(newClusterStatusCmd(g))
	return cmd
}

func newClusterPlanCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "plan NAME",
		Short: "Compare a cluster's declaration with what it reports and print the steps (-o json|yaml)",
		Long: `Compare the cluster's declaration with the report its agent wrote and print
the steps that bring the cluster to its declaration, like a Terraform plan:
"+" creates or adds, "~" changes, "-" removes (labels and nodes no longer
declared). Until the agent reports, the report is empty and the plan
creates everything. The plan changes nothing.

Example:
  amp cluster plan ace-x
  amp cluster plan ace-x -o json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("text", "json", "yaml", "text")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			p, err := g.client().ClusterPlan(ctx, a[0])
			if err != nil {
				return err
			}
			if format != "text" {
				return printAs(cmd.OutOrStdout(), format, p)
			}
			printPlan(cmd.OutOrStdout(), p)
			return nil
		}),
	}
}

// printPlan prints a plan for a terminal: what the agent reported is free
// text, so every line is made safe (termSafe).
func printPlan(out io.Writer, p *client.ClusterPlan) {
	for _, line := range strings.Split(strings.TrimSuffix(planText(p), "\n"), "\n") {
		fmt.Fprintln(out, termSafe(line))
	}
}

// planText is a plan as Terraform shows one: "+" creates or adds, "~"
// changes, "-" removes.
func planText(p *client.ClusterPlan) string {
	var w strings.Builder
	switch {
	case !p.Reported:
		fmt.Fprintf(&w, "cluster %s has not reported (its agent has not written a report): the plan creates everything\n", p.Cluster)
	default:
		fmt.Fprintf(&w, "cluster %s reported at %s\n", p.Cluster, p.ReportedAt)
	}
	if r := p.Registration; r != nil {
		fmt.Fprintf(&w, "registered at %s from %s (token %s, minted by %s)\n", r.RegisteredAt, r.Source, r.TokenID, r.MintedBy)
	} else {
		fmt.Fprintln(&w, "not registered: mint a token with amp cluster token "+p.Cluster)
	}
	sign := map[string]string{"create": "+", "add": "+", "change": "~", "remove": "-"}
	for _, s := range p.Steps {
		line := sign[s.Action] + " " + s.Action + " " + s.Object
		if s.Name != "" {
			line += " " + s.Name
		}
		switch {
		case s.From != nil && s.To != nil:
			line += ": " + stepValue(s.From) + " -> " + stepValue(s.To)
		case s.To != nil:
			line += ": " + stepValue(s.To)
		case s.From != nil:
			line += " (was " + stepValue(s.From) + ")"
		}
		fmt.Fprintln(&w, line)
	}
	if len(p.Steps) == 0 {
		fmt.Fprintln(&w, "No changes: the cluster matches its declaration.")
	} else {
		fmt.Fprintf(&w, "Plan: %d to add, %d to change, %d to remove.\n", p.Summary["add"], p.Summary["change"], p.Summary["remove"])
	}
	return w.String()
}

// stepValue shows a step's value: a string as it is, a list joined, an
// object (a node, the new cluster) as "key value; …" in key order.
func stepValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, stepValue(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+" "+stepValue(x[k]))
		}
		return strings.Join(parts, "; ")
	}
	return scalarText(v)
}

func newClusterTokenCmd(g *globalOpts) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token NAME [--ttl 1h] | token revoke NAME ID",
		Short: "Mint a single-use registration token for a cluster's agent (shown once)",
		Long: `Mint a registration token for the cluster's agent: it works once, until it
expires (--ttl, from 1s to 168h; default 1h). The token is printed on
stdout and shown only now; the server keeps its hash, the cluster, the
expiry and who minted it. Minting is an operator's and is audited.

Examples:
  amp cluster token ace-x
  amp cluster token ace-x --ttl 30m > ace-x.token
  amp cluster token revoke ace-x 3f2a9c1b7d4e`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			tok, err := g.client().MintClusterToken(ctx, a[0], ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s for cluster %s, single use, expires %s; the secret above is shown only now\n",
				tok.ID, tok.Cluster, tok.Expires.Format(time.RFC3339))
			return nil
		}),
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "how long the token works (1s..168h; default 1h)")
	revoke := &cobra.Command{
		Use:   "revoke NAME ID",
		Short: "Revoke an unused registration token: it stops working at once",
		Args:  args(cobra.ExactArgs(2)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			if err := g.client().RevokeClusterToken(ctx, a[0], a[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked registration token %s of cluster %s\n", a[1], a[0])
			return nil
		}),
	}
	cmd.AddCommand(revoke)
	return cmd
}

func newClusterTokensCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "tokens NAME",
		Short: "List a cluster's unused registration tokens, never their secrets (table: ID MINTED-BY CREATED EXPIRES STATE; -o json|yaml)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			toks, err := g.client().ClusterTokens(ctx, a[0])
			if err != nil {
				return err
			}
			if format != "table" {
				return printAs(cmd.OutOrStdout(), format, toks)
			}
			t := &table{header: []string{"ID", "MINTED-BY", "CREATED", "EXPIRES", "STATE"}}
			for _, tk := range toks {
				state := "unused"
				if tk.Expired {
					state = "expired"
				}
				t.rows = append(t.rows, []string{tk.ID, tk.MintedBy, tk.Created.Format(time.RFC3339), tk.Expires.Format(time.RFC3339), state})
			}
			return t.print(cmd.OutOrStdout())
		}),
	}
}

func newClusterRegisterCmd(g *globalOpts) *cobra.Command {
	var token, csrFile, cluster string
	cmd := &cobra.Command{
		Use:   "register --csr FILE [--cluster NAME] [--registration-token TOKEN]",
		Short: "Enrol a cluster's agent with its registration token and a CSR; prints the signed certificate (what amp agent register does)",
		Long: `Enrol a cluster's agent by hand, as amp agent register does: present the
registration token (no API token is sent; the token is the only credential,
and it is used up) with a certificate signing request for a key you keep.
AMP's agent CA signs a client certificate for the token's cluster (CN = its
id, whatever the CSR asks); the server records the registration (when, from
where, which token), which amp cluster plan shows. The certificate is
printed on stdout; -o json|yaml prints all the credentials (the agent CA,
the server's CA, expiry, renewal time, serial). With --cluster, a token
minted for another cluster is refused. The private key never leaves your
machine: only the CSR is sent.

Example:
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout agent.key -subj /CN=ace-x -out agent.csr
  AMP_REGISTRATION_TOKEN="$(cat ace-x.token)" amp cluster register --csr agent.csr --cluster ace-x > agent.crt`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				return usagef("give the token: --registration-token or AMP_REGISTRATION_TOKEN")
			}
			if csrFile == "" {
				return usagef("give --csr FILE: a PEM certificate signing request for the agent's key")
			}
			format, err := g.outputFormat("pem", "json", "yaml", "pem")
			if err != nil {
				return err
			}
			csr, err := os.ReadFile(csrFile)
			if err != nil {
				return fmt.Errorf("--csr: %w", err)
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			c := client.New(g.server, "", append([]client.Option{client.WithVersion(version)}, g.tlsOptions()...)...)
			res, err := c.RegisterCluster(ctx, wire.RegisterRequest{Token: token, Cluster: cluster, CSR: string(csr)})
			if err != nil {
				return err
			}
			if format != "pem" {
				return printAs(cmd.OutOrStdout(), format, res)
			}
			fmt.Fprint(cmd.OutOrStdout(), res.Certificate)
			fmt.Fprintf(cmd.ErrOrStderr(), "cluster %s enrolled: certificate %s, valid until %s, renew from %s\n",
				res.Cluster, res.Serial, res.NotAfter.Format(time.RFC3339), res.RenewAt.Format(time.RFC3339))
			return nil
		}),
	}
	cmd.Flags().StringVar(&token, "registration-token", os.Getenv("AMP_REGISTRATION_TOKEN"), "the token minted with amp cluster token (env AMP_REGISTRATION_TOKEN, which keeps it out of the process list)")
	cmd.Flags().StringVar(&csrFile, "csr", "", "PEM certificate signing request for the agent's key (ECDSA P-256/P-384 or RSA of at least 2048 bits)")
	cmd.Flags().StringVar(&cluster, "cluster", "", "the cluster you mean to enrol: a token minted for another one is refused")
	return cmd
}

func newClusterRevokeCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke every certificate of a cluster's agent: they stop working at once, on every replica",
		Long: `Revoke the cluster's agent certificates (a stolen site credential, a
decommissioned site): every request made with them is refused at once
(401, on every replica), renewal included. The agent must enrol again with
a new registration token (amp cluster token). Deleting the cluster revokes
its certificates too. Revoking is an operator's and is audited.

Example:
  amp cluster revoke ace-x
  amp cluster token ace-x > ace-x.token   # to enrol the agent again`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			res, err := g.client().RevokeCluster(ctx, a[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %d certificate(s) of cluster %s\n", res.Revoked, res.Cluster)
			return nil
		}),
	}
}
