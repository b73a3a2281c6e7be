package verify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"gopkg.in/yaml.v3"
)

// chartMeta is what the checks read from a Chart.yaml.
type chartMeta struct {
	version     string
	versionLine int
	appVersion  string
}

// imageTag is one image tag found in a values.yaml.
type imageTag struct {
	path string // where in the values, e.g. .image.tag
	tag  string
	line int
}

// checkCharts applies the chart rules to every chart under the directory.
func (c *checker) checkCharts() error {
	dirs, err := c.charts()
	if err != nil {
		return fmt.Errorf("listing charts: %v", err)
	}
	c.report.Charts = len(dirs)
	for _, d := range dirs {
		if err := c.checkChart(d); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) checkChart(dir string) error {
	chartFile := path.Join(dir, "Chart.yaml")
	raw, err := os.ReadFile(c.abs(chartFile))
	if err != nil {
		return fmt.Errorf("%s: %v", chartFile, err)
	}
	meta, err := parseChart(raw)
	if err != nil {
		c.add(Finding{File: chartFile, Rule: RuleChartYAML, Message: err.Error(), Fix: "make Chart.yaml valid YAML with a semver version (helm lint reports the same)"})
		return nil
	}
	current, err := ParseVersion(meta.version)
	if err != nil {
		c.add(Finding{File: chartFile, Line: meta.versionLine, Rule: RuleChartYAML, Message: "chart version is not a semantic version: " + err.Error(),
			Fix: "Helm requires a semver chart version, e.g. 0.1.0"})
		return nil
	}
	valuesFile := path.Join(dir, "values.yaml")
	values, _ := os.ReadFile(c.abs(valuesFile)) // a chart may have no values
	tags, err := imageTags(values)
	if err != nil {
		c.add(Finding{File: valuesFile, Rule: RuleChartYAML, Message: "values.yaml is not YAML: " + err.Error(), Fix: "fix the YAML (helm lint reports the same)"})
	}
	c.checkImageTags(valuesFile, meta, tags)
	if c.base == nil {
		return nil
	}
	return c.checkBump(dir, chartFile, meta, current, tags)
}

// checkImageTags: when a chart's appVersion is the source version (VERSION),
// the chart packages this repository's build, so each image tag in its
// values must be that version (or v plus it); an empty tag is allowed, as
// charts conventionally default it to appVersion.
func (c *checker) checkImageTags(valuesFile string, meta chartMeta, tags []imageTag) {
	if c.version == nil || meta.appVersion == "" {
		return
	}
	app, ok := ParseTag(meta.appVersion)
	if !ok || app.Compare(*c.version) != 0 || app.Build != c.version.Build {
		return
	}
	want := c.report.Version
	for _, t := range tags {
		if t.tag == "" || t.tag == want || t.tag == "v"+want {
			continue
		}
		c.add(Finding{File: valuesFile, Line: t.line, Rule: RuleImageTag,
			Message: fmt.Sprintf("image tag %s is %q, but the chart's appVersion %s says its images are built from this source, version %s", t.path, t.tag, meta.appVersion, want),
			Fix:     fmt.Sprintf("set %s to %s (or leave it empty to default to appVersion)", t.path, want)})
	}
}

// checkBump: a chart whose templates, values or appVersion changed since the
// base must have a greater chart version than at the base.
func (c *checker) checkBump(dir, chartFile string, meta chartMeta, current Version, tags []imageTag) error {
	baseRaw, found, err := c.baseFile(chartFile)
	if err != nil {
		return err
	}
	if !found {
		return nil // a new chart: nothing to bump from
	}
	baseMeta, err := parseChart(baseRaw)
	if err != nil {
		return nil // the base's Chart.yaml was broken: any valid version now is progress
	}
	was, err := ParseVersion(baseMeta.version)
	if err != nil || current.Compare(was) > 0 {
		return nil
	}
	what, err := c.changedSinceBase(dir)
	if err != nil {
		return err
	}
	if baseMeta.appVersion != meta.appVersion { // the images it deploys changed
		what = append(what, fmt.Sprintf("appVersion %s -> %s", baseMeta.appVersion, meta.appVersion))
	}
	if len(what) == 0 {
		return nil
	}
	if baseValues, ok, err := c.baseFile(path.Join(dir, "values.yaml")); err == nil && ok {
		if old, err := imageTags(baseValues); err == nil {
			what = append(what, tagChanges(old, tags)...)
		}
	}
	c.add(Finding{File: chartFile, Line: meta.versionLine, Rule: RuleChartBump,
		Message: fmt.Sprintf("chart changed since %s (%s) but its version %s is not above %s there", c.report.Base, strings.Join(what, ", "), meta.version, baseMeta.version),
		Fix:     fmt.Sprintf("bump version in %s, e.g. to %d.%d.%d", chartFile, was.Major, was.Minor, was.Patch+1)})
	return nil
}

// tagChanges describes image tags whose value differs between two values files.
func tagChanges(old, cur []imageTag) []string {
	was := map[string]string{}
	for _, t := range old {
		was[t.path] = t.tag
	}
	var out []string
	for _, t := range cur {
		if w, ok := was[t.path]; ok && w != t.tag {
			out = append(out, fmt.Sprintf("image tag %s %s -> %s", t.path, w, t.tag))
		}
	}
	return out
}

// changedSinceBase lists the chart's values.yaml and templates/ files (relative
// to the chart) that differ between the base and the working copy: added,
// removed or modified. Uncommitted edits count, so the check also runs
// before a commit.
func (c *checker) changedSinceBase(dir string) ([]string, error) {
	watched := func(rel string) bool { return rel == "values.yaml" || strings.HasPrefix(rel, "templates/") }
	now := map[string]plumbing.Hash{}
	err := filepath.WalkDir(c.abs(dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(c.abs(dir), p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && rel != "templates" && !strings.HasPrefix(rel, "templates/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !watched(rel) || !d.Type().IsRegular() {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		now[rel] = plumbing.ComputeHash(plumbing.BlobObject, raw)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", dir, err)
	}
	then := map[string]plumbing.Hash{}
	sub := c.base // a chart at the repository's root
	if dir != "." {
		sub, err = c.base.Tree(dir)
	}
	switch {
	case errors.Is(err, object.ErrDirectoryNotFound):
	case err != nil:
		return nil, fmt.Errorf("base %s: %s: %v", c.report.Base, dir, err)
	default:
		err = sub.Files().ForEach(func(f *object.File) error {
			if watched(f.Name) {
				then[f.Name] = f.Hash
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("base %s: %s: %v", c.report.Base, dir, err)
		}
	}
	var changed []string
	for name, h := range now {
		if then[name] != h {
			changed = append(changed, name)
		}
	}
	for name := range then {
		if _, ok := now[name]; !ok {
			changed = append(changed, name+" (removed)")
		}
	}
	sort.Strings(changed)
	return changed, nil
}

// baseFile reads a file (relative to the root) at the base.
func (c *checker) baseFile(name string) ([]byte, bool, error) {
	f, err := c.base.File(name)
	if errors.Is(err, object.ErrFileNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("base %s: %s: %v", c.report.Base, name, err)
	}
	s, err := f.Contents()
	if err != nil {
		return nil, false, fmt.Errorf("base %s: %s: %v", c.report.Base, name, err)
	}
	return []byte(s), true, nil
}

func (c *checker) abs(name string) string { return filepath.Join(c.root, filepath.FromSlash(name)) }

func parseChart(raw []byte) (chartMeta, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return chartMeta{}, fmt.Errorf("Chart.yaml is not YAML: %v", err)
	}
	var m chartMeta
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return m, fmt.Errorf("Chart.yaml is not a mapping")
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "version":
			m.version, m.versionLine = v.Value, v.Line
		case "appVersion":
			m.appVersion = v.Value
		}
	}
	if m.version == "" {
		return m, fmt.Errorf("Chart.yaml has no version")
	}
	return m, nil
}

// imageTags finds the image tags of a values file: every scalar under a key
// "tag" (so image.tag too) and the tag of every "image: repo:tag" string.
func imageTags(raw []byte) ([]imageTag, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var out []imageTag
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, ch := range n.Content {
				walk(ch, at)
			}
		case yaml.SequenceNode:
			for i, ch := range n.Content {
				walk(ch, at+"["+strconv.Itoa(i)+"]")
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := at + "." + k.Value
				switch {
				case v.Kind == yaml.ScalarNode && k.Value == "tag":
					out = append(out, imageTag{path: p, tag: v.Value, line: v.Line})
				case v.Kind == yaml.ScalarNode && k.Value == "image":
					if tag, ok := refTag(v.Value); ok {
						out = append(out, imageTag{path: p, tag: tag, line: v.Line})
					}
				default:
					walk(v, p)
				}
			}
		}
	}
	walk(&doc, "")
	return out, nil
}

// refTag returns the tag of an image reference registry:port/repo:tag@digest.
func refTag(ref string) (string, bool) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.Contains(ref[i:], "/") {
		return "", false // no tag, or the colon is a registry's port
	}
	return ref[i+1:], true
}
