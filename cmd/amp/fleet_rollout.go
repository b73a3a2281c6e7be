package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

// The rollouts' verbs of "amp fleet" (docs/lifecycle.md, Rollouts).
func newFleetRolloutCmds(g *globalOpts) []*cobra.Command {
	approve := &cobra.Command{
		Use:   "approve ROLLOUT",
		Short: "Approve the gate a rollout waits at (its stage has manual-approval): the next partition starts",
		Long: `Approve the next partition of ROLLOUT: a stage with manual-approval holds
the partition after each of its own until someone approves (and its time
window allows). The approval is recorded in the rollout's history with
your name, and audited.

Examples:
  amp get fleet/rollout/upf-2 -o json   # status: phase gated, waiting-on an approval
  amp fleet approve upf-2`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			part, err := g.client().ApproveRollout(ctx, a[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: partition %d approved\n", a[0], part)
			return nil
		}),
	}
	rollback := &cobra.Command{
		Use:   "rollback ROLLOUT",
		Short: "Put back the clusters a rollout moved to the version they had (a running rollout halts first)",
		Long: `Roll ROLLOUT back by hand: every cluster it staged the new version on gets
back the version it had before (none: the release is removed). A running
rollout halts first; a finished one gets a new workflow run that does only
the rollback. Recorded in the rollout's history as a forward change with
your name, and audited. (A rollout halts and rolls back by itself when a
cluster fails or stays not ready.)

Examples:
  amp fleet rollback upf-2
  amp get fleet/rollout/upf-2 -o json   # status: phase rolled-back, history`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			run, err := g.client().RollbackRollout(ctx, a[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: rolling back (workflow %s)\n", a[0], run)
			return nil
		}),
	}
	status := &cobra.Command{
		Use:   "status [BUNDLE]",
		Short: "Which version of each bundle runs on which clusters, with their states (table; one bundle per cluster; -o json|yaml)",
		Long: `Show each bundle's deployments grouped by the version the sites run
(several versions may be active at once during a rollout), with how many
are in each ranked state (ready, not-ready, pending, out-of-sync, modified,
waiting, error), then each config repo: the revision last fetched, when,
how many fetches (counted across restarts), what started the last one
(webhook or poll) and the last error. With BUNDLE: one line per cluster,
staged and active version, state and why.

Examples:
  amp fleet status
  amp fleet status upf
  amp fleet status upf -o json`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			return fleetDeployments(cmd, g, a, false)
		}),
	}
	diff := &cobra.Command{
		Use:   "diff [BUNDLE]",
		Short: "Deployments whose site does not run what AMP staged: staged vs active version, state and why",
		Long: `List the deployments where the version AMP staged differs from the one
the site's agent reports running, or that are not ready: what a rollout
is still moving, what failed, what drifted. Nothing listed: every site
runs what is staged, ready.

Examples:
  amp fleet diff
  amp fleet diff upf -o json`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			return fleetDeployments(cmd, g, a, true)
		}),
	}
	return []*cobra.Command{approve, rollback, status, diff}
}

// deployment is a bundle's deployment as GET /fleet/v1.0.0/bundle shows it.
type deployment struct {
	Bundle  string `json:"bundle"`
	Cluster string `json:"cluster"`
	Staged  string `json:"staged-version,omitempty"`
	Active  string `json:"active-version,omitempty"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
}

func readDeployments(ctx context.Context, c *client.Client, bundle string) ([]deployment, error) {
	var raws []json.RawMessage
	if bundle != "" {
		raw, _, err := c.Get(ctx, "/fleet/v1.0.0/bundle/"+url.PathEscape(bundle), nil)
		if err != nil {
			return nil, err
		}
		raws = []json.RawMessage{raw}
	} else {
		var err error
		if raws, err = c.GetAll(ctx, "/fleet/v1.0.0/bundle", nil, 0); err != nil {
			return nil, err
		}
	}
	var out []deployment
	for _, raw := range raws {
		var b struct {
			ID         string       `json:"bundle-id"`
			Deployment []deployment `json:"deployment"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		for _, d := range b.Deployment {
			d.Bundle = b.ID
			out = append(out, d)
		}
	}
	return out, nil
}

