package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel"
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
