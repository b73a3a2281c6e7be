package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

// newProvisionViewCmds are the rack and cable views of a site: "amp
// provision cables", "trace" and "elevation" (docs/provisioning.md).
func newProvisionViewCmds(g *globalOpts) []*cobra.Command {
	return []*cobra.Command{newProvisionCablesCmd(g), newProvisionTraceCmd(g), newProvisionElevationCmd(g)}
}

func newProvisionCablesCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "cables SITE",
		Short: "Show a site's cables (table, or -o csv|json|yaml)",
		Long: `Show the cable report of a site, the columns of the book's Figure 5.4
(NetBox's cable list): ID, label, side A (the device as
<devname>.<deployment>.<site>), termination A (its interface), side B,
termination B, status, type, length with its unit, and colour.

-o csv prints the server's CSV (GET /provision/SITE/cables?format=csv), for a
spreadsheet or a label printer; -o json and -o yaml add the device ids.

Examples:
  amp provision cables stanford1
  amp provision cables stanford1 -o csv > stanford1-cables.csv
  amp provision cables stanford1 -o json`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "table", "csv", "json", "yaml")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			out := cmd.OutOrStdout()
			if format == "csv" {
				b, err := g.client().CablesCSV(ctx, a[0])
				if err != nil {
					return err
				}
				_, err = out.Write(b)
				return err
			}
			rows, err := g.client().Cables(ctx, a[0])
			if err != nil {
				return err
			}
			if format != "table" {
				return printAs(out, format, rows)
			}
			t := &table{header: []string{"ID", "LABEL", "SIDE-A", "TERMINATION-A", "SIDE-B", "TERMINATION-B", "STATUS", "TYPE", "LENGTH", "COLOR"}}
			for _, r := range rows {
				t.rows = append(t.rows, []string{r.ID, r.Label, r.SideA, r.TerminationA, r.SideB, r.TerminationB,
					r.Status, r.Type, lengthText(r.ProvisionCable), r.Color})
			}
			return t.print(out)
		}),
	}
}

func lengthText(c client.ProvisionCable) string {
	if c.Length == "" {
		return ""
	}
	return strings.TrimSpace(c.Length + " " + c.LengthUnit)
}

func newProvisionTraceCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "trace SITE DEVICE INTERFACE",
		Short: "Trace the cable path from a device's interface",
		Long: `Trace the cable path from one interface of a device (DEVICE is its id at the
site): each hop is the near end, the cable and the far end. The inventory
records direct cables only (no patch panels), so a cabled interface has one
hop and an uncabled one none. A virtual (VLAN) interface is traced from the
physical interface it rides on (its parent).

Examples:
  amp provision trace stanford1 node1 gbe0
  amp provision trace stanford1 node1 mgmt800     # via its parent gbe0
  amp provision trace stanford1 node1 gbe0 -o json`,
		Args: args(cobra.ExactArgs(3)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "table", "json", "yaml")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			tr, err := g.client().TraceCable(ctx, a[0], a[1], a[2])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format != "table" {
				return printAs(out, format, tr)
			}
			from := tr.Origin.Name + " " + tr.Origin.Interface
			if len(tr.Via) > 0 {
				from += " (via " + strings.Join(tr.Via, ", ") + ")"
			}
			if len(tr.Hops) == 0 {
				_, err := fmt.Fprintf(out, "%s: not cabled\n", termSafe(from))
				return err
			}
			if _, err := fmt.Fprintf(out, "%s:\n", termSafe(from)); err != nil {
				return err
			}
			t := &table{header: []string{"HOP", "NEAR", "TERMINATION", "CABLE", "LABEL", "STATUS", "TYPE", "LENGTH", "FAR", "TERMINATION"}}
			for i, h := range tr.Hops {
				t.rows = append(t.rows, []string{fmt.Sprint(i + 1), h.Near.Name, h.Near.Interface, h.Cable.ID, h.Cable.Label,
					h.Cable.Status, h.Cable.Type, lengthText(h.Cable), h.Far.Name, h.Far.Interface})
			}
			return t.print(out)
		}),
	}
}

func newProvisionElevationCmd(g *globalOpts) *cobra.Command {
	var face, file string
	cmd := &cobra.Command{
		Use:   "elevation SITE RACK",
		Short: "Draw a rack's elevation as SVG",
		Long: `Draw one face of a rack as SVG (the book's Figure 5.3): the units numbered from
1 at the bottom, each device over the units it spans (its position and its
type's height; full-depth devices on both faces, others on their own face),
labelled <devname>.<deployment> and coloured by its deployment, with a legend.
Devices of the rack without a position, or of 0 U, are listed below it.
Open the file in a browser.

Examples:
  amp provision elevation stanford1 r1 > r1-front.svg
  amp provision elevation stanford1 r1 --face rear --file r1-rear.svg`,
		Args: args(cobra.ExactArgs(2)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			svg, err := g.client().RackElevation(ctx, a[0], a[1], face)
			if err != nil {
				return err
			}
			if file != "" {
				return os.WriteFile(file, svg, 0o644)
			}
			_, err = cmd.OutOrStdout().Write(svg)
			return err
		}),
	}
	cmd.Flags().StringVar(&face, "face", "front", "the face to draw: front or rear")
	cmd.Flags().StringVar(&file, "file", "", "write the SVG to this file instead of standard output")
	return cmd
}
