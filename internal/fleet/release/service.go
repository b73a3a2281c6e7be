package release

import (
	"context"
	"log/slog"

	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/fleet/gitsource"
)

func init() {
	// The charts' preparation: on the leading replica only when replicas
	// share a store; every replica's source reads what it recorded.
	component.RegisterService(component.Service{Name: "fleet-charts", New: func(env component.Env) func(ctx context.Context) error {
		Bind(env.Engine)
		repos := gitsource.ReposFor(env.Engine, gitsource.MetricsFor(env.Metrics))
		repos.CacheUnder(env.DataDir)
		return NewPreparer(env.Engine, repos, MetricsFor(env.Metrics), slog.Default().With("component", "fleet-charts")).Run
	}})
}
