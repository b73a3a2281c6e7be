// Package telemetry sets up AMP's own logs and traces for every other package
// to use: JSON logs through log/slog in one schema (docs/logging.md), with a
// level per component that can be changed at run time and the trace and span
// ids of the request in every record logged with a context; and an OpenTelemetry tracer provider whose spans are always
// created (so trace ids reach the logs) and go to whatever exporters the
// caller installs.
//
// It imports only the standard library and OpenTelemetry.
package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Level is the process-wide log level; set it at run time with SetLevel.
var Level = new(slog.LevelVar)

// ParseLevel turns "debug", "info", "warn" or "error" into a level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger returns a JSON logger writing one record per Write to w. A
// logger made with With("component", NAME) logs at that component's level
// (SetComponentLevel), others at the process-wide Level; each record logged
// with a context carries its trace_id and span_id.
func NewLogger(w io.Writer) *slog.Logger {
	// The JSON handler lets everything through: Enabled below decides.
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.Level(-1 << 10)})
	return slog.New(&schemaHandler{Handler: h})
}

// schemaHandler adds the trace ids and applies the level of the
// component its attributes name.
type schemaHandler struct {
	slog.Handler
	level *componentLevel // nil: no component, the process-wide Level
}

func (t *schemaHandler) Enabled(_ context.Context, l slog.Level) bool {
	if t.level != nil {
		return l >= t.level.get()
	}
	return l >= Level.Level()
}

func (t *schemaHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String(KeyTraceID, sc.TraceID().String()), slog.String(KeySpanID, sc.SpanID().String()))
	}
	return t.Handler.Handle(ctx, r)
}

func (t *schemaHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &schemaHandler{Handler: t.Handler.WithAttrs(as), level: t.level}
	for _, a := range as {
		if a.Key == KeyComponent {
			n.level = component(a.Value.String())
		}
	}
	return n
}

func (t *schemaHandler) WithGroup(name string) slog.Handler {
	return &schemaHandler{Handler: t.Handler.WithGroup(name), level: t.level}
}

// Tracing says where a process sends its spans and how many traces it
// keeps (docs/monitoring.md, "Traces").
type Tracing struct {
	// Endpoint is the OTLP/gRPC receiver, as a URL: http://host:4317
	// (plaintext, e.g. a collector on loopback) or https://host:4317 (TLS
	// with the system's roots). Empty: spans are created for their ids (the
	// logs carry them) and exported nowhere.
	Endpoint string
	// SampleRatio is the fraction of new traces kept, 0..1. A span whose
	// parent came from elsewhere (a REST caller's traceparent, the commit
	// an agent applies) follows its parent's decision, so a trace is kept
	// whole or not at all.
	SampleRatio float64
	// Service names the process in the backend (service.name): amp-serve,
	// amp-agent.
	Service, Version string
	// Attributes are added to the process's resource (the agent's
	// cluster).
	Attributes []attribute.KeyValue
}

// Check says what is wrong with the settings, naming the flag.
func (t Tracing) Check() error {
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		return fmt.Errorf("--trace-sample-ratio %v: want a fraction from 0 to 1", t.SampleRatio)
	}
	if t.Endpoint == "" {
		return nil
	}
	u, err := url.Parse(t.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--otlp-endpoint %q: want an http:// or https:// URL of an OTLP/gRPC receiver, e.g. http://127.0.0.1:4317", t.Endpoint)
	}
	return nil
}

// Setup installs the process's tracer provider from t: spans go to the
// OTLP endpoint when there is one, sampled by parent, else by
// SampleRatio. It returns a shutdown function that flushes them.
func (t Tracing) Setup(ctx context.Context) (func(context.Context) error, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	if t.Endpoint == "" {
		return SetupTracing(), nil
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(t.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("--otlp-endpoint %s: %w", t.Endpoint, err)
	}
	attrs := append([]attribute.KeyValue{attribute.String("service.name", t.Service), attribute.String("service.version", t.Version)}, t.Attributes...)
	return install(t.sampler(), resource.NewSchemaless(attrs...), exp), nil
}

// sampler keeps SampleRatio of new traces and follows a parent's decision.
func (t Tracing) sampler() sdktrace.Sampler {
	return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(t.SampleRatio))
}

// SetupTracing installs a tracer provider so every request gets a trace id.
// Spans go to the given exporters (none: they are created for their ids and
// dropped). It returns a shutdown function that flushes the exporters.
func SetupTracing(exporters ...sdktrace.SpanExporter) func(context.Context) error {
	return install(sdktrace.AlwaysSample(), nil, exporters...)
}

func install(sampler sdktrace.Sampler, res *resource.Resource, exporters ...sdktrace.SpanExporter) func(context.Context) error {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(sampler)}
	if res != nil {
		opts = append(opts, sdktrace.WithResource(res))
	}
	for _, e := range exporters {
		opts = append(opts, sdktrace.WithBatcher(e))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown
}

// Traceparent is the W3C traceparent header value of sc ("" when sc is not
// valid), for carrying a trace where no HTTP request does (the desired
// state an agent pulls).
func Traceparent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), c)
	return c.Get("traceparent")
}
