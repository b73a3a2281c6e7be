package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/client"
)

// newProvisionSiteCmds are "amp provision site" and "amp provision
// check": the book's conventions (docs/provisioning.md, "Site
// conventions").
func newProvisionSiteCmds(g *globalOpts) []*cobra.Command {
	return []*cobra.Command{newProvisionSiteCmd(g), newProvisionCheckCmd(g)}
}

func newProvisionSiteCmd(g *globalOpts) *cobra.Command {
	var file, message string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "site -f SITE.yaml",
		Short: "Generate a site from a short spec, following the book's conventions",
		Long: `Generate a whole site of the inventory from a short spec (YAML or JSON; "-"
reads standard input): the organization, the site, its deployments and
racks, the device types the spec defines, the VLANs (ADMIN 1, UPLINK 10,
MGMT 800, FABRIC 801; 810/811 for the second deployment), the site's /22
cut into /25 prefixes (ADMIN, MGMT, FABRIC 1, FABRIC 2; a /23 per
deployment) with their DNS domains, the devices with their interfaces
(and the management server's VLAN interfaces), the IP plan in the book's
order, primary IPs, DNS names <devname>.<deployment>.<site>.<domain>, and
the cables. Everything is ONE transaction; a spec with a problem changes
nothing and every problem is printed with its path in the spec.

Running the same spec again changes nothing and records no transaction.
The generator adds and updates; it never deletes (use amp delete, or amp
rollback of the transaction, to take a site back).

Prints the changes as a diff; --dry-run prints them without committing;
-o json|yaml prints the result.

Examples:
  amp provision site -f stanford1.yaml --dry-run
  amp provision site -f stanford1.yaml -m "rack stanford1"
  amp provision check stanford1

The spec's fields are described, with the book's example site, in
docs/provisioning.md.`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("-f SITE.yaml is required")
			}
			if _, err := g.outputFormat("table", "json", "yaml", "table"); err != nil {
				return err
			}
			var data []byte
			var err error
			if file == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(file)
			}
			if err != nil {
				return err
			}
			spec, err := yaml.YAMLToJSON(data)
			if err != nil {
				return fmt.Errorf("%s: %v", file, err)
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			c := g.client(client.WithMessage(message))
			res, err := c.ProvisionSite(ctx, spec, dryRun)
			if err != nil {
				return err
			}
			return g.reportWrite(cmd, c, res)
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", `the site spec, YAML or JSON ("-": standard input)`)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the changes without committing")
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message recorded in the history")
	return cmd
}

func newProvisionCheckCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "check SITE",
		Short: "Report every departure of a site from the book's conventions",
		Long: `Check a site of the inventory, entered by hand, imported or generated,
against the book's conventions: the VLAN ids, the /25 prefixes of the
site's /22 with their VLANs, roles and DNS domains, the IP plan (the
management server first in every prefix, then the management switch,
fabric switches, compute servers and radios), primary IPs and DNS names.
Each departure is printed with its inventory path and the reason; the
exit status is 1 when there is any, 0 when the site follows the
conventions. -o json|yaml prints the answer as it came.

Examples:
  amp provision check stanford1
  amp provision check stanford1 -o json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			res, err := g.client().CheckSite(ctx, a[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				if err := printAs(out, format, res); err != nil {
					return err
				}
			} else {
				for _, d := range res.Departures {
					fmt.Fprintf(out, "%s: %s\n", termSafe(d.Path), termSafe(d.Reason))
				}
				if len(res.Departures) == 0 {
					fmt.Fprintf(out, "site %s follows the conventions (transaction %d)\n", termSafe(res.Site), res.Index)
				} else {
					fmt.Fprintf(out, "site %s: %s from the conventions (transaction %d)\n", termSafe(res.Site), plural(len(res.Departures), "departure", "departures"), res.Index)
				}
			}
			if len(res.Departures) > 0 {
				return &cliError{code: 1}
			}
			return nil
		}),
	}
}
