package edgeapi

import (
	"net/http"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/schema"
)

// chartRoutes serve the chart archives of the helm-release objects
// (docs/lifecycle.md, "Releases at the site"): a site needs no route to
// the git server or the chart repository, only to AMP.
func chartRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /edge/v1/clusters/{cluster}/charts/{digest}", Name: "edge-chart", Handler: chart},
	}
}

// chart serves GET /edge/v1/clusters/{cluster}/charts/{digest}: the
// archive, when the cluster's current desired state names it. The
// policy lets the agent role reach its own cluster's routes only; a
// chart its state does not name is 404, as one that does not exist, so
// an agent learns nothing of other clusters' charts.
func chart(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id, digest := r.PathValue("cluster"), r.PathValue("digest")
	path := edge.LinkPath(id) + "/charts/" + schema.EscapeSegment(digest)
	if err := h.Authorize(r, auth.Read, path); err != nil {
		return err
	}
	hub, err := edge.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	missing := schema.Errorf(schema.KindNotFound, path, "cluster %q's desired state names no chart %s", id, digest)
	named, err := hub.NamesChart(id, digest)
	if err != nil {
		return err
	}
	if !named {
		return missing
	}
	b, err := edge.GetChart(h.Engine().Meta(), digest)
	if err != nil {
		return err
	}
	if b == nil {
		return missing
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("ETag", `"`+digest+`"`)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// chartPaths documents the chart route (GET /spec).
func chartPaths(b compat.SpecBuilder, clusterID *openapi3.ParameterRef) {
	get := operation(b, tagEdge, "getChart", "A chart archive the cluster's desired state names",
		"The .tgz of a helm-release object's chart, by its digest; 404 when the cluster's current desired state names no such chart.")
	r := openapi3.NewResponse().WithDescription("The chart archive (its SHA-256 is the digest).")
	r.Content = openapi3.Content{"application/gzip": &openapi3.MediaType{Schema: val(compat.Described(openapi3.NewStringSchema().WithFormat("binary"), "A Helm chart archive."))}}
	get.Responses.Set("200", &openapi3.ResponseRef{Value: r})
	b.Errors(get, false, false)
	b.Doc().Paths.Set("/edge/v1/clusters/{cluster}/charts/{digest}", &openapi3.PathItem{
		Parameters: openapi3.Parameters{clusterID, pathParam("digest", "sha256:<64 hex digits>.")}, Get: get})
}
