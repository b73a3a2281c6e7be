package edgeapi

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/probes"
	"github.com/amp-edge/amp/internal/edge/wire"
)

// The probes' service: it puts the stored results back at start-up (the
// metrics and the monitor set's probe-results state) and stores the
// results not yet stored every minute and at shutdown.
func init() {
	component.RegisterService(component.Service{Name: "edge-probes", New: func(env component.Env) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			res, err := probes.For(env.Engine, env.Metrics)
			if err != nil {
				return err
			}
			return res.Run(ctx)
		}
	}})
}

// probeRoutes are the agents' probe pushes (docs/monitoring.md, "Probes").
func probeRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "POST /edge/v1/clusters/{cluster}/probes", Name: "edge-probes", Handler: pushProbes},
	}
}

// pushProbes serves POST /edge/v1/clusters/{cluster}/probes: a
// wire.ProbePush (at most probes.MaxPushBody bytes) from the cluster's
// agent, answered with wire.ProbePushAnswer. The policy lets an agent
// push for its own cluster only.
func pushProbes(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("cluster")
	path := edge.LinkPath(id) + "/probes"
	if err := h.Authorize(r, auth.Write, path); err != nil {
		return err
	}
	res, err := probes.For(h.Engine(), h.Metrics())
	if err != nil {
		return err
	}
	// One byte past the bound is enough to refuse it (413).
	body, err := io.ReadAll(io.LimitReader(r.Body, probes.MaxPushBody+1))
	if err != nil {
		return err
	}
	p, err := probes.DecodePush(body)
	if err != nil {
		res.Refused(1)
		return err
	}
	h.Touch(r, path)
	n, err := res.Record(r.Context(), id, p)
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, wire.ProbePushAnswer{Accepted: n})
}

// Component schema names of the probe push.
const (
	schemaProbePush   = "EdgeProbePush"
	schemaProbeAnswer = "EdgeProbePushAnswer"
)

// probePaths documents the push.
func probePaths(b compat.SpecBuilder, clusterID *openapi3.ParameterRef) {
	str := compat.Str
	result := compat.Obj(map[string]*openapi3.Schema{
		"probe":            str("The probe: control-plane, user-plane or a declared probe's name."),
		"kind":             compat.Described(openapi3.NewStringSchema().WithEnum("http", "tcp", "icmp", "control-plane", "user-plane"), "The probe's kind."),
		"target":           str("What it reached."),
		"ok":               boolean("Whether the run succeeded."),
		"duration-seconds": compat.Described(openapi3.NewFloat64Schema(), "How long the run took, 0 to 600."),
		"at":               compat.Described(openapi3.NewDateTimeSchema(), "When the agent ran it."),
		"message":          str("Why it failed, or what it measured (at most 1 KiB)."),
	}, "probe", "kind", "ok", "duration-seconds", "at")
	b.AddSchema(schemaProbePush, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"results": arr(result, "The results, oldest first, at most 500."),
	}, "results"), "Probe results an agent pushes: one at once after each run, or those it buffered while AMP was out of reach."))
	b.AddSchema(schemaProbeAnswer, compat.Described(compat.Obj(map[string]*openapi3.Schema{
		"accepted": compat.I64("Results taken (a result older than the probe's last one is not)."),
	}, "accepted"), "What AMP took of a probe push."))
	o := operation(b, tagEdge, "pushProbeResults", "An agent pushes probe results",
		"The cluster's agent only (its certificate). Each result newer than the probe's last becomes its amp_edge_probe_ok, "+
			"amp_edge_probe_duration_seconds and amp_edge_last_update_timestamp_seconds at once, and the monitor set's probe-results state. "+
			"A malformed push is refused whole (400, each member named) and changes nothing.")
	o.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription("The results.").WithJSONSchemaRef(b.Ref(schemaProbePush))}
	answer(o, "200", "Taken.", b.Ref(schemaProbeAnswer))
	for _, s := range []int{400, 401, 403, 404, 500, 503} {
		o.Responses.Set(strconv.Itoa(s), b.Problem(s))
	}
	b.Doc().Paths.Set("/edge/v1/clusters/{cluster}/probes", &openapi3.PathItem{Parameters: openapi3.Parameters{clusterID}, Post: o})
}
