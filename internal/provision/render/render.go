// Package render generates a site's zero-touch artifacts (issue 11, book
// chapter 3) from the inventory: the files the site's hardware and tools
// boot and configure from (netplan, DHCP, DNS zones, iPXE, Ansible,
// Terraform variables, Prometheus targets). Rendering is a pure function
// of the inventory: the same inventory renders byte-identical artifacts,
// so their content hashes tell exactly which ones a change affects.
//
// Each kind of artifact is one file of this package that registers its
// Renderer at init; Site runs them all. It imports the inventory reader
// only: serving and writing the artifacts is the callers' job
// (provisionapi, amp provision render).
package render

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// Artifact is one generated file. Name is a slash-separated relative path
// whose first segment is its renderer's Kind, e.g. "netplan/node1.yaml".
type Artifact struct {
	Name    string
	Content []byte
}

// Func renders one kind of artifact for one site of inv. It must be
// deterministic (iterate maps with inventory.Sorted) and must not modify
// inv. An error names what in the inventory stops it.
type Func func(inv *inventory.Inventory, site *inventory.Site) ([]Artifact, error)

// Renderer is one kind of artifact.
type Renderer struct {
	// Kind is the first path segment of every artifact it renders.
	Kind   string
	Render Func
}

// renderers is every registered kind, sorted by Kind.
var renderers []Renderer

// Register adds a kind of artifact; each renderer's file calls it once from
// init. A kind registered twice is a programming error.
func Register(r Renderer) {
	for _, have := range renderers {
		if have.Kind == r.Kind {
			panic("render: kind " + r.Kind + " registered twice")
		}
	}
	renderers = append(renderers, r)
	sort.Slice(renderers, func(i, j int) bool { return renderers[i].Kind < renderers[j].Kind })
}

// Kinds lists the registered kinds, in order.
func Kinds() []string {
	out := make([]string, len(renderers))
	for i, r := range renderers {
		out[i] = r.Kind
	}
	return out
}

// Site renders every kind of artifact for site, sorted by name. It refuses
// an artifact outside its kind's directory, a name that is not a clean
// relative path, and a name rendered twice.
func Site(inv *inventory.Inventory, site *inventory.Site) ([]Artifact, error) {
	var all []Artifact
	seen := map[string]bool{}
	for _, r := range renderers {
		arts, err := r.Render(inv, site)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Kind, err)
		}
		for _, a := range arts {
			if !ValidName(a.Name) || !strings.HasPrefix(a.Name, r.Kind+"/") {
				return nil, fmt.Errorf("%s: bad artifact name %q", r.Kind, a.Name)
			}
			if seen[a.Name] {
				return nil, fmt.Errorf("%s: artifact %q rendered twice", r.Kind, a.Name)
			}
			seen[a.Name] = true
			all = append(all, a)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all, nil
}

// Error is why a site's artifacts cannot be rendered: an inventory path
// (REST form) and the reason.
type Error struct {
	Path, Reason string
}

func (e *Error) Error() string { return e.Path + ": " + e.Reason }

// Errorf is an Error about rel, a path inside site (e.g.
// "device/d1/interface/eno1").
func Errorf(site *inventory.Site, rel, format string, args ...any) *Error {
	p := "/" + inventory.SetName + "/v" + inventory.Version + "/site/" + site.ID
	if rel != "" {
		p += "/" + rel
	}
	return &Error{Path: p, Reason: fmt.Sprintf(format, args...)}
}

// ValidName reports whether name is a clean relative slash path that stays
// inside the directory it is written to (no "..", no leading "/", no empty
// segment): names become file names under amp provision render's DIR.
func ValidName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || strings.ContainsAny(name, "\\\x00") {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// contentTypes maps a name's extension to the Content-Type it is served
// with; anything else is text/plain.
var contentTypes = map[string]string{
	".yaml": "application/yaml",
	".yml":  "application/yaml",
	".json": "application/json",
	".zone": "text/dns", // RFC 4027
}

// ContentType is the media type an artifact is served with, by its name's
// extension.
func ContentType(name string) string {
	if ct, ok := contentTypes[path.Ext(name)]; ok {
		return ct
	}
	return "text/plain; charset=utf-8"
}
