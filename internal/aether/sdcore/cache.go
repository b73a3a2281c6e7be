package sdcore

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/endpoint"
)

// The render cache: what each site rendered last time, with every input it
// read, so Render re-renders only the sites whose inputs changed.
//
// A site's render reads the site object, its walked lists (siteLists) with
// everything below them, the devices and SIM cards its device groups name,
// and the enterprise's applications (with their endpoints) and traffic
// classes its slices and device groups name. Nothing else: other sites
// only meet it in markCollisions, which runs on the whole result every
// time. An input is unchanged when the snapshot still holds the very same
// object (objects are immutable: a change stores a new one; an absent
// object read as absent must still be absent) and, for a subtree, the
// same node of the snapshot's radix tree: the tree copies every node on
// the path to a change, so an equal node means an equal subtree (a change
// that is undone re-renders the site, never the reverse). Besides the
// snapshot, rendering reads the operator's grants (Options.Backends): a
// change to them drops the whole cache.

// siteDeps are the inputs one site's render read.
type siteDeps struct {
	// objects: key -> the object read (nil: read as absent).
	objects map[string]*config.Object
	// subtrees: key prefix -> the radix-tree node holding it (its watch
	// channel, which identifies the node).
	subtrees map[string]<-chan struct{}
}

func newSiteDeps() *siteDeps {
	return &siteDeps{objects: map[string]*config.Object{}, subtrees: map[string]<-chan struct{}{}}
}

func (d *siteDeps) object(key string, o *config.Object) { d.objects[key] = o }

func (d *siteDeps) subtree(snap *config.Snapshot, prefix string) {
	d.subtrees[prefix] = subtreeNode(snap, prefix)
}

// subtreeNode identifies the smallest radix-tree node holding every key
// under prefix (or, when there is none, the node a key under it would be
// added to): any change under prefix replaces it.
func subtreeNode(snap *config.Snapshot, prefix string) <-chan struct{} {
	return snap.Objects.Root().Iterator().SeekPrefixWatch([]byte(prefix))
}

// unchanged reports whether snap still holds every input: the few
// subtrees first, which most edits of a site touch, then the objects read
// one by one (a device group's every device and SIM card).
func (d *siteDeps) unchanged(snap *config.Snapshot) bool {
	for p, n := range d.subtrees {
		if subtreeNode(snap, p) != n {
			return false
		}
	}
	for k, o := range d.objects {
		if now, _ := snap.Get(k); now != o {
			return false
		}
	}
	return true
}

// siteRender is one site's render (before markCollisions) and its inputs.
type siteRender struct {
	deps *siteDeps
	out  map[string]controller.Desired
}

// renderCache holds the last render of every site, by site key. Render
// uses it under Adapter.renderMu.
type renderCache struct {
	sites map[string]*siteRender
	// grants is the grants' change channel the cached renders were made
	// under (nil without Options.Backends).
	grants <-chan struct{}
	// seen are the sites of the render under way; the others are dropped
	// at its end.
	seen map[string]bool
	// rendered and reused count the sites of every render.
	rendered, reused prometheus.Counter
}

// begin starts a render: the cache is dropped if the grants changed since
// it was filled (the channel is taken before rendering, so a change during
// the render drops it next time).
func (c *renderCache) begin(grants *endpoint.Registry) {
	var ch <-chan struct{}
	if grants != nil {
		ch = grants.Changed()
	}
	if c.sites == nil || ch != c.grants {
		c.sites, c.grants = map[string]*siteRender{}, ch
	}
	c.seen = map[string]bool{}
}

// lookup returns the site's cached render if none of its inputs changed.
func (c *renderCache) lookup(snap *config.Snapshot, key string) *siteRender {
	c.seen[key] = true
	sr := c.sites[key]
	if sr == nil || !sr.deps.unchanged(snap) {
		c.rendered.Inc()
		return nil
	}
	c.reused.Inc()
	return sr
}

func (c *renderCache) store(key string, sr *siteRender) { c.sites[key] = sr }

// end drops the sites the render did not meet (deleted).
func (c *renderCache) end() {
	for k := range c.sites {
		if !c.seen[k] {
			delete(c.sites, k)
		}
	}
	c.seen = nil
}
