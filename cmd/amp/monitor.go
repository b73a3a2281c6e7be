package main

// The monitor set's layer and wing (docs/monitoring.md): the silences, the commit checks, and the
// adapter that applies alert rules and routes to Prometheus and
// Alertmanager (amp serve --prometheus-rules-dir, --alertmanager-config, …).
import (
	_ "github.com/amp-edge/amp/internal/monitor/monitorapi"
)
