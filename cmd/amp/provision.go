package main

import (
	"github.com/spf13/cobra"

	// The inventory set's REST layers: IPAM, /provision/… and the agent link.
	_ "github.com/amp-edge/amp/internal/edge/edgeapi"
	// The fleet set is built in too; its descriptor names the fleet layer.
	_ "github.com/amp-edge/amp/internal/fleet/fleetapi"
	_ "github.com/amp-edge/amp/internal/fleet/sealapi"
	_ "github.com/amp-edge/amp/internal/provision/provisionapi"
)

// newProvisionCmd is "amp provision": the inventory's conventions,
// artifacts and views (docs/provisioning.md).
func newProvisionCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "provision",
		Short: "Provision edge sites from the inventory (book chapter 3)",
		Long: `Work with the operator's inventory (model set "inventory"): generate a site
from a short spec following the book's conventions, check a site against
them, render the artifacts the site's hardware boots from, and show its
racks and cables. docs/provisioning.md describes each.`,
	}
	cmd.AddCommand(newProvisionViewCmds(g)...)
	cmd.AddCommand(newProvisionSiteCmds(g)...)
	cmd.AddCommand(newProvisionImportCmd(g))
	cmd.AddCommand(newProvisionRenderCmd(g))
	cmd.AddCommand(newProvisionIPCmd(g), newProvisionPrefixCmd(g))
	return cmd
}
