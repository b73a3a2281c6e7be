package main

import (
	"github.com/spf13/pflag"

	"github.com/amp-edge/amp/internal/telemetry"
)

// tracingFlags adds the trace export flags amp serve and amp agent share
// (docs/monitoring.md, "Traces").
func tracingFlags(f *pflag.FlagSet, t *telemetry.Tracing) {
	f.StringVar(&t.Endpoint, "otlp-endpoint", "", "send OpenTelemetry spans over OTLP/gRPC to this receiver, e.g. http://127.0.0.1:4317 (plaintext) or https://collector:4317 (TLS); default: off (spans only give the logs their trace ids)")
	f.Float64Var(&t.SampleRatio, "trace-sample-ratio", 1, "fraction of new traces exported, 0..1; a span whose parent came with a request or a desired state follows its parent's decision")
}
