package edgeapi

import (
	"fmt"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/schema"
)

// The link's part of the OpenAPI document (GET /spec): its routes with
// their parameters, bodies and answers, so a client generates from it and
// the isolation sweeps walk them. The schemas say what internal/edge/wire
// and edge.Status hold, member for member.

// Component schema names; reserved, so no model node takes one.
const (
	schemaDesired = "EdgeDesired"
	schemaCheckin = "EdgeCheckin"
	schemaAnswer  = "EdgeCheckinAnswer"
	schemaStatus  = "EdgeClusterStatus"
	tagEdge       = "edge"
	tagClusters   = "clusters"
)

var spec = &compat.Spec{
	Reserve:    []string{schemaDesired, schemaCheckin, schemaAnswer, schemaStatus, SchemaCredentials, schemaProbePush, schemaProbeAnswer},
	Components: certificateSchemas,
	Paths:      linkPaths,
	TagDescriptions: map[string]string{
		tagEdge: "The agent link: a cluster's agent pulls its desired state and checks in (docs/agent.md).",
	},
}

func val(s *openapi3.Schema) *openapi3.SchemaRef { return &openapi3.SchemaRef{Value: s} }

func arr(items *openapi3.Schema, desc string) *openapi3.Schema {
	a := openapi3.NewArraySchema()
	a.Items = val(items)
	return compat.Described(a, desc)
}

func boolean(desc string) *openapi3.Schema {
	return compat.Described(openapi3.NewBoolSchema(), desc)
}

func anyObject(desc string) *openapi3.Schema {
	return compat.Described(openapi3.NewObjectSchema(), desc)
}

func version(desc string) *openapi3.Schema {
	return compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"index": compat.I64("The transaction at which it last changed."), "digest": compat.Str("Its digest (SHA-256, hex)."),
	}, "index", "digest"), desc)
}

func linkSchemas(b compat.SpecBuilder) {
	str := compat.Str
	object := compat.Obj(map[string]*openapi3.Schema{
		"kind": str("The applier's kind: node, namespace."), "name": str("Its name."),
		"spec":   anyObject("The kind's spec: node {\"labels\":{…},\"taints\":[…]}, namespace {}."),
		"digest": str("SHA-256 of spec, hex."), "index": compat.I64("The transaction at which it last changed."),
	}, "kind", "name", "spec", "digest", "index")
	ref := compat.Obj(map[string]*openapi3.Schema{"kind": str("Kind."), "name": str("Name.")}, "kind", "name")
	b.AddSchema(schemaDesired, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"cluster": str("The cluster."), "index": compat.I64("The state's index: the newest of its objects'."),
		"digest":  str("The digest of the whole state (wire.StateDigest), also the ETag."),
		"full":    boolean("objects is the whole state; false: a delta since ?since="),
		"objects": arr(object, "The whole state, or the objects added or changed."),
		"removed": arr(ref, "In a delta: the objects no longer desired."),
	}, "cluster", "index", "digest", "full", "objects"), "A cluster's desired state, or the change to it."))

	node := compat.Obj(map[string]*openapi3.Schema{
		"name":   str("The node."),
		"labels": compat.Described(openapi3.NewObjectSchema().WithAdditionalProperties(openapi3.NewStringSchema()), "Its labels."),
		"taints": arr(openapi3.NewStringSchema(), "Its taints, key=value:Effect."),
		"ready":  boolean("It reports Ready."),
	}, "name", "ready")
	status := compat.Obj(map[string]*openapi3.Schema{
		"kind": str("Kind."), "name": str("Name."), "digest": str("The spec digest applied."),
		"state":   compat.Described(openapi3.NewStringSchema().WithEnum("applied", "failed", "pending"), "The outcome."),
		"message": str("Why it failed, or the drift corrected."), "at": str("When (RFC 3339)."),
		"drift":   boolean("It had been changed at the site and was restored."),
		"ready":   boolean("Its resources are ready as Kubernetes judges them (helm-release); the message says what is not."),
		"version": str("The version the site runs (helm-release: the bundle version)."),
	}, "kind", "name", "state")
	outage := compat.Obj(map[string]*openapi3.Schema{
		"lost-at": str("When the link was lost."), "regained-at": str("When it came back."),
		"restarts": compat.I64("Agent restarts meanwhile."), "corrections": compat.I64("Drift corrections made meanwhile."),
		"last-error": str("The last error reaching AMP."),
	}, "lost-at", "regained-at")
	b.AddSchema(schemaCheckin, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"agent-version": str("The agent's amp version."), "agent-time": str("The agent's clock (RFC 3339), for the skew report."),
		"facts": compat.Obj(map[string]*openapi3.Schema{"kubernetes-version": str("The cluster's version."),
			"nodes": arr(node, fmt.Sprintf("Its nodes (at most %d).", edge.MaxCheckinNodes))}),
		"applied": version("The desired state the agent holds."),
		"objects": arr(status, fmt.Sprintf("Each object's outcome (at most %d).", edge.MaxCheckinObjects)),
		"outage":  compat.Described(outage, "Once, after the link came back."),
	}, "agent-version", "agent-time", "facts", "applied"), fmt.Sprintf("An agent's check-in (at most %d bytes).", edge.MaxCheckinBody)))
	b.AddSchema(schemaAnswer, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"desired":          version("The current desired state."),
		"checkin-interval": str("When to check in next, e.g. 30s."),
		"renew-now":        boolean("Renew the certificate now."),
		"server-time":      str("AMP's clock (RFC 3339)."),
	}, "desired", "checkin-interval", "server-time"), "What AMP holds for the agent."))

	b.AddSchema(schemaStatus, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"cluster": str("The cluster."), "site": str("Its site."),
		"connected":     boolean("Checked in within two intervals, or waiting for its desired state."),
		"last-seen":     str("When AMP last heard from its agent (RFC 3339)."),
		"agent-version": str("The agent's amp version."), "clock-skew-seconds": compat.I64("The agent's clock minus AMP's."),
		"desired": version("The current desired state."), "applied": version("What the agent holds."),
		"in-sync": boolean("The agent holds the current desired state and reports every object applied."),
		"objects": compat.I64("Objects the agent reported."), "failed": arr(openapi3.NewStringSchema(), "Objects not applied: kind/name: state message."),
		"report":        anyObject("One cluster: the facts its agent reported (the cluster's report state)."),
		"object-states": arr(anyObject("kind, name, state, message, drift, at."), "One cluster: every object's state."),
		"last-outage":   anyObject("One cluster: its agent's last outage."),
	}, "cluster", "connected", "clock-skew-seconds", "desired", "applied", "in-sync", "objects", "failed"), "A cluster's agent link."))
}

