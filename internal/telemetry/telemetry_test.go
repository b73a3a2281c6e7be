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

func TestComponentLevelChangesReachExistingLoggers(t *testing.T) {
	var buf bytes.Buffer
	root := NewLogger(&buf)
	gnmi := root.With(KeyComponent, "t-gnmi")
	rest := root.With(KeyComponent, "t-rest")
	gnmi.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("debug logged at the default info level: %s", buf.String())
	}
	if _, ok := SetComponentLevel("t-gnmi", slog.LevelDebug); !ok {
		t.Fatal("a component with a logger is not known")
	}
	defer ResetComponentLevel("t-gnmi")
	gnmi.Debug("shown")
	rest.Debug("still hidden")
	gnmi.With("k", "v").Debug("derived shown")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("want the two debug lines of t-gnmi, got %s", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal(lines[0], &rec); err != nil || rec["msg"] != "shown" || rec[KeyComponent] != "t-gnmi" || rec["level"] != "DEBUG" {
		t.Fatalf("record %s (%v)", lines[0], err)
	}
	got, ok := LookupComponent("t-gnmi")
	if !ok || got.Level != "debug" || !got.Own {
		t.Fatalf("lookup %+v %v", got, ok)
	}
	if r, _ := LookupComponent("t-rest"); r.Own || r.Level != "info" {
		t.Fatalf("t-rest %+v: should follow the default", r)
	}
	if _, ok := SetComponentLevel("t-nobody", slog.LevelDebug); ok {
		t.Fatal("a component without a logger was set")
	}
	buf.Reset()
	ResetComponentLevel("t-gnmi")
	gnmi.Debug("hidden again")
	if buf.Len() != 0 {
		t.Fatalf("reset did not restore the default: %s", buf.String())
	}
	found := false
	for _, c := range Components() {
		found = found || c.Component == "t-rest"
	}
	if !found {
		t.Fatal("Components does not list t-rest")
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
