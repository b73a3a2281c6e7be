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
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
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

// SetupTracing installs a tracer provider so every request gets a trace id.
// Spans go to the given exporters (none: they are created for their ids and
// dropped). It returns a shutdown function that flushes the exporters.
func SetupTracing(exporters ...sdktrace.SpanExporter) func(context.Context) error {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(sdktrace.AlwaysSample())}
	for _, e := range exporters {
		opts = append(opts, sdktrace.WithBatcher(e))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown
}
