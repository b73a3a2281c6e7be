package rest

import (
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSpansFromHandlerToCommit: one REST write yields spans from the HTTP
// handler through the engine to the store commit, all in one trace.
func TestSpansFromHandlerToCommit(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(prev)
	e := newEnv(t, true)
	e.want(201, "POST", "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1", `{"port":8806,"additionalProperties":{"unchanged":"address"}}`)
	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	root, ok := byName["http model"]
	if !ok {
		t.Fatalf("no http span in %d spans", len(spans))
	}
	for _, name := range []string{"config.Submit", "config.validate", "store.commit"} {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no %s span", name)
		}
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("%s is in another trace", name)
		}
	}
	if byName["config.Submit"].Parent.SpanID() != root.SpanContext.SpanID() {
		t.Error("config.Submit is not a child of the HTTP span")
	}
}
