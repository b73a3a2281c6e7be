package main

import (
	"context"
	"encoding/csv"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
	"github.com/amp-edge/amp/internal/aether/simcsv"
)

func newExportCmd(g *globalOpts) *cobra.Command {
	var site string
	cmd := &cobra.Command{
		Use:   "export [-e ENTERPRISE] [--site SITE] [-o yaml|json|csv]",
		Short: "Export an enterprise's configuration, or its SIMs and devices as CSV",
		Long: `Export configuration.

-o yaml (the default) and -o json print the enterprise tree as GET
/aether/v2.1.x/<enterprise> answers it (with --site: that site's entry);
without -e, an object mapping every enterprise id to its tree. To apply an
exported tree again, wrap it as {path: /aether/v2.1.x/ID, value: TREE}
(see amp apply).

-o csv prints the SIM cards and devices in the columns amp import reads
(enterprise,site,sim-id,iccid,imsi,device-id,imei,display-name,device-group):
one row per SIM card with the device that uses it and the first device group
that device is in; devices without a SIM get a row with an empty sim-id.
The display name is the device's (the SIM's when it has no device).
Re-importing an export changes nothing. A cell that starts with = + - @,
a tab, a carriage return or ' is written with a leading ', so a
spreadsheet shows it as text instead of running it as a formula; amp
import removes that ' again.

Examples:
  amp export -e acme > acme.yaml
  amp export -e acme --site acme-chicago -o csv > chicago.csv
  amp export -o csv > all-sims.csv`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			format, err := g.outputFormat("yaml", "yaml", "json", "csv")
			if err != nil {
				return err
			}
			if site != "" && g.enterprise == "" {
				return usagef("--site needs -e/--enterprise")
			}
			ctx, cancel := g.context(cmd, 10*time.Minute)
			defer cancel()
			c := g.client()
			ents := []string{g.enterprise}
			if g.enterprise == "" {
				list, err := c.Enterprises(ctx)
				if err != nil {
					return err
				}
				ents = ents[:0]
				for _, e := range list {
					ents = append(ents, e.ID)
				}
			}
			out := cmd.OutOrStdout()
			if format == "csv" {
				w := csv.NewWriter(out)
				if err := w.Write(simcsv.Columns); err != nil {
					return err
				}
				for _, e := range ents {
					if err := exportCSV(ctx, c, w, e, site); err != nil {
						return err
					}
				}
				w.Flush()
				return w.Error()
			}
			fetch := func(e string) (any, error) {
				p := aetherRoot(e)
				if site != "" {
					p += "/site/" + url.PathEscape(site)
				}
				raw, _, err := c.Get(ctx, p, nil)
				if err != nil {
					return nil, err
				}
				return decode(raw)
			}
			if g.enterprise != "" {
				v, err := fetch(g.enterprise)
				if err != nil {
					return err
				}
				return printAs(out, format, v)
			}
			all := map[string]any{}
			for _, e := range ents {
				v, err := fetch(e)
				if err != nil {
					return err
				}
				all[e] = v
			}
			return printAs(out, format, all)
		}),
	}
	cmd.Flags().StringVar(&site, "site", "", "export only this site")
	return cmd
}

func exportCSV(ctx context.Context, c *client.Client, w *csv.Writer, ent, site string) error {
	var sites []any
	if site != "" {
		raw, _, err := c.Get(ctx, aetherRoot(ent)+"/site/"+url.PathEscape(site), nil)
		if err != nil {
			return err
		}
		v, err := decode(raw)
		if err != nil {
			return err
		}
		sites = []any{v}
	} else {
		items, err := c.GetAll(ctx, aetherRoot(ent)+"/site", nil, 0)
		if err != nil {
			return err
		}
		for _, it := range items {
			v, err := decode(it)
			if err != nil {
				return err
			}
			sites = append(sites, v)
		}
	}
	for _, sv := range sites {
		s, _ := sv.(map[string]any)
		siteID := scalarText(s["site-id"])
		sims := objects(s["sim-card"])
		devs := objects(s["device"])
		groupOf := map[string]string{}
		for _, dg := range objects(s["device-group"]) {
			for _, m := range objects(dg["device"]) {
				d := scalarText(m["device-id"])
				if _, ok := groupOf[d]; !ok {
					groupOf[d] = scalarText(dg["device-group-id"])
				}
			}
		}
		devOfSim := map[string]map[string]any{}
		used := map[string]bool{}
		for _, d := range devs {
			if sc := scalarText(d["sim-card"]); sc != "" {
				if _, ok := devOfSim[sc]; !ok {
					devOfSim[sc] = d
					used[scalarText(d["device-id"])] = true
				}
			}
		}
		row := func(sim, dev map[string]any) error {
			name := scalarText(sim["display-name"])
			devID := ""
			if dev != nil {
				devID = scalarText(dev["device-id"])
				name = scalarText(dev["display-name"])
			}
			cells := []string{ent, siteID, scalarText(sim["sim-id"]), scalarText(sim["iccid"]), scalarText(sim["imsi"]),
				devID, scalarText(dev["imei"]), name, groupOf[devID]}
			for i := range cells {
				cells[i] = csvCell(cells[i])
			}
			return w.Write(cells)
		}
		for _, sim := range sims {
			if err := row(sim, devOfSim[scalarText(sim["sim-id"])]); err != nil {
				return err
			}
		}
		for _, d := range devs {
			if !used[scalarText(d["device-id"])] {
				if err := row(map[string]any{}, d); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func objects(v any) []map[string]any {
	items, _ := v.([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
