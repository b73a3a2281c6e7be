// Package deploy tests what operators install: the Helm charts of amp agent
// and amp serve (deploy/helm), the plain manifest of the agent
// (deploy/kubernetes) and its systemd unit (deploy/systemd). The charts are
// loaded, linted and rendered by the Helm SDK and installed into a real
// kube-apiserver (internal/testenv/kube).
package deploy

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/kube"
)

// chartDir is where a chart of deploy/helm lives.
func chartDir(name string) string {
	return filepath.Join(testenv.RepoRoot(), "deploy", "helm", name)
}

func loadChart(t *testing.T, name string) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir(name))
	if err != nil {
		t.Fatalf("load chart %s: %v", name, err)
	}
	return c
}

// values parses values as an operator writes them in a values file.
func values(t *testing.T, yaml string) chartutil.Values {
	t.Helper()
	v, err := chartutil.ReadValues([]byte(yaml))
	if err != nil {
		t.Fatalf("values %q: %v", yaml, err)
	}
	return v
}

// kubeVersion is the Kubernetes the charts are rendered for: the release
// the tests install into.
func kubeVersion(t *testing.T) *chartutil.KubeVersion {
	t.Helper()
	kv, err := chartutil.ParseKubeVersion("v" + kube.Version)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// render renders a chart as `helm template` does (no cluster), returning its
// manifest. The error is the one an operator would see.
func render(t *testing.T, name, release, namespace string, vals chartutil.Values) (string, error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = release, namespace
	install.KubeVersion = kubeVersion(t)
	rel, err := install.Run(loadChart(t, name), vals)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

// objects renders a chart that must render and decodes each object,
// keyed "Kind/name".
func objects(t *testing.T, name string, vals chartutil.Values) map[string]runtime.Object {
	t.Helper()
	manifest, err := render(t, name, name, "amp-test", vals)
	if err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	return decode(t, manifest)
}

func decode(t *testing.T, manifest string) map[string]runtime.Object {
	t.Helper()
	out := map[string]runtime.Object{}
	for _, doc := range releaseutil.SplitManifests(manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("decode rendered object: %v\n%s", err, doc)
		}
		name, err := metaName(obj)
		if err != nil {
			t.Fatal(err)
		}
		key := gvk.Kind + "/" + name
		if _, dup := out[key]; dup {
			t.Fatalf("%s rendered twice", key)
		}
		out[key] = obj
	}
	return out
}

func metaName(obj runtime.Object) (string, error) {
	m, ok := obj.(interface{ GetName() string })
	if !ok {
		return "", fmt.Errorf("%T has no name", obj)
	}
	return m.GetName(), nil
}

func keys(objs map[string]runtime.Object) []string {
	var ks []string
	for k := range objs {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// get returns the object key names, typed, failing the test if it was not
// rendered.
func get[T runtime.Object](t *testing.T, objs map[string]runtime.Object, key string) T {
	t.Helper()
	obj, ok := objs[key]
	if !ok {
		t.Fatalf("%s not rendered; rendered: %v", key, keys(objs))
	}
	typed, ok := obj.(T)
	if !ok {
		t.Fatalf("%s is a %T", key, obj)
	}
	return typed
}
