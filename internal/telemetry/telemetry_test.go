package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestLogsCarryTraceIDsAndLevelChanges(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf)
	shutdown := SetupTracing()
	defer shutdown(context.Background())
	ctx, span := otel.Tracer("t").Start(context.Background(), "op")
	log.InfoContext(ctx, "hello", "k", "v")
	span.End()
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["trace_id"] != span.SpanContext().TraceID().String() || rec["msg"] != "hello" {
		t.Fatalf("record %v", rec)
	}
	buf.Reset()
	Level.Set(slog.LevelWarn)
	defer Level.Set(slog.LevelInfo)
	log.Info("quiet")
	if buf.Len() != 0 {
		t.Fatal("info logged at warn level")
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Fatal("bad level accepted")
	}
}

func TestTracingFlagsAreChecked(t *testing.T) {
	for _, c := range []struct {
		bad  Tracing
		flag string
	}{
		{Tracing{SampleRatio: 1.5}, "--trace-sample-ratio"},
		{Tracing{SampleRatio: -0.1}, "--trace-sample-ratio"},
		{Tracing{Endpoint: "127.0.0.1:4317", SampleRatio: 1}, "--otlp-endpoint"},
		{Tracing{Endpoint: "ftp://x:1", SampleRatio: 1}, "--otlp-endpoint"},
	} {
		if err := c.bad.Check(); err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%+v: %v, want a refusal naming %s", c.bad, err, c.flag)
		}
	}
	if err := (Tracing{Endpoint: "http://127.0.0.1:4317", SampleRatio: 0.1}).Check(); err != nil {
		t.Fatal(err)
	}
}

func TestTraceparentRoundTrips(t *testing.T) {
	shutdown := SetupTracing()
	defer shutdown(context.Background())
	_, span := otel.Tracer("t").Start(context.Background(), "op")
	span.End()
	sc := span.SpanContext()
	tp := Traceparent(sc)
	if tp != "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01" {
		t.Fatalf("traceparent %q of %v", tp, sc)
	}
	if Traceparent(trace.SpanContext{}) != "" {
		t.Fatal("an invalid span context has a traceparent")
	}
}

// TestSamplingFollowsTheParent: at ratio 0 a new trace is not kept, but a
// span whose remote parent was sampled (a REST caller's traceparent, the
// commit a desired state names) is, so a trace is kept whole; at ratio 1
// every new trace is kept.
func TestSamplingFollowsTheParent(t *testing.T) {
	tracer := func(ratio float64) trace.Tracer {
		return sdktrace.NewTracerProvider(sdktrace.WithSampler(Tracing{SampleRatio: ratio}.sampler())).Tracer("t")
	}
	_, root := tracer(0).Start(context.Background(), "new")
	if root.SpanContext().IsSampled() || !root.SpanContext().IsValid() {
		t.Fatalf("ratio 0: a new trace sampled (or without ids): %v", root.SpanContext())
	}
	_, parent := tracer(1).Start(context.Background(), "elsewhere")
	if !parent.SpanContext().IsSampled() {
		t.Fatal("ratio 1: a new trace not sampled")
	}
	remote := trace.ContextWithRemoteSpanContext(context.Background(), parent.SpanContext())
	if _, child := tracer(0).Start(remote, "child"); !child.SpanContext().IsSampled() || child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Fatalf("ratio 0: the child of a sampled parent: %v", child.SpanContext())
	}
}
