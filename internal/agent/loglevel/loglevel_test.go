package loglevel

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/telemetry"
)

func TestDeclaredLevelTakesEffectAndGoesBack(t *testing.T) {
	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf).With(telemetry.KeyComponent, "ll-helm")
	a := New()
	spec := []byte(`{"level":"debug"}`)
	if err := a.Validate("ll-helm", spec); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate("ll-nobody", spec); err == nil || !strings.Contains(err.Error(), `no component "ll-nobody"`) {
		t.Fatalf("an unknown component: %v", err)
	}
	if err := a.Validate("ll-helm", []byte(`{"level":"loud"}`)); err == nil || !strings.Contains(err.Error(), "level") {
		t.Fatalf("a bad level: %v", err)
	}
	changed, err := a.Apply(context.Background(), "ll-helm", spec)
	if err != nil || len(changed) != 1 {
		t.Fatalf("apply: %v %v", changed, err)
	}
	log.Debug("now visible")
	if !strings.Contains(buf.String(), "now visible") {
		t.Fatal("the debug line was not logged after the level was applied")
	}
	if again, _ := a.Apply(context.Background(), "ll-helm", spec); len(again) != 0 {
		t.Fatalf("a second apply changed %v", again)
	}
	removed, err := a.Prune(context.Background(), map[string]bool{})
	if err != nil || len(removed) != 1 {
		t.Fatalf("prune: %v %v", removed, err)
	}
	buf.Reset()
	log.Debug("hidden again")
	if buf.Len() != 0 {
		t.Fatalf("debug still logged after the entry went: %s", buf.String())
	}
}
