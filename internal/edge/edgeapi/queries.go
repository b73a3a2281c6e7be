package edgeapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// queryRoutes are the agents' end of the site queries (wire.SiteQuery;
// docs/monitoring.md, "Site queries"): an agent takes the queries queued
// for its cluster and posts each answer back. The policy lets an agent
// reach its own cluster's routes only, so it can answer its own
// cluster's queries only.
func queryRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /edge/v1/clusters/{cluster}/queries", Name: "edge-queries", Handler: takeQueries},
		{Pattern: "POST /edge/v1/clusters/{cluster}/queries/{id}", Name: "edge-queries", Handler: answerQuery},
	}
}

// takeQueries serves GET /edge/v1/clusters/{cluster}/queries: the queries
// queued for the cluster, each handed out once.
func takeQueries(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("cluster")
	if err := h.Authorize(r, auth.Read, edge.LinkPath(id)+"/queries"); err != nil {
		return err
	}
	hub, err := edge.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, wire.SiteQueries{Queries: hub.TakeQueries(id)})
}

// answerQuery serves POST /edge/v1/clusters/{cluster}/queries/{id}: the
// site Prometheus's answer (a wire.SiteAnswer of at most
// wire.MaxSiteAnswer bytes and a little) to a query of that cluster.
func answerQuery(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id, qid := r.PathValue("cluster"), r.PathValue("id")
	path := edge.LinkPath(id) + "/queries/" + schema.EscapeSegment(qid)
	if err := h.Authorize(r, auth.Write, edge.LinkPath(id)+"/queries"); err != nil {
		return err
	}
	hub, err := edge.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	if err := hub.CheckOpen(id, qid); err != nil {
		return err
	}
	const bound = wire.MaxSiteAnswer + 64<<10 // the answer and its envelope
	body, err := io.ReadAll(io.LimitReader(r.Body, bound+1))
	if err != nil {
		return err
	}
	if len(body) > bound {
		return schema.Errorf(schema.KindTooLarge, path, "the answer is over %d bytes", bound)
	}
	var a wire.SiteAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return schema.Errorf(schema.KindInvalid, path, "not a site answer: %v", err)
	}
	if a.Status != 0 && (a.Status < 100 || a.Status > 599 || !json.Valid(a.Body)) {
		return schema.Errorf(schema.KindInvalid, path+"/body", "status %d with a body that is not Prometheus's JSON", a.Status)
	}
	if err := hub.Answer(id, qid, a); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Component schema names of the site queries.
const (
	schemaSiteQueries = "EdgeSiteQueries"
	schemaSiteAnswer  = "EdgeSiteAnswer"
)

// queryPaths documents the agents' end of the site queries.
func queryPaths(b compat.SpecBuilder, clusterID *openapi3.ParameterRef) {
	str := compat.Str
	b.AddSchema(schemaSiteQueries, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"queries": arr(compat.Obj(map[string]*openapi3.Schema{
			"id":   str("The query's id, to post its answer to."),
			"api":  compat.Described(openapi3.NewStringSchema().WithEnum(wire.APIQuery, wire.APIQueryRange), "The site Prometheus's API to ask."),
			"form": str("Prometheus's parameters, form-encoded, restricted by AMP already."),
		}, "id", "api", "form"), "The queued queries, oldest first."),
	}, "queries"), "Queries for the site's Prometheus, each handed out once."))
	b.AddSchema(schemaSiteAnswer, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"status": compat.I64("Prometheus's HTTP status; 0 when it could not be asked."),
		"body":   compat.Described(openapi3.NewObjectSchema(), "Prometheus's JSON answer, as it is."),
		"error":  str("Why Prometheus could not be asked (status 0)."),
	}, "status"), "The site Prometheus's answer to one query."))

	take := operation(b, tagEdge, "takeSiteQueries", "An agent takes the queries for its site's Prometheus",
		"The cluster's agent only (its certificate), when its desired-state answer carries the Amp-Site-Queries header.")
	answer(take, "200", "The queued queries (possibly none).", b.Ref(schemaSiteQueries))
	post := operation(b, tagEdge, "answerSiteQuery", "An agent posts its site Prometheus's answer to a query",
		"The cluster's agent only (its certificate), for a query of its own cluster that is still open.")
	post.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription("The answer.").WithJSONSchemaRef(b.Ref(schemaSiteAnswer))}
	post.Responses.Set("204", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("Taken.")})
	for _, o := range []*openapi3.Operation{take, post} {
		for _, s := range []int{400, 401, 403, 404, 500, 503} {
			o.Responses.Set(strconv.Itoa(s), b.Problem(s))
		}
	}
	b.Doc().Paths.Set("/edge/v1/clusters/{cluster}/queries", &openapi3.PathItem{Parameters: openapi3.Parameters{clusterID}, Get: take})
	qid := openapi3.NewPathParameter("id").WithSchema(openapi3.NewStringSchema())
	qid.Description = "The query's id."
	b.Doc().Paths.Set("/edge/v1/clusters/{cluster}/queries/{id}", &openapi3.PathItem{Parameters: openapi3.Parameters{clusterID, {Value: qid}}, Post: post})
}
