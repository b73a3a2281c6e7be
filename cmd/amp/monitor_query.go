package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// newMonitorQueryCmd is "amp monitor query": PromQL through AMP's
// tenant-safe query routes (docs/monitoring.md, "Queries").
func newMonitorQueryCmd(g *globalOpts) *cobra.Command {
	var at string
	var since, step time.Duration
	cmd := &cobra.Command{
		Use:   "query EXPR [-e ENTERPRISE] [--time T | --since D --step D] [-o table|json]",
		Short: "Ask PromQL of the central and the sites' Prometheus through AMP (an enterprise sees its own series only)",
		Long: `Run a PromQL query through AMP (GET /metrics/query, or /metrics/query_range
with --since): the central Prometheus and every site's the caller may see,
reached through the sites' agents, merged, each site's series labelled
with its cluster; cluster="ID" or site="ID" in the query narrows the
sites asked. A site that did not answer is printed as a warning on
stderr. An operator queries every series; an enterprise's admin or
member only the enterprise's: the server gives every selector
enterprise="<ENTERPRISE>" and refuses one naming another enterprise. -e
picks the enterprise when you hold roles in several (an operator may name
one to see what its users see). The table shows each series' labels and
its value (a range: the number of points and the last value); -o json
prints Prometheus's answer as it is.

Examples:
  amp monitor query 'amp_edge_probe_ok{probe="user-plane"}' -e acme
  amp monitor query 'sum by (site) (amp_edge_probe_ok)' --since 1h --step 1m
  amp monitor query 'up' --time 2026-12-07T15:00:00Z -o json
  amp monitor query 'sum by (cluster) (rate(amp_agent_checkins_total{cluster="edge-a"}[5m]))'   # one site`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "table", "json")
			if err != nil {
				return err
			}
			q := url.Values{"query": {a[0]}}
			if g.enterprise != "" {
				q.Set("enterprise", g.enterprise)
			}
			path := "/metrics/query"
			switch {
			case since > 0:
				if at != "" {
					return usagef("give --time or --since, not both")
				}
				if step <= 0 {
					return usagef("--since needs a positive --step")
				}
				now := time.Now()
				path = "/metrics/query_range"
				q.Set("start", strconv.FormatInt(now.Add(-since).Unix(), 10))
				q.Set("end", strconv.FormatInt(now.Unix(), 10))
				q.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
			case at != "":
				q.Set("time", at)
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			body, _, err := g.client().Do(ctx, "GET", path, q, nil, "")
			if err != nil {
				return err
			}
			if format == "json" {
				_, err := cmd.OutOrStdout().Write(append(body, '\n'))
				return err
			}
			return printQueryAnswer(cmd, body)
		}),
	}
	cmd.Flags().StringVar(&at, "time", "", "evaluate at this time (Unix seconds or RFC 3339; default now)")
	cmd.Flags().DurationVar(&since, "since", 0, "a range query over the last D (e.g. 1h)")
	cmd.Flags().DurationVar(&step, "step", 0, "the range query's resolution (e.g. 15s)")
	return cmd
}

// printQueryAnswer prints Prometheus's answer as a table.
func printQueryAnswer(cmd *cobra.Command, body []byte) error {
	var a struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("the answer is not Prometheus's: %v", err)
	}
	// A site that did not answer is said, never left out silently.
	for _, w := range a.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	switch a.Data.ResultType {
	case "vector", "matrix":
		var rs []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		}
		if err := json.Unmarshal(a.Data.Result, &rs); err != nil {
			return err
		}
		if a.Data.ResultType == "vector" {
			fmt.Fprintln(tw, "SERIES\tVALUE")
		} else {
			fmt.Fprintln(tw, "SERIES\tPOINTS\tLAST")
		}
		for _, r := range rs {
			if a.Data.ResultType == "vector" {
				fmt.Fprintf(tw, "%s\t%s\n", seriesText(r.Metric), sampleValue(r.Value))
			} else if n := len(r.Values); n > 0 {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", seriesText(r.Metric), n, sampleValue(r.Values[n-1]))
			}
		}
	default: // scalar, string: [time, value]
		var v []any
		if err := json.Unmarshal(a.Data.Result, &v); err != nil {
			return err
		}
		fmt.Fprintln(tw, sampleValue(v))
	}
	return tw.Flush()
}

// seriesText writes labels as PromQL does: name{a="x", b="y"}.
func seriesText(m map[string]string) string {
	name := m["__name__"]
	var ls []string
	for k, v := range m {
		if k != "__name__" {
			ls = append(ls, fmt.Sprintf("%s=%q", k, v))
		}
	}
	sort.Strings(ls)
	return name + "{" + strings.Join(ls, ", ") + "}"
}

func sampleValue(pair []any) string {
	if len(pair) != 2 {
		return "?"
	}
	return fmt.Sprint(pair[1])
}
