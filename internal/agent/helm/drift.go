package helm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"
)

// correctDrift compares each object of the deployed release's manifest
// with the live one and, when one differs (or is gone), restores the
// manifest's fields with Helm's three-way merge (the manifest as both the
// old and the new state: only what was changed at the site is patched
// back). It returns what had drifted, e.g. "deployment web: spec.replicas
// 2 -> 5".
func (a *Applier) correctDrift(ctx context.Context, cfg *action.Configuration, rel *release.Release) ([]string, error) {
	_, span := tracer.Start(ctx, "helm.drift")
	defer span.End()
	resources, err := cfg.KubeClient.Build(bytes.NewBufferString(rel.Manifest), false)
	if err != nil {
		return nil, fmt.Errorf("read the release's manifest: %w", err)
	}
	var drift []string
	for _, info := range resources {
		d, err := diff(info)
		if err != nil {
			return nil, err
		}
		drift = append(drift, d...)
	}
	if len(drift) == 0 {
		return nil, nil
	}
	sort.Strings(drift)
	a.o.Metrics.drift()
	if _, err := cfg.KubeClient.Update(resources, resources, false); err != nil {
		return nil, fmt.Errorf("restore the release's objects (%s): %w", strings.Join(drift, "; "), err)
	}
	// Read back: what was restored must now match.
	for _, info := range resources {
		if d, err := diff(info); err != nil || len(d) > 0 {
			if err == nil {
				err = fmt.Errorf("still differs after the restore: %s", strings.Join(d, "; "))
			}
			return nil, err
		}
	}
	return drift, nil
}

// diff compares the manifest's fields of one object with the live
// object's (fields the manifest does not set, and status, are the
// cluster's own).
func diff(info *resource.Info) ([]string, error) {
	kind := strings.ToLower(info.Mapping.GroupVersionKind.Kind)
	live, err := resource.NewHelper(info.Client, info.Mapping).Get(info.Namespace, info.Name)
	if apierrors.IsNotFound(err) {
		return []string{fmt.Sprintf("%s %s: deleted at the site", kind, info.Name)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", kind, info.Name, err)
	}
	want, err := asMap(info.Object)
	if err != nil {
		return nil, err
	}
	have, err := asMap(live)
	if err != nil {
		return nil, err
	}
	delete(want, "status")
	if md, ok := want["metadata"].(map[string]any); ok {
		want["metadata"] = map[string]any{"labels": md["labels"], "annotations": md["annotations"]}
	}
	var out []string
	subset(want, have, "", func(path string, w, h any) {
		out = append(out, fmt.Sprintf("%s %s: %s %s -> %s", kind, info.Name, path, show(w), show(h)))
	})
	return out, nil
}

func asMap(o runtime.Object) (map[string]any, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// subset calls differ for each field of want that have lacks or holds
// another value; lists must have the same length.
func subset(want, have any, path string, differ func(path string, w, h any)) {
	switch w := want.(type) {
	case nil:
		return
	case map[string]any:
		h, _ := have.(map[string]any)
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if w[k] == nil {
				continue
			}
			hv, ok := h[k]
			if !ok {
				differ(p, w[k], nil)
				continue
			}
			subset(w[k], hv, p, differ)
		}
	case []any:
		h, _ := have.([]any)
		if len(h) != len(w) {
			differ(path, fmt.Sprintf("%d items", len(w)), fmt.Sprintf("%d items", len(h)))
			return
		}
		for i := range w {
			subset(w[i], h[i], fmt.Sprintf("%s[%d]", path, i), differ)
		}
	default:
		if !reflect.DeepEqual(want, have) {
			differ(path, want, have)
		}
	}
}

func show(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return s
}
