package render

import (
	"crypto/sha256"
	"strings"
	"sync"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// Rendered is one site's artifacts as of one inventory index.
type Rendered struct {
	Site string
	// Index is the index of the snapshot the artifacts were rendered from;
	// they hold for every later index until the site's scope changes.
	Index     uint64
	Artifacts []Artifact
	SHA256    [][32]byte // of each artifact's content
	version   uint64     // inventory.ScopeVersion at Index
	// deps are the keys of the top-level objects outside the site its
	// scope holds (device types, manufacturers, organization, clusters).
	deps []string
}

// Get returns the named artifact.
func (r *Rendered) Get(name string) (Artifact, [32]byte, bool) {
	for i, a := range r.Artifacts {
		if a.Name == name {
			return a, r.SHA256[i], true
		}
	}
	return Artifact{}, [32]byte{}, false
}

// Cache keeps each site's last rendering, keyed by the version of the
// site's scope (inventory.ScopeVersion: its subtree, addresses, device
// types, organization and clusters), so a change re-renders only the
// sites whose scope it touched.
type Cache struct {
	mu    sync.Mutex
	sites map[string]*Rendered
	// seen is the index up to which All has accounted for every
	// transaction (0: never ran).
	seen uint64
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{sites: map[string]*Rendered{}} }

// Site returns the site's artifacts as of snap, rendering them only when
// the site's scope changed since the cached rendering (fresh reports
// that). ok is false when the site does not exist in snap.
func (c *Cache) Site(snap *config.Snapshot, set *schema.ModelSet, siteID string) (r *Rendered, fresh, ok bool, err error) {
	v, ok := inventory.ScopeVersion(snap, set, siteID)
	if !ok {
		c.mu.Lock()
		delete(c.sites, siteID)
		c.mu.Unlock()
		return nil, false, false, nil
	}
	c.mu.Lock()
	have := c.sites[siteID]
	c.mu.Unlock()
	if have != nil && have.version == v {
		return have, false, true, nil
	}
	r, ok, err = Render(snap, set, siteID)
	if err != nil || !ok {
		return nil, false, ok, err
	}
	r.version = v
	c.mu.Lock()
	c.sites[siteID] = r
	c.mu.Unlock()
	return r, true, true, nil
}

// Render renders one site's artifacts as of snap, without a cache (the
// artifacts at a past index, from config.Engine.At).
func Render(snap *config.Snapshot, set *schema.ModelSet, siteID string) (*Rendered, bool, error) {
	inv, ok := inventory.LoadScope(snap, set, siteID)
	if !ok {
		return nil, false, nil
	}
	arts, err := Site(inv, inv.Sites[siteID])
	if err != nil {
		return nil, true, err
	}
	r := &Rendered{Site: siteID, Index: snap.Index, Artifacts: arts, SHA256: make([][32]byte, len(arts))}
	for i, a := range arts {
		r.SHA256[i] = sha256.Sum256(a.Content)
	}
	root := schema.RootKey(set, "") + "/"
	for _, id := range inventory.Sorted(inv.DeviceTypes) {
		r.deps = append(r.deps, root+"device-type/"+schema.EscapeSegment(id))
	}
	for _, id := range inventory.Sorted(inv.Manufacturers) {
		r.deps = append(r.deps, root+"manufacturer/"+schema.EscapeSegment(id))
	}
	for _, id := range inventory.Sorted(inv.Organizations) {
		r.deps = append(r.deps, root+"organization/"+schema.EscapeSegment(id))
	}
	for _, id := range inventory.Sorted(inv.Clusters) {
		r.deps = append(r.deps, root+"cluster/"+schema.EscapeSegment(id))
	}
	return r, true, nil
}

// All returns every site's artifacts as of the engine's newest snapshot,
// in site order, and how many sites it rendered. After its first pass it
// does not look at every site: it reads the transactions committed since
// the previous pass and checks (Site) only the sites whose scope they
// touched, so a change to one device costs one site's rendering. When
// that history is no longer retained, every site is checked again.
func (c *Cache) All(eng *config.Engine, set *schema.ModelSet) (out []*Rendered, rendered int, err error) {
	snap := eng.Snapshot()
	root := schema.RootKey(set, "") + "/"
	c.mu.Lock()
	seen := c.seen
	c.mu.Unlock()
	var check map[string]bool // nil: every site
	if seen != 0 && seen <= snap.Index {
		check, err = c.touched(eng, root, seen, snap.Index)
		if err != nil {
			check = nil // history compacted: check them all
		}
	}
	var ids []string
	if check == nil {
		ids = inventory.SiteIDs(snap, set)
	} else {
		ids = inventory.Sorted(check)
	}
	for _, id := range ids {
		_, fresh, _, err := c.Site(snap, set, id)
		if err != nil {
			return nil, rendered, err
		}
		if fresh {
			rendered++
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = snap.Index
	for _, id := range inventory.Sorted(c.sites) {
		out = append(out, c.sites[id])
	}
	return out, rendered, nil
}

// touched returns the sites whose scope the transactions (from, to]
// changed: a site's own subtree, an address of it (before or after),
// a cluster standing on it, or a device type, manufacturer, organization
// or cluster its cached rendering used.
func (c *Cache) touched(eng *config.Engine, root string, from, to uint64) (map[string]bool, error) {
	c.mu.Lock()
	users := map[string][]string{}
	for id, r := range c.sites {
		for _, k := range r.deps {
			users[k] = append(users[k], id)
		}
	}
	c.mu.Unlock()
	out := map[string]bool{}
	for i := from + 1; i <= to; i++ {
		rec, err := eng.Transaction(i)
		if err != nil {
			return nil, err
		}
		for _, ch := range rec.Changes {
			rest, ok := strings.CutPrefix(ch.Key, root)
			if !ok {
				continue
			}
			parts := strings.SplitN(rest, "/", 3)
			if len(parts) < 2 {
				continue
			}
			top := root + parts[0] + "/" + parts[1]
			for _, id := range users[top] {
				out[id] = true
			}
			switch parts[0] {
			case "site":
				if id, err := schema.UnescapeSegment(parts[1]); err == nil {
					out[id] = true
				}
			case "ip-address", "cluster":
				for _, o := range []*config.Object{ch.Before, ch.After} {
					if o != nil && len(parts) == 2 {
						if s, _ := o.Data["site"].(string); s != "" {
							out[s] = true
						}
					}
				}
			}
		}
	}
	return out, nil
}
