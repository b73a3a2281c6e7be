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
