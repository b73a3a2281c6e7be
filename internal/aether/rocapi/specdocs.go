package rocapi

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
)

// aether-roc-api serves its OpenAPI documents at these paths and picks the
// encoding from the Accept header. AMP's one generated document describes
// both the Aether 2.1.x model paths and the top-level routes, so both names
// serve it; Aether 2.0.0 and the app gateway are not models AMP serves.
var specDocuments = []string{"/aether-top-level-openapi3.yaml", "/aether-2.1.0-openapi3.yaml"}

// specPage is the HTML form: the document itself, readable without
// JavaScript or anything fetched from elsewhere.
var specPage = template.Must(template.New("spec").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>AMP REST API: {{.Name}}</title></head>
<body><h1>AMP REST API (OpenAPI 3)</h1>
<p>This document as <a href="{{.Name}}?format=json">JSON</a> (Accept: application/json) or YAML (Accept: application/yaml).</p>
<pre>{{.YAML}}</pre></body></html>
`))

// specDocument answers as aether-roc-api's acceptTypes does: JSON when the
// Accept header names application/json, HTML for text/html, otherwise YAML
// (the real server answers 501 to an Accept it does not know, even an
// empty one; the document's name says YAML, so AMP serves that).
func specDocument(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	// The same document as GET /spec, so the same rule (a role that reads
	// configuration; an edge agent's certificate reads none of it).
	if err := h.Authorize(r, auth.Read, "/spec"); err != nil {
		return err
	}
	accept := r.Header.Get("Accept")
	if r.URL.Query().Get("format") == "json" {
		accept = "application/json"
	}
	yaml, ct := true, "application/yaml"
	switch {
	case strings.Contains(accept, "application/json"):
		yaml, ct = false, "application/json"
	case strings.Contains(accept, "text/html"):
		ct = "text/html; charset=utf-8"
	}
	b, err := h.Spec(yaml)
	if errors.Is(err, compat.ErrNoSpec) {
		return schema.Errorf(schema.KindNotFound, r.URL.Path, "no OpenAPI document is configured")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	if ct == "application/yaml" || ct == "application/json" {
		_, err = w.Write(b)
		return err
	}
	return specPage.Execute(w, map[string]string{"Name": r.URL.Path, "YAML": string(b)})
}
