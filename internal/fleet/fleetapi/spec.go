package fleetapi

import (
	"fmt"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/schema"
)

// The layer's part of the OpenAPI document (GET /spec).

const (
	schemaHookAnswer = "FleetHookAnswer"
	tagFleet         = "fleet"
)

var spec = &compat.Spec{
	Reserve: []string{schemaHookAnswer},
	Paths:   paths,
	TagDescriptions: map[string]string{
		tagFleet: "Lifecycle management: the config repos' secrets and webhooks, rollouts' approvals and rollbacks, the durable workflows (docs/lifecycle.md).",
	},
}

func paths(b compat.SpecBuilder, sets []*schema.ModelSet) {
	if len(sets) == 0 {
		return
	}
	str := compat.Str
	b.AddSchema(schemaHookAnswer, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"fetched":  compat.Described(openapi3.NewBoolSchema(), "The repo's branch was fetched."),
		"provider": str("Who signed it: github, gitlab or gitea (Gitea and Gogs)."),
		"revision": str("The commit fetched."),
		"reason":   str("Why nothing was fetched (a push to another branch, a pinned repo)."),
		"error":    str("Why the fetch failed (also in the repo's state)."),
	}, "fetched", "provider"), "What a webhook did."))

	hook := operation(b, "postFleetHook", "A git server's push webhook",
		fmt.Sprintf("Authenticated by its signature only, with the repo's webhook secret: GitHub's X-Hub-Signature-256, GitLab's X-Gitlab-Token, "+
			"Gitea's X-Gitea-Signature or Gogs' X-Gogs-Signature. A push to the branch the repo follows fetches it, and the revision (or why "+
			"not) goes into the repo's state. Body at most %d bytes; %d webhooks per minute per source address.", MaxHookBody, hookSources.PerWindow))
	hook.Security = &openapi3.SecurityRequirements{}
	hook.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
		WithDescription("The push event, as the git server sends it; AMP reads its ref.").WithJSONSchema(openapi3.NewObjectSchema())}
	answer(hook, "200", "Fetched (or the fetch failed: see error).", b.Ref(schemaHookAnswer))
	answer(hook, "202", "Verified, nothing to fetch.", b.Ref(schemaHookAnswer))
	for _, s := range []int{400, 401, 404, 500, 503} {
		hook.Responses.Set(strconv.Itoa(s), b.Problem(s))
	}
	b.Doc().Paths.Set("/fleet/hooks/{repo}", &openapi3.PathItem{
		Parameters: openapi3.Parameters{pathParam("repo", "The git-repo's repo-id.")}, Post: hook})

	put := operation(b, "putFleetSecret", "Set a repo secret",
		"A webhook secret or credentials (\"user:password\" or a token) that git-repo entries name by id; kept in the store's metadata, never answered back.")
	put.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription("The secret.").
		WithJSONSchema(compat.Obj(map[string]*openapi3.Schema{"secret": str("1 to 4096 bytes.")}, "secret"))}
	answer(put, "200", "Set.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{"id": str("The id."), "note": str("A reminder.")}, "id")})
	b.Errors(put, false, false)
	del := operation(b, "deleteFleetSecret", "Delete a repo secret", "The git-repo entries naming it can no longer be verified or fetched with it.")
	answer(del, "200", "Deleted.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{"deleted": str("The id.")}, "deleted")})
	b.Errors(del, false, false)
	b.Doc().Paths.Set("/fleet/secrets/{id}", &openapi3.PathItem{
		Parameters: openapi3.Parameters{pathParam("id", "The secret's id, as git-repo webhook-secret or credentials name it.")}, Put: put, Delete: del})
	rolloutPaths(b)
}

func operation(b compat.SpecBuilder, id, summary, desc string) *openapi3.Operation {
	return &openapi3.Operation{Tags: []string{b.Tag(tagFleet, "")}, OperationID: b.OpID(id), Summary: summary,
		Description: desc, Responses: openapi3.NewResponses()}
}

func answer(o *openapi3.Operation, status, desc string, s *openapi3.SchemaRef) {
	o.Responses.Set(status, &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(desc).WithJSONSchemaRef(s)})
}

func pathParam(name, desc string) *openapi3.ParameterRef {
	p := openapi3.NewPathParameter(name).WithSchema(openapi3.NewStringSchema())
	p.Description = desc
	return &openapi3.ParameterRef{Value: p}
}