func fleetDeployments(cmd *cobra.Command, g *globalOpts, a []string, onlyDiff bool) error {
	format, err := g.outputFormat("text", "json", "yaml", "text")
	if err != nil {
		return err
	}
	ctx, cancel := g.context(cmd, 0)
	defer cancel()
	bundle := ""
	if len(a) == 1 {
		bundle = a[0]
	}
	all, err := readDeployments(ctx, g.client(), bundle)
	if err != nil {
		return err
	}
	var ds []deployment
	for _, d := range all {
		if !onlyDiff || d.Staged != d.Active || d.State != "ready" {
			ds = append(ds, d)
		}
	}
	out := cmd.OutOrStdout()
	if format != "text" {
		if ds == nil {
			ds = []deployment{}
		}
		return printAs(out, format, ds)
	}
	if bundle != "" || onlyDiff {
		t := &table{header: []string{"BUNDLE", "CLUSTER", "STAGED", "ACTIVE", "STATE", "MESSAGE"}}
		for _, d := range ds {
			t.rows = append(t.rows, []string{d.Bundle, d.Cluster, orDash(d.Staged), orDash(d.Active), d.State, orDash(termSafe(d.Message))})
		}
		return t.print(out)
	}
	// Per bundle and active version: how many clusters, in which states.
	type key struct{ bundle, version string }
	groups := map[key]map[string]int{}
	var keys []key
	for _, d := range ds {
		k := key{d.Bundle, d.Active}
		if groups[k] == nil {
			groups[k] = map[string]int{}
			keys = append(keys, k)
		}
		groups[k][d.State]++
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].bundle != keys[j].bundle {
			return keys[i].bundle < keys[j].bundle
		}
		return keys[i].version < keys[j].version
	})
	t := &table{header: []string{"BUNDLE", "ACTIVE-VERSION", "CLUSTERS", "STATES"}}
	for _, k := range keys {
		n, parts := 0, []string{}
		for _, s := range []string{"ready", "not-ready", "pending", "out-of-sync", "modified", "waiting", "error"} {
			if c := groups[k][s]; c > 0 {
				n += c
				parts = append(parts, fmt.Sprintf("%s %d", s, c))
			}
		}
		t.rows = append(t.rows, []string{k.bundle, orDash(k.version), fmt.Sprint(n), strings.Join(parts, ", ")})
	}
	if err := t.print(out); err != nil {
		return err
	}
	return printRepos(ctx, g.client(), out)
}

// printRepos prints, after the bundles, each config repo's revision last
// fetched, its fetch count (kept across restarts) and its last error.
func printRepos(ctx context.Context, c *client.Client, out io.Writer) error {
	raws, err := c.GetAll(ctx, "/fleet/v1.0.0/git-repo", nil, 0)
	if err != nil || len(raws) == 0 {
		return err
	}
	t := &table{header: []string{"REPO", "REVISION", "FETCHED-AT", "FETCHES", "TRIGGER", "LAST-ERROR"}}
	for _, raw := range raws {
		var r struct {
			ID     string `json:"repo-id"`
			Status struct {
				Revision  string          `json:"revision"`
				FetchedAt string          `json:"fetched-at"`
				Count     json.RawMessage `json:"fetch-count"`
				Trigger   string          `json:"trigger"`
				LastError string          `json:"last-error"`
			} `json:"status"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		st := r.Status
		t.rows = append(t.rows, []string{r.ID, orDash(st.Revision), orDash(st.FetchedAt), orDash(strings.Trim(string(st.Count), `"`)), orDash(st.Trigger), orDash(termSafe(st.LastError))})
	}
	fmt.Fprintln(out)
	return t.print(out)
}
