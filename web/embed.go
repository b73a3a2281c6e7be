// Package web holds the portal's TypeScript sources and embeds their build
// output, web/dist (docs/portal.md). The output is built by `make portal`
// and never committed: dist holds a committed README.md, so the embed
// pattern always matches and a binary built without the portal still
// builds (internal/api/portal then serves a page saying how to build it).
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist is the portal's build output: index.html and assets/ once built.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path: fs.Sub cannot fail on it
	}
	return sub
}
