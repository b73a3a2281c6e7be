package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

func newClusterStatusCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show clusters' agents: connected, last seen, version, in sync (table; one cluster in detail; -o json|yaml)",
		Long: `Show what AMP last heard from each cluster's agent over its link
(docs/agent.md): whether it is connected (checked in within two check-in
intervals, or waiting for its desired state), when it was last seen, the
version of amp it runs, and whether it is in sync: it holds the current
desired state (same digest) and reports every object of it applied. Objects
that failed are named with the agent's reason.

With NAME: that cluster in detail, with the facts its agent reported (the
Kubernetes version, each node with its labels, taints and readiness), every
object's state (and any drift the agent corrected) and its last outage.

Examples:
  amp cluster status                 # every cluster you may read
  amp cluster status ace-x           # one in detail
  amp cluster status ace-x -o json`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("text", "json", "yaml", "text")
			if err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			out := cmd.OutOrStdout()
			if len(a) == 1 {
				s, err := g.client().ClusterStatus(ctx, a[0])
				if err != nil {
					return err
				}
				if format != "text" {
					return printAs(out, format, s)
				}
				for _, line := range strings.Split(strings.TrimSuffix(statusText(s), "\n"), "\n") {
					fmt.Fprintln(out, termSafe(line))
				}
				return nil
			}
			list, err := g.client().ClusterStatuses(ctx)
			if err != nil {
				return err
			}
			if format != "text" {
				return printAs(out, format, list)
			}
			t := &table{header: []string{"CLUSTER", "SITE", "CONNECTED", "LAST-SEEN", "AGENT", "SYNC", "FAILED"}}
			for _, s := range list {
				t.rows = append(t.rows, []string{s.Cluster, s.Site, yesNo(s.Connected), orDash(s.LastSeen), orDash(s.AgentVersion), syncText(&s), fmt.Sprint(len(s.Failed))})
			}
			return t.print(out)
		}),
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// syncText says whether the agent holds the current desired state.
func syncText(s *client.ClusterStatus) string {
	switch {
	case s.LastSeen == "":
		return "never-seen"
	case s.InSync:
		return "in-sync"
	case s.Applied.Digest != s.Desired.Digest:
		return fmt.Sprintf("behind (applied %d, desired %d)", s.Applied.Index, s.Desired.Index)
	}
	return "failing"
}

// statusText is one cluster's status in detail.
func statusText(s *client.ClusterStatus) string {
	var w strings.Builder
	fmt.Fprintf(&w, "cluster %s", s.Cluster)
	if s.Site != "" {
		fmt.Fprintf(&w, " at site %s", s.Site)
	}
	fmt.Fprintln(&w)
	if s.LastSeen == "" {
		fmt.Fprintf(&w, "its agent has never checked in: mint a token with amp cluster token %s and run amp agent register at the site\n", s.Cluster)
	} else {
		fmt.Fprintf(&w, "connected: %s, last seen %s, agent %s, clock skew %ds\n", yesNo(s.Connected), s.LastSeen, orDash(s.AgentVersion), s.ClockSkewSeconds)
	}
	fmt.Fprintf(&w, "desired: index %d digest %s\napplied: index %d digest %s\n", s.Desired.Index, short(s.Desired.Digest), s.Applied.Index, short(s.Applied.Digest))
	fmt.Fprintf(&w, "sync: %s (%d objects, %d failed)\n", syncText(s), s.Objects, len(s.Failed))
	if s.Report != nil {
		writeFacts(&w, s.Report)
	}
	for _, o := range s.ObjectStates {
		line := fmt.Sprintf("  %v %v: %v", o["kind"], o["name"], o["state"])
		if d, _ := o["drift"].(bool); d {
			line += " (drift corrected)"
		}
		if v, _ := o["version"].(string); v != "" {
			line += " version " + termSafe(v)
		}
		if r, ok := o["ready"].(bool); ok {
			line += map[bool]string{true: " ready", false: " NOT READY"}[r]
		}
		if m, _ := o["message"].(string); m != "" {
			line += ": " + m
		}
		fmt.Fprintln(&w, line)
	}
	if o := s.LastOutage; o != nil {
		fmt.Fprintf(&w, "last outage: lost %v, regained %v, %v restarts, %v corrections", o["lost-at"], o["regained-at"], o["restarts"], o["corrections"])
		if e, _ := o["last-error"].(string); e != "" {
			fmt.Fprintf(&w, ", last error: %s", e)
		}
		fmt.Fprintln(&w)
	}
	return w.String()
}

// writeFacts prints the report's facts: the version and each node.
func writeFacts(w io.Writer, rep map[string]any) {
	version, _ := rep["kubernetes-version"].(string)
	fmt.Fprintf(w, "facts reported at %v: kubernetes %s\n", rep["reported-at"], orDash(version))
	nodes, _ := rep["node"].([]any)
	sort.Slice(nodes, func(i, j int) bool {
		a, _ := nodes[i].(map[string]any)
		b, _ := nodes[j].(map[string]any)
		return fmt.Sprint(a["name"]) < fmt.Sprint(b["name"])
	})
	for _, n := range nodes {
		m, _ := n.(map[string]any)
		ready := "not ready"
		if r, _ := m["ready"].(bool); r {
			ready = "ready"
		}
		fmt.Fprintf(w, "  node %v: %s; labels %s; taints %s\n", m["name"], ready, stepValue(orNone(m["node-label"])), stepValue(orNone(m["taint"])))
	}
}

func orNone(v any) any {
	if v == nil {
		return []any{}
	}
	return v
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return orDash(d)
}
