package logship_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/telemetry"
	"github.com/amp-edge/amp/internal/telemetry/logship"
	"github.com/amp-edge/amp/internal/testenv/victorialogs"
)

// BenchmarkShipToVictoriaLogs: 10,000 log lines per iteration through a
// Shipper (the slog logger, batching, JSON encoding) into a real
// VictoriaLogs, against a baseline measured in the same run: the same
// number of lines pushed straight to the store in ready-made batches.
// It reports both rates, their ratio, and the lines the store lacks at
// the end (lost: must be 0).
//
//	go test -run '^$' -bench BenchmarkShipToVictoriaLogs -benchtime 5x ./internal/telemetry/logship/
func BenchmarkShipToVictoriaLogs(b *testing.B) {
	const perIter = 10000
	vl := victorialogs.Start(b)
	sink := logship.HTTPSink(vl.PushURL, nil)

	// Baseline: the same lines, encoded once beforehand, pushed directly.
	var batches [][]byte
	for i := 0; i < perIter; i += logship.DefaultMaxBatchLines {
		p := logship.Push{Streams: []logship.Stream{{Labels: map[string]string{"component": "baseline"}}}}
		for j := 0; j < logship.DefaultMaxBatchLines; j++ {
			line := fmt.Sprintf(`{"time":"%s","level":"INFO","msg":"bench line","component":"baseline","i":%d}`, time.Now().Format(time.RFC3339Nano), i+j)
			p.Streams[0].Values = append(p.Streams[0].Values, [2]string{fmt.Sprint(time.Now().UnixNano()), line})
		}
		batches = append(batches, mustJSON(b, p))
	}
	sh, err := logship.New(logship.Options{Sink: sink, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	log := telemetry.NewLogger(sh).With(telemetry.KeyComponent, "shipped")
	var direct, shipped time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		t0 := time.Now()
		for _, body := range batches {
			if err := sink(context.Background(), body); err != nil {
				b.Fatal(err)
			}
		}
		direct += time.Since(t0)
		t0 = time.Now()
		for i := 0; i < perIter; i++ {
			log.Info("bench line", "i", i)
		}
		if err := sh.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		shipped += time.Since(t0)
	}
	b.StopTimer()
	lines := float64(b.N * perIter)
	b.ReportMetric(lines/direct.Seconds(), "direct-lines/s")
	b.ReportMetric(lines/shipped.Seconds(), "shipped-lines/s")
	b.ReportMetric(direct.Seconds()/shipped.Seconds(), "shipped/direct")
	var got int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = countB(b, vl, `{component="shipped"}`); got == b.N*perIter {
			break
		}
	}
	b.ReportMetric(float64(b.N*perIter-got), "lost")
}
