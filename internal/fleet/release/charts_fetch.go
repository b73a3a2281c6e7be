package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/internal/edge"
)

// Bounds of one chart's preparation: a chart directory read from a tree
// (before packing), a chart repository's index, and the archive, which
// the store's metadata must take whole (edge.MaxChart).
const (
	maxTreeBytes  = 16 << 20
	maxTreeFiles  = 10000
	maxIndexBytes = 16 << 20
)

// lasting is a preparation error that trying again will not mend (the
// chart does not load, render or fit); any other is tried again.
type lasting struct{ error }

func permanent(format string, a ...any) error { return lasting{fmt.Errorf(format, a...)} }

// packed is one chart archive of a bundle's path: Dir is the chart's
// subdirectory ("" when the path is itself the chart).
type packed struct {
	Dir     string
	Archive []byte
}

// packageCharts packs the charts at dir of a commit's tree, as Fleet
// reads a path of a GitRepo: dir itself when it holds a Chart.yaml, else
// every immediate subdirectory that holds one (Fleet's multi-chart
// layout), in name order; a subdirectory without a Chart.yaml is not a
// chart and is left out.
func packageCharts(tree *object.Tree, dir string) ([]packed, error) {
	sub := tree
	if dir != "" && dir != "." {
		var err error
		if sub, err = tree.Tree(dir); err != nil {
			return nil, permanent("the commit has no directory %q", dir)
		}
	}
	if _, err := sub.File("Chart.yaml"); err == nil {
		archive, err := packageTree(sub, dir)
		if err != nil {
			return nil, err
		}
		return []packed{{Archive: archive}}, nil
	}
	var out []packed
	for _, e := range sub.Entries {
		if e.Mode != filemode.Dir {
			continue
		}
		child, err := sub.Tree(e.Name)
		if err != nil {
			return nil, err
		}
		if _, err := child.File("Chart.yaml"); err != nil {
			continue
		}
		archive, err := packageTree(child, path.Join(dir, e.Name))
		if err != nil {
			return nil, err
		}
		out = append(out, packed{Dir: e.Name, Archive: archive})
	}
	// Git orders a tree's entries as if directories ended in '/': the
	// releases are applied in plain name order (the agent's).
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	if len(out) == 0 {
		return nil, permanent("%q holds no Chart.yaml, nor subdirectories holding one: a bundle's path is a chart's directory or a directory of charts", dir)
	}
	return out, nil
}

// packageTree packs the chart whose directory is sub (at dir of the
// commit) as helm package does (its .helmignore applied), into an
// archive.
func packageTree(sub *object.Tree, dir string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "amp-chart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "chart")
	var total int64
	files := 0
	err = sub.Files().ForEach(func(f *object.File) error {
		if files++; files > maxTreeFiles {
			return permanent("the chart directory %q holds more than %d files", dir, maxTreeFiles)
		}
		if f.Mode == filemode.Symlink || f.Mode == filemode.Submodule {
			return permanent("%s is a symbolic link or a submodule: a chart packaged by AMP holds files only", path.Join(dir, f.Name))
		}
		if total += f.Size; total > maxTreeBytes {
			return permanent("the chart directory %q holds more than %d bytes", dir, maxTreeBytes)
		}
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		dst := filepath.Join(root, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, r)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadDir(root)
	if err != nil {
		return nil, permanent("the chart at %q does not load: %v", dir, err)
	}
	saved, err := chartutil.Save(ch, tmp)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(saved)
	if err != nil {
		return nil, err
	}
	return reproducible(b)
}

// reproducible rewrites a chart archive with every file's time set to the
// epoch: Helm stamps the moment of packing into each tar header, so the
// same commit packed again (a version rolled out again after its chart was
// collected, or on another replica) would get another digest, and the
// sites would take the unchanged chart for a new one.
func reproducible(archive []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Header.Extra, zw.Header.Comment = zr.Header.Extra, zr.Header.Comment
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		h.ModTime, h.AccessTime, h.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// indexFile is the part of a chart repository's index.yaml AMP reads.
type indexFile struct {
	Entries map[string][]struct {
		Version string   `json:"version"`
		URLs    []string `json:"urls"`
		Digest  string   `json:"digest"`
	} `json:"entries"`
}

// download fetches chart name at version from the chart repository at
// repo: its index, then the archive it names, checked against the
// index's digest.
func download(ctx context.Context, client *http.Client, repo, name, version string) ([]byte, error) {
	base, err := url.Parse(strings.TrimSuffix(repo, "/") + "/")
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, permanent("the chart repository %q is not an http(s):// URL (oci:// registries are not read yet)", repo)
	}
	idxURL := base.JoinPath("index.yaml")
	b, err := get(ctx, client, idxURL.String(), maxIndexBytes)
	if err != nil {
		return nil, err
	}
	var idx indexFile
	if err := yaml.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s is not a chart repository index: %v", idxURL, err)
	}
	for _, e := range idx.Entries[name] {
		if e.Version != version {
			continue
		}
		if len(e.URLs) == 0 {
			return nil, fmt.Errorf("%s names no URL for %s %s", idxURL, name, version)
		}
		u, err := idxURL.Parse(e.URLs[0])
		if err != nil {
			return nil, fmt.Errorf("%s: the URL of %s %s: %v", idxURL, name, version, err)
		}
		archive, err := get(ctx, client, u.String(), edge.MaxChart)
		if err != nil {
			return nil, err
		}
		if e.Digest != "" {
			sum := sha256.Sum256(archive)
			if got := hex.EncodeToString(sum[:]); got != strings.TrimPrefix(e.Digest, "sha256:") {
				return nil, permanent("%s: the archive's sha256 is %s, the index says %s", u, got, e.Digest)
			}
		}
		return archive, nil
	}
	return nil, fmt.Errorf("%s has no chart %s at version %s", idxURL, name, version)
}

// get reads a URL's body, at most max bytes (more is a lasting error:
// the same archive will not shrink).
func get(ctx context.Context, client *http.Client, u string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, permanent("%s: %v", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", u, err)
	}
	if int64(len(b)) > max {
		return nil, permanent("%s is larger than %d bytes", u, max)
	}
	return b, nil
}

// check loads an archive and renders it with values as an install of
// release name in namespace would (the values checked against the chart's
// values.schema.json), so that a chart no site could install is refused
// here, before any rollout stages it; it returns the chart's metadata.
func check(archive []byte, name, namespace string, values map[string]any) (*chart.Metadata, error) {
	if len(archive) > edge.MaxChart {
		return nil, permanent("the chart archive is %d bytes: AMP holds archives of at most %d", len(archive), edge.MaxChart)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		return nil, permanent("the chart does not load: %v", err)
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, values); err != nil {
		return nil, permanent("the chart's dependencies: %v", err)
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, permanent("the values do not fit the chart: %v", err)
	}
	if _, err := engine.Render(ch, vals); err != nil {
		return nil, permanent("the chart does not render: %v", err)
	}
	return ch.Metadata, nil
}

func isLasting(err error) bool {
	var l lasting
	return errors.As(err, &l)
}
