package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// agentLogLevelPath is where a cluster's agent's component levels are
// declared: its inventory entry, carried to the agent in its desired
// state (docs/logging.md, "Levels at run time").
func agentLogLevelPath(cluster, component string) string {
	p := "/inventory/v1.0.0/cluster/" + url.PathEscape(cluster) + "/log-level"
	if component != "" {
		p += "/" + url.PathEscape(component)
	}
	return p
}

// newLogLevelCmd is "amp log-level": AMP's (or an agent's) log level per
// component, read and changed at run time.
func newLogLevelCmd(g *globalOpts) *cobra.Command {
	var cluster string
	var reset bool
	cmd := &cobra.Command{
		Use:   "log-level [COMPONENT [LEVEL]] [--cluster C] [--reset]",
		Short: "List, read or change the log level of AMP's components, or of a site agent's",
		Long: `List, read or change log levels at run time (docs/logging.md). Operators only;
every change is audited.

With no argument it lists the process-wide level and every component that
has logged in the AMP replica answering, with its level ("own" when set
for the component, else it follows the process-wide one). COMPONENT alone
reads that component; COMPONENT LEVEL sets it (debug, info, warn, error);
the component "all" sets the process-wide level. --reset makes COMPONENT
follow the process-wide level again. A replica's levels are its own: with
several replicas behind a balancer, ask each.

--cluster C acts on the edge agent of cluster C instead: the level is
declared on the cluster in the inventory (a transaction, kept across
restarts of AMP and of the agent) and reaches the agent in its desired
state; amp cluster status C shows when the agent has applied it.

Examples:
  amp log-level                         # every component of this replica
  amp log-level gnmi                    # one component
  amp log-level gnmi debug              # gnmi logs debug lines from now on
  amp log-level gnmi --reset            # gnmi follows the process-wide level again
  amp log-level all warn                # the process-wide level
  amp log-level --cluster ace-x helm debug
  amp log-level --cluster ace-x         # the levels declared for ace-x's agent`,
		Args: args(cobra.RangeArgs(0, 2)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			if reset && len(a) != 1 {
				return usagef("--reset takes COMPONENT alone")
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			c := g.client()
			out := cmd.OutOrStdout()
			if cluster != "" {
				var body []byte
				var err error
				switch {
				case reset:
					body, _, err = c.Do(ctx, "DELETE", agentLogLevelPath(cluster, a[0]), nil, nil, "")
				case len(a) == 2:
					body, _, err = c.Do(ctx, "PUT", agentLogLevelPath(cluster, a[0]), nil, map[string]string{"component": a[0], "level": a[1]}, "")
				case len(a) == 1:
					body, _, err = c.Do(ctx, "GET", agentLogLevelPath(cluster, a[0]), nil, nil, "")
				default:
					body, _, err = c.Do(ctx, "GET", agentLogLevelPath(cluster, ""), nil, nil, "")
				}
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "%s\n", body)
				return err
			}
			var body []byte
			var err error
			switch {
			case reset:
				body, _, err = c.Do(ctx, "DELETE", "/admin/log-level/"+url.PathEscape(a[0]), nil, nil, "")
			case len(a) == 2 && a[0] == "all":
				body, _, err = c.Do(ctx, "PUT", "/admin/log-level", nil, map[string]string{"level": a[1]}, "")
			case len(a) == 2:
				body, _, err = c.Do(ctx, "PUT", "/admin/log-level/"+url.PathEscape(a[0]), nil, map[string]string{"level": a[1]}, "")
			case len(a) == 1:
				body, _, err = c.Do(ctx, "GET", "/admin/log-level/"+url.PathEscape(a[0]), nil, nil, "")
			default:
				body, _, err = c.Do(ctx, "GET", "/admin/log-level", nil, nil, "")
			}
			if err != nil {
				return err
			}
			return printLevels(out, body)
		}),
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "act on this cluster's edge agent instead of AMP")
	cmd.Flags().BoolVar(&reset, "reset", false, "make COMPONENT follow the process-wide level again")
	return cmd
}

// printLevels prints a log-level answer as a table: COMPONENT LEVEL OWN.
func printLevels(w interface{ Write([]byte) (int, error) }, body []byte) error {
	var v struct {
		Level      string `json:"level"`
		Component  string `json:"component"`
		Own        bool   `json:"own"`
		Components []struct {
			Component string `json:"component"`
			Level     string `json:"level"`
			Own       bool   `json:"own"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tLEVEL\tOWN")
	if v.Component == "" {
		fmt.Fprintf(tw, "all\t%s\t\n", v.Level)
	} else {
		fmt.Fprintf(tw, "%s\t%s\t%v\n", v.Component, v.Level, v.Own)
	}
	for _, c := range v.Components {
		fmt.Fprintf(tw, "%s\t%s\t%v\n", c.Component, c.Level, c.Own)
	}
	return tw.Flush()
}
