package fleetapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
)

// rolloutPaths documents the workflows' and the rollouts' routes.
func rolloutPaths(b compat.SpecBuilder) {
	str := compat.Str
	run := compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"id":       str("The run's id (a rollout's: rollout-<rollout>-<generation>)."),
		"kind":     str("Its kind: fleet-rollout."),
		"subject":  str("The REST path of what it works on."),
		"state":    str("running, succeeded, failed or cancelled."),
		"step":     str("The step it is on (none once ended), e.g. deploy/1."),
		"waiting":  str("What the step waits for (a bake, a gate, clusters to be ready)."),
		"attempts": compat.I64("Failed attempts in a row of the step (retried with backoff)."),
		"reason":   str("Why it failed or was cancelled."),
		"history":  compat.Described(openapi3.NewArraySchema().WithItems(openapi3.NewObjectSchema()), "Each step's outcome: at, step, outcome (started, done, retry, failed, cancelled), note."),
		"data":     compat.Described(openapi3.NewObjectSchema(), "The kind's own durable state."),
	}, "id", "kind", "state"), "A durable workflow run.")
	runRef := &openapi3.SchemaRef{Value: run}

	list := operation(b, "listWorkflows", "List the workflow runs", "Newest first; ?kind= filters. Operators only.")
	list.Parameters = openapi3.Parameters{{Value: openapi3.NewQueryParameter("kind").WithSchema(openapi3.NewStringSchema())}}
	answer(list, "200", "The runs.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{
		"workflows": openapi3.NewArraySchema().WithItems(run)}, "workflows")})
	b.Errors(list, false, false)
	b.Doc().Paths.Set("/workflows", &openapi3.PathItem{Get: list})

	get := operation(b, "getWorkflow", "Read a workflow run", "Its state, step, what it waits on and its history.")
	answer(get, "200", "The run.", runRef)
	b.Errors(get, false, false)
	b.Doc().Paths.Set("/workflows/{id}", &openapi3.PathItem{Parameters: openapi3.Parameters{pathParam("id", "The run's id.")}, Get: get})

	cancel := operation(b, "cancelWorkflow", "Cancel a workflow run", "The run stops before its next step (a rollout leaves its clusters as they are). 409 when it has ended. Audited.")
	answer(cancel, "202", "Cancel requested.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{"id": str("The run."), "note": str("What happens.")}, "id")})
	b.Errors(cancel, false, false)
	b.Doc().Paths.Set("/workflows/{id}/cancel", &openapi3.PathItem{Parameters: openapi3.Parameters{pathParam("id", "The run's id.")}, Post: cancel})

	approve := operation(b, "approveRollout", "Approve a rollout's gate",
		"Lets the next partition start (when its stage's time window allows); 409 when the rollout waits for no approval. Recorded in the rollout's history with the caller's name; audited.")
	answer(approve, "200", "Approved.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{
		"rollout": str("The rollout."), "approved-by": str("Who."), "partition": compat.I64("The partition it lets start (1-based).")}, "rollout")})
	b.Errors(approve, false, false)
	b.Doc().Paths.Set("/fleet/rollouts/{id}/approve", &openapi3.PathItem{Parameters: openapi3.Parameters{pathParam("id", "The rollout-id.")}, Post: approve})

	rollback := operation(b, "rollbackRollout", "Roll a rollout back by hand",
		"Every cluster it moved goes back to the version it had (a running rollout halts first; an ended one gets a run that does only this). 409 when nothing is left to put back. Audited.")
	answer(rollback, "202", "Rolling back.", &openapi3.SchemaRef{Value: compat.Obj(map[string]*openapi3.Schema{
		"rollout": str("The rollout."), "workflow": str("The run doing it.")}, "rollout", "workflow")})
	b.Errors(rollback, false, false)
	b.Doc().Paths.Set("/fleet/rollouts/{id}/rollback", &openapi3.PathItem{Parameters: openapi3.Parameters{pathParam("id", "The rollout-id.")}, Post: rollback})
}
