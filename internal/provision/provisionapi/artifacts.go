package provisionapi

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/provision/render"
	"github.com/amp-edge/amp/internal/schema"
)

// artifactRoutes serves a site's zero-touch artifacts (internal/provision/render):
//
//	GET /provision/{site}/artifacts[?since=INDEX]  the listing
//	GET /provision/{site}/artifacts/{name...}      one artifact's content
//
// Both read the site: operators, and an enterprise admin of the site's
// tenant (the policy decides on the site's path).
func artifactRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /provision/{site}/artifacts", Name: "provision-artifacts", Handler: listArtifacts},
		{Pattern: "GET /provision/{site}/artifacts/{name...}", Name: "provision-artifact", Handler: getArtifact},
	}
}

// caches holds one render cache per engine (a process may run several in
// tests).
var caches sync.Map // *config.Engine → *render.Cache

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/provision/provisionapi")

// ArtifactInfo is one entry of the listing.
type ArtifactInfo struct {
	Name        string `json:"name"`
	Size        int    `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content-type"`
	// Changed (with ?since=) says the artifact is new or its content
	// differs from the one rendered at that index.
	Changed *bool `json:"changed,omitempty"`
}

// ArtifactList is the listing's answer.
type ArtifactList struct {
	Site string `json:"site"`
	// Index is the inventory index the artifacts were rendered from (and
	// hold at: the answer's snapshot is at least as new).
	Index     uint64         `json:"index"`
	Artifacts []ArtifactInfo `json:"artifacts"`
	// Since and Removed (with ?since=): the artifacts rendered at Since
	// that are no longer rendered.
	Since   *uint64  `json:"since,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// rendered authorizes the read of the site and returns its artifacts as of
// the newest snapshot.
func rendered(h compat.Host, r *http.Request) (*render.Rendered, *schema.ModelSet, error) {
	site := r.PathValue("site")
	set, err := inventorySet(h, r.URL.Path)
	if err != nil {
		return nil, nil, err
	}
	path := sitePath(set, site)
	if err := h.Authorize(r, auth.Read, path); err != nil {
		return nil, nil, err
	}
	eng := h.Engine()
	c, _ := caches.LoadOrStore(eng, render.NewCache())
	_, span := tracer.Start(r.Context(), "provision.render")
	span.SetAttributes(attribute.String("site", site))
	start := time.Now()
	rd, fresh, ok, err := c.(*render.Cache).Site(eng.Snapshot(), set, site)
	took := time.Since(start)
	span.SetAttributes(attribute.Bool("rendered", fresh))
	span.End()
	if !ok {
		return nil, nil, schema.Errorf(schema.KindNotFound, path, "no such site")
	}
	m := metricsOf(h)
	if fresh {
		m.renderDuration.Observe(took.Seconds())
		m.renderSites.WithLabelValues("rendered").Inc()
	} else {
		m.renderSites.WithLabelValues("cached").Inc()
	}
	if err != nil {
		return nil, nil, renderErr(path, err)
	}
	return rd, set, nil
}

// renderErr answers a renderer's refusal as a conflict with the inventory
// at the path it names.
func renderErr(path string, err error) error {
	var re *render.Error
	if errors.As(err, &re) {
		return schema.Errorf(schema.KindConflict, re.Path, "%s", re.Reason)
	}
	return schema.Errorf(schema.KindInternal, path, "rendering the site's artifacts: %v", err)
}

func listArtifacts(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	rd, set, err := rendered(h, r)
	if err != nil {
		return err
	}
	since, hasSince, err := h.QueryUint(r, "since")
	if err != nil {
		return err
	}
	var before map[string][32]byte
	if hasSince {
		before, err = renderedAt(h.Engine(), set, rd.Site, since)
		if err != nil {
			return err
		}
	}
	out := ArtifactList{Site: rd.Site, Index: rd.Index, Artifacts: []ArtifactInfo{}}
	for i, a := range rd.Artifacts {
		info := ArtifactInfo{Name: a.Name, Size: len(a.Content), SHA256: hex.EncodeToString(rd.SHA256[i][:]), ContentType: render.ContentType(a.Name)}
		if hasSince {
			old, had := before[a.Name]
			changed := !had || old != rd.SHA256[i]
			info.Changed = &changed
			delete(before, a.Name)
		}
		out.Artifacts = append(out.Artifacts, info)
	}
	if hasSince {
		out.Since = &since
		out.Removed = inventory.Sorted(before)
	}
	return h.WriteJSON(w, http.StatusOK, out)
}

// renderedAt returns the content hashes of the site's artifacts as of a
// past index (none when the site did not exist then).
func renderedAt(eng *config.Engine, set *schema.ModelSet, site string, index uint64) (map[string][32]byte, error) {
	snap, err := eng.At(index, schema.RootKey(set, "")+"/")
	if err != nil {
		return nil, err
	}
	out := map[string][32]byte{}
	old, ok, err := render.Render(snap, set, site)
	if err != nil {
		// The inventory then could not be rendered: every artifact of
		// now counts as changed.
		return out, nil
	}
	if ok {
		for i, a := range old.Artifacts {
			out[a.Name] = old.SHA256[i]
		}
	}
	return out, nil
}

func getArtifact(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	rd, _, err := rendered(h, r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	a, sum, ok := rd.Get(name)
	if !ok {
		return schema.Errorf(schema.KindNotFound, r.URL.Path, "site %s renders no artifact %q", rd.Site, name)
	}
	w.Header().Set("Content-Type", render.ContentType(a.Name))
	w.Header().Set("ETag", `"sha256:`+hex.EncodeToString(sum[:])+`"`)
	w.Header().Set("X-AMP-Inventory-Index", strconv.FormatUint(rd.Index, 10))
	w.Header().Set("Content-Length", strconv.Itoa(len(a.Content)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, err = w.Write(a.Content)
	}
	return err
}