func operation(b compat.SpecBuilder, tag, id, summary, desc string) *openapi3.Operation {
	return &openapi3.Operation{Tags: []string{b.Tag(tag, "")}, OperationID: b.OpID(id), Summary: summary,
		Description: desc, Responses: openapi3.NewResponses()}
}

func answer(o *openapi3.Operation, status, desc string, s *openapi3.SchemaRef) *openapi3.Response {
	r := openapi3.NewResponse().WithDescription(desc).WithJSONSchemaRef(s)
	o.Responses.Set(status, &openapi3.ResponseRef{Value: r})
	return r
}

func pathParam(name, desc string) *openapi3.ParameterRef {
	p := openapi3.NewPathParameter(name).WithSchema(openapi3.NewStringSchema())
	p.Description = desc
	return &openapi3.ParameterRef{Value: p}
}

func linkPaths(b compat.SpecBuilder, sets []*schema.ModelSet) {
	if len(sets) == 0 {
		return
	}
	linkSchemas(b)
	clusterID := pathParam("cluster", "The declared cluster's id; an agent's certificate reaches its own only.")

	get := operation(b, tagEdge, "getDesiredState", "A cluster's desired state, by digest",
		fmt.Sprintf("The cluster's agent asks with the digest it holds (If-None-Match) and its index (?since=): 304 while the digest is current after ?wait= "+
			"(default %s, at most %s; answered the moment a commit changes it), else what changed since, or everything (since=0, or older than the history).",
			DefaultWait, MaxWait))
	since := openapi3.NewQueryParameter("since").WithSchema(openapi3.NewInt64Schema())
	since.Description = "The index of the state the agent holds (0: none)."
	wait := openapi3.NewQueryParameter("wait").WithSchema(openapi3.NewStringSchema())
	wait.Description = "How long to wait for a change while the digest is current, a Go duration."
	inm := openapi3.NewHeaderParameter("If-None-Match").WithSchema(openapi3.NewStringSchema())
	inm.Description = `The digest the agent holds, quoted: "<digest>".`
	get.Parameters = openapi3.Parameters{{Value: since}, {Value: wait}, {Value: inm}}
	answer(get, "200", "The change, or the whole state.", b.Ref(schemaDesired))
	get.Responses.Set("304", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("Unchanged: no body.")})
	b.Errors(get, false, false)
	b.Doc().Paths.Set("/edge/v1/clusters/{cluster}/desired", &openapi3.PathItem{Parameters: openapi3.Parameters{clusterID}, Get: get})

	put := operation(b, tagEdge, "putCheckin", "An agent's check-in",
		"Recorded as the cluster's report and agent state, unless it says what the last one said (then nothing is written).")
	put.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription("The check-in.").WithJSONSchemaRef(b.Ref(schemaCheckin))}
	answer(put, "200", "What AMP holds for the agent.", b.Ref(schemaAnswer))
	for _, s := range []int{400, 401, 403, 404, 500, 503} {
		put.Responses.Set(strconv.Itoa(s), b.Problem(s))
	}
	b.Doc().Paths.Set("/edge/v1/clusters/{cluster}/status", &openapi3.PathItem{Parameters: openapi3.Parameters{clusterID}, Put: put})
	certificatePaths(b, clusterID)
	chartPaths(b, clusterID)
	probePaths(b, clusterID)
	queryPaths(b, clusterID)

	one := operation(b, tagClusters, "getClusterStatus", "A cluster's agent link in detail", "For who may read the cluster.")
	answer(one, "200", "Its link, facts, object states and last outage.", b.Ref(schemaStatus))
	b.Errors(one, false, false)
	b.Doc().Paths.Set("/clusters/{name}/status", &openapi3.PathItem{
		Parameters: openapi3.Parameters{pathParam("name", "The declared cluster's id (inventory cluster list).")}, Get: one})
	all := operation(b, tagClusters, "listClusterStatus", "Every cluster's agent link", "The clusters the caller may read.")
	list := openapi3.NewArraySchema()
	list.Items = b.Ref(schemaStatus)
	answer(all, "200", "One summary per cluster.", val(list))
	b.Errors(all, false, false)
	b.Doc().Paths.Set("/clusters/status", &openapi3.PathItem{Get: all})
}
