package edge_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/telemetry"
)

// TestDesiredCarriesTheCommitsTrace: the desired state a commit changed
// names that commit's trace (W3C traceparent), in full answers and deltas,
// so the agent's pull and apply join the trace of the request; a state
// rebuilt by a commit that does not change it keeps the trace of the
// commit that did.
func TestDesiredCarriesTheCommitsTrace(t *testing.T) {
	defer telemetry.SetupTracing()(context.Background())
	s := newSite(t, clusters)
	h := s.hub(edge.Options{})
	ctx := context.Background()
	full, err := h.Desired(ctx, "ace-x", 0, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if full.Traceparent != "" {
		t.Fatalf("a state no commit changed since start names a trace: %q", full.Traceparent)
	}
	rctx, span := otel.Tracer("test").Start(ctx, "http PUT")
	res, err := s.eng.Submit(rctx, &config.Request{Principal: "test", Edits: []config.Edit{s.edit("ace-x/node/server-1/node-label", `["a=2","zone=east"]`)}})
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	processed(t, h, res.Index)
	tid := span.SpanContext().TraceID().String()
	d, err := h.Desired(ctx, "ace-x", full.Index, full.Digest, 0)
	if err != nil || d == nil || d.Full {
		t.Fatalf("delta: %+v %v", d, err)
	}
	if !strings.HasPrefix(d.Traceparent, "00-"+tid+"-") || !strings.HasSuffix(d.Traceparent, "-01") {
		t.Fatalf("the delta's traceparent %q is not of the commit's trace %s (sampled)", d.Traceparent, tid)
	}
	if whole, _ := h.Desired(ctx, "ace-x", 0, "", 0); whole.Traceparent != d.Traceparent {
		t.Fatalf("the full state names %q, the delta %q", whole.Traceparent, d.Traceparent)
	}

	// A commit elsewhere (the other cluster) leaves this state's trace alone.
	i2 := s.submit(s.edit("ace-y/namespace", `["core"]`))
	processed(t, h, i2)
	if again, _ := h.Desired(ctx, "ace-x", 0, "", 0); again.Traceparent != d.Traceparent {
		t.Fatalf("after an unrelated commit: %q, want %q", again.Traceparent, d.Traceparent)
	}
}
