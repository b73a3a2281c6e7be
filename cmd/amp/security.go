package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/internal/policy"
)

// newPolicyCmd is `amp policy test`: the rego unit tests of the
// authorization policy, run offline (configuration-as-code checks in CI).
func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy test [DIR]",
		Short: "Run the rego unit tests of an authorization policy (default: the embedded one)",
		Long: `Run the rego unit tests (*_test.rego) of the authorization policy in DIR,
or of the policy built into amp when DIR is omitted, as CI does before a
policy change is deployed (amp serve --policy-dir DIR reloads it).

Examples:
  amp policy test
  amp policy test ./policy`,
		Args: args(cobra.NoArgs),
		RunE: runE(needSubcommand),
	}
	test := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run the policy's rego unit tests; exit 1 if any fails",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			var rep *policy.Report
			var err error
			if len(a) == 1 {
				rep, err = policy.RunTestsDir(cmd.Context(), a[0])
			} else {
				rep, err = policy.RunTests(cmd.Context(), nil)
			}
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.String())
			if rep.Failed > 0 {
				return &cliError{code: 1}
			}
			return nil
		}),
	}
	cmd.AddCommand(test)
	return cmd
}

// newAuditCmd is `amp audit`: the audit trail, filtered by the caller's
// rights on the server.
func newAuditCmd(g *globalOpts) *cobra.Command {
	var principal, enterprise, path, since, until, outcome string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit trail: who changed what, when, from where (table; -o json|yaml)",
		Long: `Show the audit trail, newest first: every write, every denied attempt and
every login or token event, with principal, source address, interface,
transaction and outcome. You see only records of what you may read.

Examples:
  amp audit --principal alice --since 2026-11-22T00:00:00Z
  amp audit -e acme --path ` + siteExample + `/acme-chicago/slice
  amp audit --outcome denied -o json`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"principal": principal, "enterprise": firstNonEmpty(enterprise, g.enterprise), "path": path,
				"since": since, "until": until, "outcome": outcome} {
				if v != "" {
					q.Set(k, v)
				}
			}
			q.Set("limit", fmt.Sprint(limit))
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			raw, _, err := g.client().Get(ctx, "/audit", q)
			if err != nil {
				return err
			}
			var recs []map[string]any
			if err := json.Unmarshal(raw, &recs); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				return printAs(out, format, recs)
			}
			t := &table{header: []string{"TIME", "PRINCIPAL", "IF", "ACTION", "OUTCOME", "TXN", "PATHS", "REASON"}}
			for _, r := range recs {
				paths, _ := r["paths"].([]any)
				var ps []string
				for _, p := range paths {
					ps = append(ps, fmt.Sprint(p))
				}
				t.rows = append(t.rows, []string{scalarText(r["time"]), scalarText(r["principal"]), scalarText(r["interface"]),
					scalarText(r["action"]), scalarText(r["outcome"]), scalarText(r["transaction"]), truncate(strings.Join(ps, " "), 60),
					truncate(scalarText(r["reason"]), 60)})
			}
			return t.print(out)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&principal, "principal", "", "only this principal")
	f.StringVar(&enterprise, "enterprise-filter", "", "only records of this enterprise (default: -e)")
	f.StringVar(&path, "path", "", "only records touching this REST path or below it")
	f.StringVar(&since, "since", "", "only records at or after this RFC 3339 time")
	f.StringVar(&until, "until", "", "only records before this RFC 3339 time")
	f.StringVar(&outcome, "outcome", "", "allowed, denied or error")
	f.IntVar(&limit, "limit", 100, "at most this many records")
	return cmd
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// newTokenCmd is `amp token create|list|revoke` (operators).
func newTokenCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token create|list|revoke",
		Short: "Manage API tokens (operators)",
		Long: `API tokens for scripts and CI: each has a role (operator, enterprise-admin,
enterprise-member, state-writer) and, for the enterprise roles, an
enterprise. The secret is shown once, when the token is created; only its
hash is stored.

Examples:
  amp token create ci-acme --role enterprise-member -e acme
  amp token list
  amp token revoke 3f2a9c1b7d4e`,
		Args: args(cobra.NoArgs),
		RunE: runE(needSubcommand),
	}
	var role string
	create := &cobra.Command{
		Use:   "create NAME --role ROLE [-e ENTERPRISE]",
		Short: "Create a token and print its secret (shown only now)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			body := map[string]string{"name": a[0], "role": role}
			if g.enterprise != "" && role != "operator" && role != "state-writer" {
				body["enterprise"] = g.enterprise
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			raw, _, err := g.client().Do(ctx, "POST", "/tokens", nil, body, "application/json")
			if err != nil {
				return err
			}
			var tok map[string]any
			if err := json.Unmarshal(raw, &tok); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", tok["token"])
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s (%s) created with rights %s; the secret above is shown only now\n", tok["id"], a[0], rightsText(tok["rights"]))
			return nil
		}),
	}
	create.Flags().StringVar(&role, "role", "", "operator, enterprise-admin, enterprise-member or state-writer")
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			raw, _, err := g.client().Get(ctx, "/tokens", nil)
			if err != nil {
				return err
			}
			var toks []map[string]any
			if err := json.Unmarshal(raw, &toks); err != nil {
				return err
			}
			if format != "table" {
				return printAs(cmd.OutOrStdout(), format, toks)
			}
			t := &table{header: []string{"ID", "NAME", "PRINCIPAL", "RIGHTS", "CREATED"}}
			for _, tk := range toks {
				t.rows = append(t.rows, []string{scalarText(tk["id"]), scalarText(tk["name"]), scalarText(tk["principal"]),
					rightsText(tk["rights"]), scalarText(tk["created"])})
			}
			return t.print(cmd.OutOrStdout())
		}),
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: it stops working at once",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			if _, _, err := g.client().Do(ctx, "DELETE", "/tokens/"+url.PathEscape(a[0]), nil, nil, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", a[0])
			return nil
		}),
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// rightsText shows a token's rights ([{"role", "enterprise"}]) as
// "enterprise-admin:acme, state-writer".
func rightsText(v any) string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		m, _ := x.(map[string]any)
		r := scalarText(m["role"])
		if e := scalarText(m["enterprise"]); e != "" {
			r += ":" + e
		}
		out = append(out, r)
	}
	return strings.Join(out, ", ")
}
