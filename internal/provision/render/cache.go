package render

import (
	"crypto/sha256"
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
	return r, true, nil
}
