package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/internal/fleet/verify"
)

func newVerifyCmd() *cobra.Command {
	var base, format string
	cmd := &cobra.Command{
		Use:   "verify [DIR]",
		Short: "Check a repository's VERSION, release tags, Helm chart versions and image tags (for CI)",
		Long: `Verify checks the git working copy DIR (default: the current directory)
against the versioning strategy AMP's lifecycle relies on (docs/lifecycle.md,
"Version checks for CI"). It needs no server and changes nothing:

  version-file        DIR/VERSION exists
  version-semver      it holds a semantic version: MAJOR.MINOR.PATCH[-pre][+build]
  version-regress     it is not below the greatest release tag (vX.Y.Z or X.Y.Z)
  version-bump        it equals a release tag only on the commit that tag points at
  tag-version         a commit carrying a release tag has that tag's version
  dev-on-release-tag  a commit carrying a release tag is not a -dev version
  chart-version-bump  a Helm chart (a directory with Chart.yaml) whose templates/ or
                      values.yaml (image tags included) changed since the base has a
                      greater chart version than at the base
  chart-yaml          Chart.yaml and values.yaml parse; the chart version is semver
  image-tag-version   when a chart's appVersion is the source version (VERSION),
                      every image tag in its values.yaml (keys "tag", "image.tag",
                      strings "image: repo:tag") is VERSION, vVERSION or empty

The base is the greatest release tag, or --base REV (a branch, tag or commit;
e.g. the target branch of a merge request). Uncommitted edits count.

Output: one line per finding, "FILE[:LINE]: RULE: message (fix: …)", then a
summary line; --format github prints GitHub Actions annotations, -o json one
JSON object. Exit status: 0 when every check passes, 1 when one fails, 2 for a
usage or repository error (not a git working copy, unknown --base, a shallow
clone lacking the base). CI must check out the history and tags.`,
		Example: `  # locally, before tagging a release
  amp verify

  # GitHub Actions step (annotations on the files)
  - uses: actions/checkout@v4
    with: {fetch-depth: 0}
  - run: amp verify --format github

  # GitLab CI job (merge requests compare with their target branch)
  verify:
    variables: {GIT_DEPTH: "0"}
    script:
      - amp verify --base "origin/${CI_MERGE_REQUEST_TARGET_BRANCH_NAME:-main}"

  # Jenkinsfile stage, keeping the JSON report
  stage('verify') {
    steps { sh 'amp verify -o json > verify.json' }
    post { always { archiveArtifacts 'verify.json' } }
  }

  # one component of a monorepo
  amp verify services/upf`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			// -o json is the CLI's usual way to ask for JSON; --format says the same.
			switch output, _ := cmd.Flags().GetString("output"); {
			case output == "":
			case output != verify.FormatJSON:
				return usageError{fmt.Errorf("-o %q: amp verify prints text, github (--format) or json", output)}
			case cmd.Flags().Changed("format") && format != verify.FormatJSON:
				return usageError{fmt.Errorf("-o json and --format %s disagree", format)}
			default:
				format = verify.FormatJSON
			}
			switch format {
			case verify.FormatText, verify.FormatGitHub, verify.FormatJSON:
			default:
				return usageError{fmt.Errorf("--format %q: want text, github or json", format)}
			}
			dir := "."
			if len(a) == 1 {
				dir = a[0]
			}
			report, err := verify.Check(dir, verify.Options{Base: base})
			if err != nil { // the repository or the options, not a failed check
				fmt.Fprintf(cmd.ErrOrStderr(), "error: %v\n", err)
				return &cliError{code: 2}
			}
			if err := verify.Write(cmd.OutOrStdout(), report, format); err != nil {
				return err
			}
			if !report.OK() {
				return &cliError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&base, "base", "", "revision the charts are compared with (default: the greatest release tag)")
	cmd.Flags().StringVar(&format, "format", verify.FormatText, "output: text, github (GitHub Actions annotations) or json (also -o json)")
	return cmd
}
