package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// newMonitorDashboardCmd is "amp monitor dashboard": the dashboards AMP
// exports as Grafana dashboard JSON.
func newMonitorDashboardCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dashboard list|export",
		Short: "List the dashboards AMP ships, or export one as Grafana dashboard JSON",
		Args:  args(cobra.NoArgs),
		RunE:  runE(needSubcommand),
	}
	list := &cobra.Command{
		Use:   "list -e ENTERPRISE [-o table|json]",
		Short: "The dashboards the enterprise can export",
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
			body, _, err := g.client().Do(ctx, "GET", "/monitor/dashboards/"+url.PathEscape(ent), nil, nil, "")
			if err != nil {
				return err
			}
			if format == "json" {
				_, err := cmd.OutOrStdout().Write(append(body, '\n'))
				return err
			}
			var ds []struct {
				ID, Title string
				Panels    int
			}
			if err := json.Unmarshal(body, &ds); err != nil {
				return fmt.Errorf("the dashboards: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPANELS\tTITLE")
			for _, d := range ds {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", d.ID, d.Panels, d.Title)
			}
			return tw.Flush()
		}),
	}
	var out string
	export := &cobra.Command{
		Use:   "export ID -e ENTERPRISE [--out FILE]",
		Short: "Export a dashboard as Grafana dashboard JSON, to import into Grafana",
		Long: `Print the dashboard ID as Grafana dashboard JSON (or write it to --out),
built with grafana-foundation-sdk. Import it in Grafana (Dashboards, New,
Import) and pick, for its amp_prometheus variable, a Prometheus data source
whose URL is AMP's https://AMP/metrics with a token of the enterprise as a
bearer token: AMP answers with that enterprise's series only, so the
dashboard shows the enterprise's own sites (docs/monitoring.md,
"Dashboards").

Examples:
  amp monitor dashboard export edge-summary -e acme --out amp-edge-summary.json
  amp monitor dashboard export device-group -e acme | jq '.panels[].title'`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ent, err := g.needEnterprise()
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			body, _, err := g.client().Do(ctx, "GET", "/monitor/dashboards/"+url.PathEscape(ent)+"/"+url.PathEscape(a[0])+"/grafana", nil, nil, "")
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, append(body, '\n'), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "dashboard %s written to %s\n", a[0], out)
				return nil
			}
			_, err = cmd.OutOrStdout().Write(append(body, '\n'))
			return err
		}),
	}
	export.Flags().StringVar(&out, "out", "", "write the JSON to this file instead of stdout")
	cmd.AddCommand(list, export)
	return cmd
}
