package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
	// The monitor set's layer and wing (docs/monitoring.md): the
	// silences and secrets routes, the commit checks, and the adapter that
	// applies alert rules and routes to Prometheus and Alertmanager (amp
	// serve --prometheus-rules-dir, --alertmanager-config, …).
	_ "github.com/amp-edge/amp/internal/monitor/monitorapi"
)

// newMonitorCmd is "amp monitor": an enterprise's alerting, the monitor
// model set (docs/monitoring.md).
func newMonitorCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "monitor secret|silence|query|dashboard",
		Short: "Alerting: an enterprise's receiver secrets and silences (the monitor model set)",
		Long: `The monitor model set holds an enterprise's alert rules, receivers, routes
and dashboards; declare them with amp set or amp apply, read them with amp
get (monitor/alert-rule, monitor/receiver, …). A Slack-compatible
receiver names its webhook URL as a secret, set with "amp monitor secret";
"amp monitor silence" mutes some of the enterprise's alerts in
Alertmanager; "amp monitor query" asks PromQL of the central Prometheus,
restricted to the enterprise's series; "amp monitor dashboard export"
prints a dashboard as Grafana dashboard JSON. The secret, silence and
dashboard subcommands need the enterprise (-e).

Examples:
  amp set -e acme 'monitor/alert-rule/connect:={"alert":"SingleEdgeConnectTestFailing","expr":"amp_edge_probe_ok{probe=\"user-plane\"} < 1","for":"10m"}'
  echo https://hooks.slack.com/services/T0/B0/XYZ | amp monitor secret set chat-url -e acme
  amp monitor silence add -e acme --match alertname=SingleEdgeConnectTestFailing --duration 2h --comment "maintenance"
  amp get -e acme monitor/alert-rule
  amp monitor query 'sum by (site) (amp_edge_probe_ok)' -e acme
  amp monitor dashboard export edge-summary -e acme --out amp-edge-summary.json`,
		Args: args(cobra.NoArgs),
		RunE: runE(needSubcommand),
	}
	cmd.AddCommand(newMonitorSecretCmd(g), newMonitorSilenceCmd(g), newMonitorQueryCmd(g), newMonitorDashboardCmd(g))
	return cmd
}

// enterprise is -e, which every monitor subcommand needs.
func (g *globalOpts) needEnterprise() (string, error) {
	if g.enterprise == "" {
		return "", usagef("give the enterprise: -e ENTERPRISE")
	}
	return g.enterprise, nil
}

func newMonitorSecretCmd(g *globalOpts) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "secret set ID [--from-file FILE] | secret delete ID",
		Short: "Set or delete a receiver secret of the enterprise (never shown back)",
		Args:  args(cobra.NoArgs),
		RunE:  runE(needSubcommand),
	}
	set := &cobra.Command{
		Use:   "set ID -e ENTERPRISE [--from-file FILE]",
		Short: "Set a Slack-compatible webhook's URL, read from stdin or a file",
		Long: `Set the enterprise's secret ID, the URL of a Slack-compatible incoming
webhook that its receivers name (slack/url-secret). It is read from stdin
(its first line) or from --from-file, never from the command line. The
server keeps it outside the configuration and never shows it back; the
enterprise's admins and operators may set it, and it is audited (without
the secret).

Examples:
  echo https://hooks.slack.com/services/T0/B0/XYZ | amp monitor secret set chat-url -e acme
  amp monitor secret set chat-url -e acme --from-file slack-url.txt`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ent, err := g.needEnterprise()
			if err != nil {
				return err
			}
			secret, err := readSecret(cmd, file)
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			if err := g.client().PutMonitorSecret(ctx, ent, a[0], secret); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s of %s set\n", a[0], ent)
			return nil
		}),
	}
	set.Flags().StringVar(&file, "from-file", "", "read the secret from this file (its first line) instead of stdin")
	del := &cobra.Command{
		Use:   "delete ID -e ENTERPRISE",
		Short: "Delete a secret: the receivers naming it drop their notifications",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ent, err := g.needEnterprise()
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			if err := g.client().DeleteMonitorSecret(ctx, ent, a[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s of %s deleted\n", a[0], ent)
			return nil
		}),
	}
	cmd.AddCommand(set, del)
	return cmd
}

func newMonitorSilenceCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence list|add|expire",
		Short: "List, add or expire the enterprise's silences (kept in Alertmanager)",
		Args:  args(cobra.NoArgs),
		RunE:  runE(needSubcommand),
	}
	list := &cobra.Command{
		Use:   "list -e ENTERPRISE [-o table|json]",
		Short: "The enterprise's silences: active, pending and expired",
		Args:  args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			ent, err := g.needEnterprise()
			if err != nil {
				return err
			}
			format, err := g.outputFormat("table", "table", "json")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			sils, err := g.client().MonitorSilences(ctx, ent)
			if err != nil {
				return err
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), sils)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tENDS\tMATCHERS\tCOMMENT")
			for _, s := range sils {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Status.State, s.EndsAt, matchersText(s.Matchers), s.Comment)
			}
			return tw.Flush()
		}),
	}
	var match []string
	var duration, comment string
	add := &cobra.Command{
		Use:   "add -e ENTERPRISE --match LABEL=VALUE [--match LABEL=~REGEX ...] --duration 2h --comment TEXT",
		Short: "Silence the enterprise's alerts that match (amtool's matcher syntax)",
		Long: `Add a silence in Alertmanager for the enterprise's alerts matching every
--match (LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX, LABEL!~REGEX); the
server adds enterprise="<ENTERPRISE>", so only the enterprise's alerts are
muted, and refuses a matcher of yours on enterprise. A silence lasts at
most 30 days; its id is printed.

Examples:
  amp monitor silence add -e acme --match alertname=SingleEdgeConnectTestFailing --match site=acme-chicago --duration 2h --comment "maintenance"`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			ent, err := g.needEnterprise()
			if err != nil {
				return err
			}
			var ms []client.SilenceMatcher
			for _, m := range match {
				sm, err := parseMatcher(m)
				if err != nil {
					return err
				}
				ms = append(ms, sm)
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			s, err := g.client().AddMonitorSilence(ctx, ent, ms, duration, comment)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "silence %s added, ends %s\n", s.ID, s.EndsAt)
			return nil
		}),
	}
	add.Flags().StringArrayVar(&match, "match", nil, "a matcher LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX or LABEL!~REGEX; repeatable")
	add.Flags().StringVar(&duration, "duration", "", "how long, e.g. 2h (required)")
	add.Flags().StringVar(&comment, "comment", "", "why (required)")
	expire := &cobra.Command{
		Use:   "expire ID -e ENTERPRISE",
		Short: "End one of the enterprise's silences",
		Args:  args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ent, err := g.needEnterprise()
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			if err := g.client().ExpireMonitorSilence(ctx, ent, a[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "silence %s expired\n", a[0])
			return nil
		}),
	}
	cmd.AddCommand(list, add, expire)
	return cmd
}

// parseMatcher reads LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX or
// LABEL!~REGEX.
func parseMatcher(s string) (client.SilenceMatcher, error) {
	if i := strings.IndexAny(s, "=!"); i > 0 {
		for _, op := range []string{"!~", "=~", "!=", "="} {
			if value, ok := strings.CutPrefix(s[i:], op); ok {
				eq := op == "=" || op == "=~"
				return client.SilenceMatcher{Name: s[:i], Value: value, IsRegex: strings.HasSuffix(op, "~"), IsEqual: &eq}, nil
			}
		}
	}
	return client.SilenceMatcher{}, usagef("--match %q: write LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX or LABEL!~REGEX", s)
}

func matchersText(ms []client.SilenceMatcher) string {
	var out []string
	for _, m := range ms {
		op := "="
		switch {
		case m.IsRegex && (m.IsEqual == nil || *m.IsEqual):
			op = "=~"
		case m.IsRegex:
			op = "!~"
		case m.IsEqual != nil && !*m.IsEqual:
			op = "!="
		}
		out = append(out, m.Name+op+m.Value)
	}
	return strings.Join(out, ",")
}
