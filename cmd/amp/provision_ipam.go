package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

// newProvisionIPCmd is "amp provision ip": the free addresses of a prefix
// and the next ones, allocated on the server as one transaction.
func newProvisionIPCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ip free|next",
		Short: "List and allocate free IP addresses of a site's prefix (IPAM)",
		Long: `List the free addresses of a prefix of the inventory, or allocate the next
free ones: the server chooses the lowest free addresses and creates their
ip-address objects in one transaction, so concurrent allocations (even
through several replicas) never get the same address. The network and
broadcast addresses of an IPv4 prefix shorter than /31 are never handed
out.

Examples:
  amp provision ip free stanford1 prod1-mgmt
  amp provision ip next stanford1 prod1-mgmt --dns-name node1.mgmt.prod1.stanford1.example.net --device node1 --interface mgmt800
  amp provision ip next stanford1 prod1-fabric --count 4 --status reserved -o json`,
		Args: args(cobra.NoArgs),
		RunE: runE(needSubcommand),
	}
	var limit int
	free := &cobra.Command{
		Use:   "free SITE PREFIX-ID",
		Short: "List free addresses of a prefix, lowest first (table: ADDRESS; -o json|yaml)",
		Example: `  amp provision ip free stanford1 prod1-mgmt
  amp provision ip free stanford1 prod1-mgmt --limit 200 -o json`,
		Args: args(cobra.ExactArgs(2)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			ips, err := g.client().FreeIPs(ctx, a[0], a[1], limit)
			if err != nil {
				return err
			}
			if format != "table" {
				if ips == nil {
					ips = []client.FreeIP{}
				}
				return printAs(cmd.OutOrStdout(), format, ips)
			}
			t := &table{header: []string{"ADDRESS"}}
			for _, ip := range ips {
				t.rows = append(t.rows, []string{ip.Address + "/" + strconv.Itoa(ip.PrefixLength)})
			}
			return t.print(cmd.OutOrStdout())
		}),
	}
	free.Flags().IntVar(&limit, "limit", 50, "list at most this many (1..1000)")

	var count int
	var dryRun bool
	var item ipItem
	next := &cobra.Command{
		Use:   "next SITE PREFIX-ID",
		Short: "Allocate the next free address(es) of a prefix (table: ADDRESS DNS-NAME DEVICE INTERFACE STATUS; -o json|yaml)",
		Example: `  amp provision ip next stanford1 prod1-mgmt --dns-name node1.mgmt.prod1.stanford1.example.net --device node1 --interface mgmt800
  amp provision ip next stanford1 prod1-mgmt --count 4 --status reserved
  amp provision ip next stanford1 prod1-mgmt --dry-run`,
		Args: args(cobra.ExactArgs(2)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			if count < 1 || count > 1024 {
				return usagef("--count must be from 1 to 1024")
			}
			if count > 1 && (item.dnsName != "" || item.device != "" || item.iface != "") {
				return usagef("--dns-name, --device and --interface name one address; leave them out with --count %d", count)
			}
			if item.iface != "" && item.device == "" {
				return usagef("--interface needs --device")
			}
			items := make([]map[string]any, count)
			for i := range items {
				items[i] = item.fields()
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			res, err := g.client().NextIPs(ctx, a[0], a[1], items, dryRun)
			if err != nil {
				return err
			}
			return printAllocation(cmd, format, res, []string{"address", "dns-name", "device", "interface", "status"})
		}),
	}
	f := next.Flags()
	f.IntVar(&count, "count", 1, "how many addresses to allocate (1..1024)")
	f.StringVar(&item.dnsName, "dns-name", "", "the address's DNS name")
	f.StringVar(&item.device, "device", "", "the device (at the site) the address is on")
	f.StringVar(&item.iface, "interface", "", "the device's interface the address is on (needs --device)")
	f.StringVar(&item.status, "status", "", "active (the default), reserved, deprecated or dhcp")
	f.StringVar(&item.description, "description", "", "free text")
	f.BoolVar(&dryRun, "dry-run", false, "show the changes without committing")
	cmd.AddCommand(free, next)
	return cmd
}

// ipItem is what `ip next` sets on an address besides what the server
// chooses.
type ipItem struct{ dnsName, device, iface, status, description string }

