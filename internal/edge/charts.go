package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/store"
)

// MaxChart bounds a chart archive AMP holds: it is kept in the store's
// metadata, one value, which etcd takes up to 1.5 MiB (its request limit).
const MaxChart = 1 << 20

// chartKey is the metadata key of a chart archive.
func chartKey(digest string) string { return "edge-chart/" + digest }

// ChartDigest is the digest a chart archive is addressed by.
func ChartDigest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// PutChart keeps a chart archive in the store's metadata, addressed by
// its content (the same archive twice is one value), so that it survives
// restarts and every replica on one etcd serves it; it returns its digest.
func PutChart(meta store.Meta, b []byte) (string, error) {
	if len(b) > MaxChart {
		return "", fmt.Errorf("the chart archive is %d bytes: AMP holds archives of at most %d", len(b), MaxChart)
	}
	d := ChartDigest(b)
	if have, err := meta.GetMeta(chartKey(d)); err == nil && have != nil {
		return d, nil
	}
	return d, meta.PutMeta(chartKey(d), b)
}

// Charts calls fn with the digest of every chart archive AMP holds.
func Charts(meta store.Meta, fn func(digest string)) error {
	return meta.Metas(chartKey(""), func(key string, _ []byte) error {
		fn(strings.TrimPrefix(key, chartKey("")))
		return nil
	})
}

// DeleteChart removes the chart archive of digest (the fleet's chart
// collection, once no version names it).
func DeleteChart(meta store.Meta, digest string) error { return meta.DeleteMeta(chartKey(digest)) }

// GetChart returns the chart archive of digest (nil: AMP holds none).
func GetChart(meta store.Meta, digest string) ([]byte, error) {
	b, err := meta.GetMeta(chartKey(digest))
	if err != nil || b == nil {
		return nil, err
	}
	if ChartDigest(b) != digest {
		return nil, errors.New("the stored chart archive " + digest + " is damaged")
	}
	return b, nil
}

// NamesChart reports whether cluster id's current desired state holds a
// helm-release whose chart is digest: the only charts its agent may read.
func (h *Hub) NamesChart(id, digest string) (bool, error) {
	h.mu.Lock()
	e, err := h.lookup(id)
	var objs []wire.Object
	if err == nil {
		objs = e.cur.objects
	}
	h.mu.Unlock()
	if err != nil {
		return false, err
	}
	for _, o := range objs {
		if o.Kind != wire.KindHelmRelease {
			continue
		}
		var spec wire.HelmRelease
		if json.Unmarshal(o.Spec, &spec) == nil && spec.Chart.Digest == digest {
			return true, nil
		}
	}
	return false, nil
}
