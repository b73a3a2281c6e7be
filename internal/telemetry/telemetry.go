// Package telemetry sets up AMP's own logs and traces for every other package
// to use: JSON logs through log/slog, with a level that can be changed at run
// time and the trace and span ids of the request in every record logged with
// a context; and an OpenTelemetry tracer provider whose spans are always
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

// NewLogger returns a JSON logger writing to w at the process-wide Level,
// adding trace_id and span_id from the context of each record.
func NewLogger(w io.Writer) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: Level})
	return slog.New(&traceHandler{h})
}

type traceHandler struct{ slog.Handler }

func (t *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return t.Handler.Handle(ctx, r)
}

func (t *traceHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &traceHandler{t.Handler.WithAttrs(a)}
}

func (t *traceHandler) WithGroup(name string) slog.Handler {
	return &traceHandler{t.Handler.WithGroup(name)}
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
