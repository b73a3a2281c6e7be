package testenv

import (
	"context"
	"log/slog"
	"testing"

	"github.com/amp-edge/amp/internal/aether/demo"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// Engine opens a configuration engine with the embedded models on a fresh
// store in a temporary directory (closed when the test ends), loaded with
// the demo data set when withDemo is set. For in-process tests of the
// packages above the engine.
func Engine(t testing.TB, withDemo bool) (*config.Engine, *store.Bolt) {
	t.Helper()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := config.Open(sch, st, config.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(); st.Close() })
	if withDemo {
		if _, err := demo.Load(context.Background(), eng, demo.At("http://demo-backends.invalid")); err != nil {
			t.Fatal(err)
		}
	}
	return eng, st
}
