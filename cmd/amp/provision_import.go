package main

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
	"github.com/amp-edge/amp/internal/provision/netbox"
)

// newProvisionImportCmd is "amp provision import": bring an existing
// inventory along (docs/provisioning.md, "Importing from NetBox").
func newProvisionImportCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import an inventory from NetBox or device types from the devicetype-library",
		Long: `Import into the inventory what another tool holds: a NetBox 4.x (through its
REST API or saved answers of it) or device types in the community
devicetype-library's YAML format. Each import is ONE transaction, merged into
the inventory: importing the same data again changes nothing, and a changed
source changes only what changed. --dry-run shows the changes.`,
	}
	cmd.AddCommand(newImportNetBoxCmd(g), newImportDeviceTypesCmd(g))
	return cmd
}

type importFlags struct {
	dryRun, prune bool
	message       string
}

func (f *importFlags) add(cmd *cobra.Command, pruneHelp string) {
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "show the changes without committing them")
	fl.BoolVar(&f.prune, "prune", false, pruneHelp)
	fl.StringVarP(&f.message, "message", "m", "", "commit message recorded in the history")
}

func newImportNetBoxCmd(g *globalOpts) *cobra.Command {
	var (
		f                        importFlags
		nbURL, token, from, save string
		pageSize                 int
		opt                      netbox.Options
	)
	cmd := &cobra.Command{
		Use:   "netbox (--url URL [--token T] | --from DIR)",
		Short: "Import sites, racks, devices, interfaces, cables, VLANs, prefixes and addresses from NetBox",
		Long: `Read a NetBox 4.x through its REST API and import what it holds into the
inventory, as ONE transaction.

It reads /api/tenancy/tenants/, /api/dcim/manufacturers/, device-types/,
interface-templates/, sites/, racks/, devices/, interfaces/, cables/ and
/api/ipam/vlans/, prefixes/, ip-addresses/, every page (following "next").
--token (or $NETBOX_TOKEN) is sent as "Authorization: Bearer" for a v2 token
(nbt_…) and "Authorization: Token" for a v1 one, to --url's host only; it is
never printed or saved. --from DIR reads saved answers instead:
DIR/dcim/sites.json and so on, each one list answer or a JSON array of its
pages (what --save DIR writes).

The mapping (docs/provisioning.md has it whole):
  tenant          organization (slug → org-id)
  site            site (slug → site-id; its tenant → organization)
  device role     role: management-server, management-switch, fabric-switch,
                  compute-server, radio, other, and the usual names (router,
                  server, leaf, spine, gnb …); --role SLUG=ROLE adds one,
                  --default-role ROLE takes the rest; else the device is refused
  deployment      custom field "deployment" (--deployment-field) or a tag
                  deployment-<name>, else --default-deployment, else none;
                  its kind is production, staging or development by the name
                  (prod…, stag…, dev…) or --deployment-kind NAME=KIND
  cable           cable-<NetBox id>, between two device interfaces
  everything else by name; a leaf NetBox leaves empty is cleared, a leaf
  NetBox has no field for (a site's domain, a prefix's DNS domain …) is kept.

What the inventory cannot hold (a console cable, an address in a VRF, an
IPv6 prefix, a VLAN without a site) is skipped and listed on stderr. What it
refuses (an unknown role, a half-unit position, a malformed page) stops the
import with the NetBox URL and the field, and nothing is written. The
import merges: what NetBox no longer has stays, unless --prune, which removes
from the imported sites what NetBox does not hold.

Examples:
  amp provision import netbox --url https://netbox.example.com --token "$T" --dry-run
  amp provision import netbox --url https://netbox.example.com --save ./nb-dump
  amp provision import netbox --from ./nb-dump --role edge-server=compute-server
  amp provision import netbox --from ./nb-dump --prune -m "NetBox, week 49"`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if (nbURL == "") == (from == "") {
				return usagef("give either --url or --from")
			}
			if save != "" && from != "" {
				return usagef("--save goes with --url")
			}
			if err := checkImportOptions(&opt); err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 30*time.Minute)
			defer cancel()
			var dump *netbox.Dump
			var err error
			if from != "" {
				dump, err = netbox.ReadDir(from)
			} else {
				if token == "" {
					token = os.Getenv("NETBOX_TOKEN")
				}
				prog := newProgress(cmd.ErrOrStderr())
				nc := &netbox.Client{BaseURL: nbURL, Token: token, PageSize: pageSize,
					Progress: func(ep netbox.Endpoint, read, count int) {
						prog.update("reading /api/"+ep.Path+"/", int64(read), int64(count), fmt.Sprintf("%d/%d", read, count), read >= count)
					}}
				if save != "" {
					nc.Save = netbox.SaveTo(save)
				}
				dump, err = nc.Fetch(ctx)
				prog.clear()
			}
			if err != nil {
				return fmt.Errorf("nothing was imported: %w", err)
			}
			res, err := netbox.Map(dump, opt)
			if err != nil {
				return fmt.Errorf("nothing was imported: %w", err)
			}
			return g.sendImport(cmd, res, f, "NetBox")
		}),
	}
	f.add(cmd, "also remove what the imported sites hold in AMP that NetBox does not")
	fl := cmd.Flags()
	fl.StringVar(&nbURL, "url", "", "NetBox's address, e.g. https://netbox.example.com (the API is below /api/)")
	fl.StringVar(&token, "token", "", "NetBox API token (default $NETBOX_TOKEN)")
	fl.StringVar(&from, "from", "", "read saved API answers from DIR instead of a NetBox")
	fl.StringVar(&save, "save", "", "also write the answers read to DIR (for --from)")
	fl.IntVar(&pageSize, "page-size", 1000, "objects asked for per page (NetBox answers at most its MAX_PAGE_SIZE)")
	fl.StringToStringVar(&opt.Roles, "role", nil, "map a NetBox device role slug to an AMP role, e.g. edge-server=compute-server (repeatable)")
	fl.StringVar(&opt.DefaultRole, "default-role", "", "the AMP role of a device whose NetBox role maps to none")
	fl.StringVar(&opt.DeploymentField, "deployment-field", "deployment", "the NetBox custom field naming a device's deployment")
	fl.StringVar(&opt.DefaultDeployment, "default-deployment", "", "the deployment of a device that names none")
	fl.StringToStringVar(&opt.DeploymentKinds, "deployment-kind", nil, "the kind of a deployment, e.g. edge1=production (repeatable)")
	fl.StringVar(&opt.DefaultOrganization, "default-organization", "", "the organization of a NetBox site without a tenant")
	return cmd
}