func (it ipItem) fields() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"dns-name": it.dnsName, "device": it.device, "interface": it.iface, "status": it.status, "description": it.description} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// newProvisionPrefixCmd is "amp provision prefix": the free blocks of a
// prefix and the next one, allocated on the server.
func newProvisionPrefixCmd(g *globalOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prefix free|next",
		Short: "List and allocate free child prefixes of a site's prefix (IPAM)",
		Long: `List the free blocks inside a prefix of the inventory (the space no other
prefix of the site overlaps), or allocate the lowest free block of a
length as a new prefix of the site, in one transaction.

Examples:
  amp provision prefix free stanford1 block
  amp provision prefix next stanford1 block --length 25 --id prod2-mgmt --vlan MGMT810 --role mgmt`,
		Args: args(cobra.NoArgs),
		RunE: runE(needSubcommand),
	}
	free := &cobra.Command{
		Use:     "free SITE PREFIX-ID",
		Short:   "List the free blocks inside a prefix (table: PREFIX; -o json|yaml)",
		Example: `  amp provision prefix free stanford1 block`,
		Args:    args(cobra.ExactArgs(2)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			ps, err := g.client().FreePrefixes(ctx, a[0], a[1])
			if err != nil {
				return err
			}
			if format != "table" {
				return printAs(cmd.OutOrStdout(), format, ps)
			}
			t := &table{header: []string{"PREFIX"}}
			for _, p := range ps {
				t.rows = append(t.rows, []string{p})
			}
			return t.print(cmd.OutOrStdout())
		}),
	}
	var length int
	var id, vlan, role, deployment, dnsDomain, description string
	var dryRun bool
	next := &cobra.Command{
		Use:   "next SITE PREFIX-ID --length N --id NEW-PREFIX-ID",
		Short: "Allocate the lowest free block of a length as a new prefix (table: PREFIX-ID PREFIX VLAN ROLE; -o json|yaml)",
		Example: `  amp provision prefix next stanford1 block --length 25 --id prod2-mgmt --vlan MGMT810 --role mgmt
  amp provision prefix next stanford1 block --length 26 --id lab --dry-run`,
		Args: args(cobra.ExactArgs(2)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "json", "yaml", "table")
			if err != nil {
				return err
			}
			if length == 0 || id == "" {
				return usagef("--length and --id are required")
			}
			item := map[string]any{"prefix-length": length, "prefix-id": id}
			for k, v := range map[string]string{"vlan": vlan, "role": role, "deployment": deployment, "dns-domain": dnsDomain, "description": description} {
				if v != "" {
					item[k] = v
				}
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			res, err := g.client().NextPrefixes(ctx, a[0], a[1], []map[string]any{item}, dryRun)
			if err != nil {
				return err
			}
			return printAllocation(cmd, format, res, []string{"prefix-id", "prefix", "vlan", "role"})
		}),
	}
	f := next.Flags()
	f.IntVar(&length, "length", 0, "the new prefix's length, longer than the parent's (e.g. 25)")
	f.StringVar(&id, "id", "", "the new prefix's prefix-id")
	f.StringVar(&vlan, "vlan", "", "the VLAN (name) it is on")
	f.StringVar(&role, "role", "", "admin, mgmt, fabric, uplink or other")
	f.StringVar(&deployment, "deployment", "", "the deployment it serves")
	f.StringVar(&dnsDomain, "dns-domain", "", "the DNS domain of its addresses")
	f.StringVar(&description, "description", "", "free text")
	f.BoolVar(&dryRun, "dry-run", false, "show the changes without committing")
	cmd.AddCommand(free, next)
	return cmd
}

// printAllocation prints what an allocation created (a dry run: the
// changes) as a table of columns, or as JSON/YAML.
func printAllocation(cmd *cobra.Command, format string, res *client.Allocation, columns []string) error {
	out := cmd.OutOrStdout()
	if res.DryRun {
		if format != "table" {
			return printAs(out, format, map[string]any{"dry-run": true, "changes": res.Changes})
		}
		printChanges(out, res.Changes)
		return nil
	}
	if format != "table" {
		return printAs(out, format, res.Created)
	}
	t := &table{}
	for _, c := range columns {
		t.header = append(t.header, strings.ToUpper(c))
	}
	for _, obj := range res.Created {
		row := make([]string, len(columns))
		for i, c := range columns {
			if v, ok := obj[c]; ok {
				row[i] = fmt.Sprint(v)
			}
		}
		t.rows = append(t.rows, row)
	}
	return t.print(out)
}
