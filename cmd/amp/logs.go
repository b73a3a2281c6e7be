package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newLogsCmd is "amp logs": GET /logs, the LogQL subset over the log
// store (docs/logging.md).
func newLogsCmd(g *globalOpts) *cobra.Command {
	var since time.Duration
	var limit int
	cmd := &cobra.Command{
		Use:   "logs QUERY [--since D] [--limit N] [-e ENTERPRISE] [-o table|json]",
		Short: "Read log lines of AMP and its sites' agents through AMP (an enterprise sees its own sites only)",
		Long: `Read log lines through AMP (GET /logs) with a LogQL stream selector and line
filters: {label op "value", ...} on the labels component, cluster, site and
enterprise, ops = != =~ !~, then |= != |~ !~ "text". An operator reads
every stream; an enterprise's admin or member its own sites' only (-e picks
the enterprise when you hold roles in several). A selector that matches
every stream is refused, as are ranges over 24h and limits over 5000. The
table prints the newest line first with its time and stream; -o json prints
Loki's query_range answer as AMP gives it.

Examples:
  amp logs '{cluster="ace-x"}'
  amp logs '{cluster="ace-x", component="helm"} |= "timeout"' --since 6h
  amp logs '{site="s1"} != "probe"' -e acme --limit 500 -o json
  amp logs '{component="rest"} |= "log level changed"'`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			format, err := g.outputFormat("table", "table", "json")
			if err != nil {
				return err
			}
			if since <= 0 || since > 24*time.Hour {
				return usagef("--since %s is not from 1ns to 24h", since)
			}
			now := time.Now()
			q := url.Values{"query": {a[0]}, "limit": {strconv.Itoa(limit)},
				"start": {strconv.FormatInt(now.Add(-since).UnixNano(), 10)}, "end": {strconv.FormatInt(now.UnixNano(), 10)}}
			if g.enterprise != "" {
				q.Set("enterprise", g.enterprise)
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			body, _, err := g.client().Do(ctx, "GET", "/logs", q, nil, "")
			if err != nil {
				return err
			}
			if format == "json" {
				_, err := cmd.OutOrStdout().Write(append(body, '\n'))
				return err
			}
			return printLogLines(cmd, body)
		}),
	}
	cmd.Flags().DurationVar(&since, "since", time.Hour, "read the last D (at most 24h)")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most N lines, newest first (1..5000)")
	return cmd
}

// printLogLines prints GET /logs's answer newest line first: time,
// stream labels, line.
func printLogLines(cmd *cobra.Command, body []byte) error {
	var ans struct {
		Data struct {
			Result []struct {
				Stream map[string]string `json:"stream"`
				Values [][2]string       `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	type line struct {
		ns     int64
		stream string
		text   string
	}
	var lines []line
	for _, r := range ans.Data.Result {
		keys := make([]string, 0, len(r.Stream))
		for k := range r.Stream {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+r.Stream[k])
		}
		stream := strings.Join(parts, ",")
		for _, v := range r.Values {
			ns, _ := strconv.ParseInt(v[0], 10, 64)
			lines = append(lines, line{ns, stream, v[1]})
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].ns > lines[j].ns })
	w := cmd.OutOrStdout()
	for _, l := range lines {
		if _, err := fmt.Fprintf(w, "%s  {%s}  %s\n", time.Unix(0, l.ns).UTC().Format(time.RFC3339Nano), l.stream, termSafe(l.text)); err != nil {
			return err
		}
	}
	return nil
}