// checkImportOptions refuses mapping flags that name no role or kind.
func checkImportOptions(opt *netbox.Options) error {
	for slug, r := range opt.Roles {
		if !slices.Contains(netbox.Roles, r) {
			return usagef("--role %s=%s: %q is not a role (%s)", slug, r, r, strings.Join(netbox.Roles, ", "))
		}
	}
	if opt.DefaultRole != "" && !slices.Contains(netbox.Roles, opt.DefaultRole) {
		return usagef("--default-role %q is not a role (%s)", opt.DefaultRole, strings.Join(netbox.Roles, ", "))
	}
	for d, k := range opt.DeploymentKinds {
		if !slices.Contains(netbox.Kinds, k) {
			return usagef("--deployment-kind %s=%s: %q is not a kind (%s)", d, k, k, strings.Join(netbox.Kinds, ", "))
		}
	}
	return nil
}

func newImportDeviceTypesCmd(g *globalOpts) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "device-types FILE|DIR...",
		Short: "Import device types in the community devicetype-library's YAML format",
		Long: `Import device types (and their manufacturers) from files in the format of the
community devicetype-library (github.com/netbox-community/devicetype-library):
every .yaml/.yml file named, or below a directory named, as ONE transaction.

It reads manufacturer, model, slug, part_number, u_height, is_full_depth
and interfaces (name, type, label, mgmt_only); the other component lists
(console-ports, power-ports …) are read past. The manufacturer's id is its
name as a slug ("Super Micro" → super-micro), the type's id its slug.
Importing the same files again changes nothing. A bad file is named with
its field, and nothing is written.

Examples:
  amp provision import device-types devicetype-library/device-types/Dell/PowerEdge-R650.yaml
  amp provision import device-types devicetype-library/device-types/Edgecore --dry-run`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			res, err := netbox.ReadLibrary(a)
			if err != nil {
				return fmt.Errorf("nothing was imported: %w", err)
			}
			return g.sendImport(cmd, res, f, strings.Join(a, ", "))
		}),
	}
	f.add(cmd, "also remove interface templates the files do not list from the device types they hold")
	return cmd
}

// importReport is what an import did, for -o json|yaml.
type importReport struct {
	Source         string          `json:"source"`
	Mapped         map[string]int  `json:"mapped"`
	Skipped        []string        `json:"skipped,omitempty"`
	DryRun         bool            `json:"dry-run,omitempty"`
	Changes        []client.Change `json:"changes,omitempty"`
	Unchanged      bool            `json:"unchanged,omitempty"`
	Index          uint64          `json:"index,omitempty"`
	ID             string          `json:"id,omitempty"`
	ChangedObjects int             `json:"changed-objects,omitempty"`
}

// sendImport commits a mapped inventory through POST /provision/import and
// reports it.
func (g *globalOpts) sendImport(cmd *cobra.Command, res *netbox.Result, f importFlags, source string) error {
	format, err := g.outputFormat("table", "json", "yaml", "table")
	if err != nil {
		return err
	}
	ctx, cancel := g.context(cmd, 10*time.Minute)
	defer cancel()
	c := g.client(client.WithSource("import"), client.WithMessage(f.message))
	wr, err := c.ImportInventory(ctx, client.InventoryImport{Inventory: res.Tree, Prune: f.prune}, f.dryRun)
	if err != nil {
		return fmt.Errorf("nothing was imported: %w", err)
	}
	rep := importReport{Source: source, Mapped: res.Counts, Skipped: res.Skipped, DryRun: wr.DryRun, Changes: wr.Changes,
		Unchanged: wr.Unchanged, Index: wr.Index, ID: wr.ID}
	if !wr.DryRun && !wr.Unchanged {
		if info, err := c.TransactionInfo(ctx, wr.Index); err == nil {
			rep.ChangedObjects = info.ChangedObjects
		}
	}
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if format != "table" {
		return printAs(out, format, rep)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(errw, "skipped: %s\n", termSafe(s))
	}
	fmt.Fprintf(out, "read from %s: %s\n", termSafe(source), mappedLine(res.Counts))
	switch {
	case wr.DryRun:
		printChanges(out, wr.Changes)
		fmt.Fprintf(out, "dry run: %s; nothing was committed\n", changeCounts(wr.Changes))
	case wr.Unchanged:
		fmt.Fprintln(out, "no changes, nothing recorded")
	default:
		fmt.Fprintf(out, "imported: %s changed (transaction %d)\n", plural(rep.ChangedObjects, "object", "objects"), wr.Index)
	}
	return nil
}

// mappedLine lists the counts, e.g. "2 sites, 14 devices, 0 cables".
func mappedLine(counts map[string]int) string {
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	return strings.Join(parts, ", ")
}
