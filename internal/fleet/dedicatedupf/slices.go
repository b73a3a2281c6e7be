package dedicatedupf

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/fleet"
	"github.com/amp-edge/amp/internal/schema"
)

// The sets read by their storage keys.
const (
	aetherSet    = "aether"
	inventorySet = "inventory"
)

// Slice names one Aether slice.
type Slice struct {
	Enterprise string `json:"enterprise"`
	Site       string `json:"site"`
	Slice      string `json:"slice"`
}

func (s Slice) String() string { return s.Enterprise + "/" + s.Site + "/" + s.Slice }

// key is the slice's storage key in set.
func (s Slice) key(set *schema.ModelSet) string {
	return schema.RootKey(set, s.Enterprise) + "/site/" + schema.EscapeSegment(s.Site) + "/slice/" + schema.EscapeSegment(s.Slice)
}

// sitePath is the REST path of the slice's site.
func (s Slice) sitePath(set *schema.ModelSet) string {
	return schema.RESTPrefix(set, s.Enterprise) + "/site/" + schema.EscapeSegment(s.Site)
}

// path is the slice's REST path (a run's subject).
func (s Slice) path(set *schema.ModelSet) string {
	return s.sitePath(set) + "/slice/" + schema.EscapeSegment(s.Slice)
}

// Release is the name of the slice's release, its fleet bundle and its
// UPF object: "upf-" and the slice's id, then a digest of the whole name
// (two enterprises may have a slice of the same id, and the bundles are
// global), within Helm's 53 characters and the ids' rules of both sets.
func (s Slice) Release() string {
	sum := sha256.Sum256([]byte(s.String()))
	id := s.Slice
	if len(id) > 36 {
		id = strings.TrimRight(id[:36], "-")
	}
	return "upf-" + id + "-" + hex.EncodeToString(sum[:3])
}

// sliceOfKey reads a slice's storage key ("aether/2.1.x/acme/site/s1/slice/x").
func sliceOfKey(set *schema.ModelSet, key string) (Slice, bool) {
	rest, ok := strings.CutPrefix(key, set.Name+"/"+set.Version+"/")
	if !ok {
		return Slice{}, false
	}
	segs := strings.Split(rest, "/")
	if len(segs) != 5 || segs[1] != "site" || segs[3] != "slice" {
		return Slice{}, false
	}
	var s Slice
	var err error
	for _, p := range []struct {
		seg string
		to  *string
	}{{segs[0], &s.Enterprise}, {segs[2], &s.Site}, {segs[4], &s.Slice}} {
		if *p.to, err = schema.UnescapeSegment(p.seg); err != nil {
			return Slice{}, false
		}
	}
	return s, true
}

// Request is what a slice asks for: a bundle, at a version ("": the
// bundle's current one).
type Request struct {
	Bundle  string `json:"bundle"`
	Version string `json:"version,omitempty"`
}

func (r Request) String() string {
	if r.Version == "" {
		return r.Bundle
	}
	return r.Bundle + " version " + r.Version
}

// asked is what a slice object asks for (the zero Request: nothing).
func asked(o *config.Object) Request {
	if o == nil {
		return Request{}
	}
	d, _ := o.Data["dedicated-upf"].(map[string]any)
	var r Request
	r.Bundle, _ = d["bundle"].(string)
	if r.Bundle != "" {
		r.Version, _ = d["version"].(string)
	}
	return r
}

// clusterOf is the inventory cluster of an Aether site: the inventory
// site of the enterprise (its tenant) backing it (aether-site), and that
// site's one cluster. None, or several, is an error naming them: which
// one should run the UPF is the operator's to say.
func clusterOf(snap *config.Snapshot, s Slice) (string, error) {
	inv := snap.Schema().Set(inventorySet, "")
	if inv == nil {
		return "", fmt.Errorf("the inventory model set is not loaded")
	}
	root := schema.RootKey(inv, "")
	var sites []string
	fleet.Children(snap, root+"/site/", func(id string, o *config.Object) {
		if t, _ := o.Data["tenant"].(string); t != s.Enterprise {
			return
		}
		list, _ := o.Data["aether-site"].([]any)
		for _, a := range list {
			if a == s.Site {
				sites = append(sites, id)
			}
		}
	})
	if len(sites) != 1 {
		return "", fmt.Errorf("Aether site %s/%s is backed by %d inventory sites (%s): a dedicated UPF needs exactly one (inventory site aether-site and tenant)", s.Enterprise, s.Site, len(sites), strings.Join(sites, ", "))
	}
	var clusters []string
	fleet.Children(snap, root+"/cluster/", func(id string, o *config.Object) {
		if site, _ := o.Data["site"].(string); site == sites[0] {
			clusters = append(clusters, id)
		}
	})
	sort.Strings(clusters)
	if len(clusters) != 1 {
		return "", fmt.Errorf("inventory site %s has %d clusters (%s): a dedicated UPF needs exactly one", sites[0], len(clusters), strings.Join(clusters, ", "))
	}
	return clusters[0], nil
}
