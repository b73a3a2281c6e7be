// Package verify checks a source or config repository against the versioning
// strategy of the book's section 4.5, the way a CI step runs it: a VERSION
// file in semver that never regresses against the release tags and carries
// -dev only off them, Helm charts whose version is bumped whenever their
// templates or values change, and image tags that carry the source version.
// It reads the repository with go-git and needs no server.
package verify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// The rules a finding names; docs/lifecycle.md explains each.
const (
	RuleVersionFile   = "version-file"       // VERSION missing or unreadable
	RuleVersionSemver = "version-semver"     // VERSION is not a semantic version
	RuleRegress       = "version-regress"    // VERSION is below a release tag
	RuleBump          = "version-bump"       // a commit after a release tag still carries its version
	RuleTagVersion    = "tag-version"        // a tagged commit's VERSION differs from the tag
	RuleDevOnTag      = "dev-on-release-tag" // a tagged commit's VERSION is -dev
	RuleChartYAML     = "chart-yaml"         // Chart.yaml unreadable or its version not semver
	RuleChartBump     = "chart-version-bump" // chart content changed, chart version did not grow
	RuleImageTag      = "image-tag-version"  // an image tag does not carry the source version
)

// Finding is one failed check: where, which rule, what is wrong and what to do.
type Finding struct {
	File    string `json:"file"` // relative to the repository's root, with slashes
	Line    int    `json:"line,omitempty"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// Tag is a release tag: a tag named vX.Y.Z or X.Y.Z.
type Tag struct {
	Name    string  `json:"name"`
	Commit  string  `json:"commit"`
	Version Version `json:"-"`
}

// Report is the outcome of Check.
type Report struct {
	Version    string    `json:"version,omitempty"` // the VERSION file's content, when readable
	Head       string    `json:"head,omitempty"`
	LatestTag  string    `json:"latest_tag,omitempty"` // the greatest release tag
	Tags       int       `json:"release_tags"`
	Base       string    `json:"base,omitempty"` // what charts are compared against
	BaseCommit string    `json:"base_commit,omitempty"`
	Charts     int       `json:"charts"`
	Notes      []string  `json:"notes,omitempty"` // limits of this run that are not failures
	Findings   []Finding `json:"findings"`
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

// Options tune Check.
type Options struct {
	// Base is the revision charts are compared against; empty means the
	// greatest release tag.
	Base string
}

// Check runs every check on dir, a directory in a git working copy (the
// repository's root or a component's directory in a monorepo: VERSION and
// charts are looked for there, tags are the repository's). Failed checks are
// the report's findings; an error means the repository or the options are
// wrong (the CI step is misconfigured), so nothing was checked.
func Check(dir string, opts Options) (*Report, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("%s: not in a git working copy: %v", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("%s: %v (a bare repository has no files to check)", dir, err)
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	c := &checker{repo: repo, root: root, dir: filepath.ToSlash(rel), report: &Report{Findings: []Finding{}}}
	if err := c.readHistory(); err != nil {
		return nil, err
	}
	c.checkVersion()
	if err := c.resolveBase(opts.Base); err != nil {
		return nil, err
	}
	if err := c.checkCharts(); err != nil {
		return nil, err
	}
	sort.SliceStable(c.report.Findings, func(i, j int) bool {
		a, b := c.report.Findings[i], c.report.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return c.report, nil
}

type checker struct {
	repo    *git.Repository
	root    string // the working copy's root
	dir     string // the checked directory, relative to root ("." for the root)
	head    plumbing.Hash
	tags    []Tag
	latest  *Tag
	version *Version // nil when VERSION is missing or not semver
	base    *object.Tree
	report  *Report
}

// file names a path under the checked directory relative to the root.
func (c *checker) file(name string) string { return path.Join(c.dir, name) }

func (c *checker) add(f Finding) { c.report.Findings = append(c.report.Findings, f) }

// readHistory reads HEAD and the release tags.
func (c *checker) readHistory() error {
	if ref, err := c.repo.Head(); err == nil {
		c.head = ref.Hash()
		c.report.Head = c.head.String()
	} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return fmt.Errorf("reading HEAD: %v", err)
	}
	iter, err := c.repo.Tags()
	if err != nil {
		return fmt.Errorf("reading tags: %v", err)
	}
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		name := ref.Name().Short()
		v, ok := ParseTag(name)
		if !ok {
			return nil // not a release tag
		}
		commit := ref.Hash()
		// An annotated tag points at a tag object; the release is its commit.
		if tag, err := c.repo.TagObject(commit); err == nil {
			if tc, err := tag.Commit(); err == nil {
				commit = tc.Hash
			} else {
				return nil // a tag of a tree or blob names no release
			}
		}
		c.tags = append(c.tags, Tag{Name: name, Commit: commit.String(), Version: v})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading tags: %v", err)
	}
	sort.Slice(c.tags, func(i, j int) bool {
		if d := c.tags[i].Version.Compare(c.tags[j].Version); d != 0 {
			return d > 0
		}
		return c.tags[i].Name < c.tags[j].Name
	})
	c.report.Tags = len(c.tags)
	if len(c.tags) > 0 {
		c.latest = &c.tags[0]
		c.report.LatestTag = c.latest.Name
	} else if shallow, _ := c.repo.Storer.Shallow(); len(shallow) > 0 {
		c.report.Notes = append(c.report.Notes, "shallow clone without release tags: the tag checks saw none; fetch the full history with tags (GitHub: fetch-depth: 0, GitLab: GIT_DEPTH: 0)")
	}
	return nil
}

// checkVersion applies the VERSION rules of the book's section 4.5.
func (c *checker) checkVersion() {
	name := c.file("VERSION")
	raw, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(name)))
	if err != nil {
		msg := "no VERSION file"
		if !errors.Is(err, fs.ErrNotExist) {
			msg = "VERSION is unreadable: " + err.Error()
		}
		c.add(Finding{File: name, Rule: RuleVersionFile, Message: msg,
			Fix: "add a VERSION file holding the semantic version of this source, e.g. 0.1.0-dev"})
		return
	}
	text := strings.TrimSpace(string(raw))
	c.report.Version = text
	v, err := ParseVersion(text)
	if err != nil {
		c.add(Finding{File: name, Line: 1, Rule: RuleVersionSemver, Message: "VERSION is not a semantic version: " + err.Error(),
			Fix: "write MAJOR.MINOR.PATCH with an optional -pre-release and +build, e.g. 1.4.0 or 1.4.1-dev (no leading v)"})
		return
	}
	c.version = &v

	var onHead []Tag
	for _, t := range c.tags {
		if t.Commit == c.head.String() {
			onHead = append(onHead, t)
		}
	}
	for _, t := range onHead {
		if v.Compare(t.Version) != 0 {
			c.add(Finding{File: name, Line: 1, Rule: RuleTagVersion,
				Message: fmt.Sprintf("this commit is tagged %s but VERSION is %s: the tag binds version %s to this commit", t.Name, text, t.Version),
				Fix:     fmt.Sprintf("move tag %s to the commit whose VERSION is %s, or set VERSION to %s on the tagged commit", t.Name, t.Version, t.Version)})
		}
	}
	if len(onHead) > 0 && v.Dev() {
		c.add(Finding{File: name, Line: 1, Rule: RuleDevOnTag,
			Message: fmt.Sprintf("this commit carries release tag %s but VERSION %s is an in-development (-dev) version", onHead[0].Name, text),
			Fix:     "a finalized patch drops -dev: commit VERSION without it and tag that commit"})
	}
	if c.latest == nil {
		return
	}
	switch d := v.Compare(c.latest.Version); {
	case d < 0:
		c.add(Finding{File: name, Line: 1, Rule: RuleRegress,
			Message: fmt.Sprintf("VERSION %s is below release tag %s: versions must not regress", text, c.latest.Name),
			Fix:     fmt.Sprintf("set VERSION above %s, e.g. %s", c.latest.Version, nextDev(c.latest.Version))})
	case d == 0 && len(onHead) == 0:
		c.add(Finding{File: name, Line: 1, Rule: RuleBump,
			Message: fmt.Sprintf("VERSION %s is release %s, but that tag is on commit %.12s and this commit comes after it", text, c.latest.Name, c.latest.Commit),
			Fix:     fmt.Sprintf("bump VERSION past the release: %s while in development, or the next release version", nextDev(c.latest.Version))})
	}
}

// nextDev suggests the in-development version after a release.
func nextDev(v Version) string {
	if len(v.Pre) > 0 { // after 2.0.0-rc.1 comes more of 2.0.0
		return fmt.Sprintf("%d.%d.%d-dev", v.Major, v.Minor, v.Patch)
	}
	return fmt.Sprintf("%d.%d.%d-dev", v.Major, v.Minor, v.Patch+1)
}

// resolveBase finds the tree charts are compared against.
func (c *checker) resolveBase(rev string) error {
	var hash plumbing.Hash
	switch {
	case rev != "":
		h, err := c.repo.ResolveRevision(plumbing.Revision(rev))
		if err != nil {
			return fmt.Errorf("--base %s: not a revision of this repository: %v", rev, err)
		}
		hash, c.report.Base = *h, rev
	case c.latest != nil:
		hash, c.report.Base = plumbing.NewHash(c.latest.Commit), c.latest.Name
	default:
		c.report.Notes = append(c.report.Notes, "no release tag and no --base: chart versions were not compared with a base")
		return nil
	}
	commit, err := c.repo.CommitObject(hash)
	if err != nil {
		return fmt.Errorf("base %s (%s): %v (a shallow clone lacks it: fetch the full history, e.g. fetch-depth: 0)", c.report.Base, hash, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("base %s: %v", c.report.Base, err)
	}
	c.base, c.report.BaseCommit = tree, hash.String()
	return nil
}

// charts lists the chart directories under the checked directory, relative
// to the root.
func (c *checker) charts() ([]string, error) {
	var dirs []string
	start := filepath.Join(c.root, filepath.FromSlash(c.dir))
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "Chart.yaml" {
			rel, err := filepath.Rel(c.root, filepath.Dir(p))
			if err != nil {
				return err
			}
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	return dirs, err
}
