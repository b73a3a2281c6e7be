package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats Write knows.
const (
	FormatText   = "text"   // FILE[:LINE]: RULE: message (fix: ...), as compilers print
	FormatGitHub = "github" // GitHub Actions workflow commands: ::error file=...::
	FormatJSON   = "json"   // the Report as one JSON object
)

// Write prints the report in a format: one line per finding, then a summary.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // keep "->" readable
		return enc.Encode(struct {
			OK bool `json:"ok"`
			*Report
		}{r.OK(), r})
	case FormatGitHub:
		for _, f := range r.Findings {
			props := "file=" + escapeProperty(f.File)
			if f.Line > 0 {
				props += fmt.Sprintf(",line=%d", f.Line)
			}
			props += ",title=" + escapeProperty("amp verify: "+f.Rule)
			if _, err := fmt.Fprintf(w, "::error %s::%s\n", props, escapeData(f.Message+". Fix: "+f.Fix)); err != nil {
				return err
			}
		}
		for _, n := range r.Notes {
			if _, err := fmt.Fprintf(w, "::warning title=amp verify::%s\n", escapeData(n)); err != nil {
				return err
			}
		}
	case FormatText:
		for _, f := range r.Findings {
			where := f.File
			if f.Line > 0 {
				where += fmt.Sprintf(":%d", f.Line)
			}
			if _, err := fmt.Fprintf(w, "%s: %s: %s (fix: %s)\n", where, f.Rule, f.Message, f.Fix); err != nil {
				return err
			}
		}
		for _, n := range r.Notes {
			if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown format %q (text, github or json)", format)
	}
	_, err := fmt.Fprintln(w, Summary(r))
	return err
}

// Summary is the one-line outcome.
func Summary(r *Report) string {
	outcome := "ok"
	if !r.OK() {
		outcome = fmt.Sprintf("FAILED, %d finding(s)", len(r.Findings))
	}
	version := r.Version
	if version == "" {
		version = "none"
	}
	latest := r.LatestTag
	if latest == "" {
		latest = "none"
	}
	base := r.Base
	if base == "" {
		base = "none"
	}
	return fmt.Sprintf("amp verify: %s (VERSION %s; %d release tag(s), latest %s; %d chart(s); base %s)",
		outcome, version, r.Tags, latest, r.Charts, base)
}

// escapeData and escapeProperty follow the escaping of GitHub's workflow
// commands (actions/toolkit, command.ts): a message must stay on one line.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
