package logship_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/telemetry"
	"github.com/amp-edge/amp/internal/telemetry/logship"
	"github.com/amp-edge/amp/internal/testenv/victorialogs"
)

// count asks VictoriaLogs how many lines match a LogsQL query.
func count(t *testing.T, vl *victorialogs.Server, q string) int { return countB(t, vl, q) }

func countB(t testing.TB, vl *victorialogs.Server, q string) int {
	t.Helper()
	resp, err := http.PostForm(vl.URL+"/select/logsql/query", url.Values{"query": {q + " | stats count() n"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("query %q: %s %s", q, resp.Status, b)
	}
	var row struct{ N string }
	if len(strings.TrimSpace(string(b))) == 0 {
		return 0
	}
	if err := json.Unmarshal(b, &row); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	n, _ := strconv.Atoi(row.N)
	return n
}

func waitCount(t *testing.T, vl *victorialogs.Server, q string, want int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = count(t, vl, q); got == want {
			return
		}
	}
	t.Fatalf("%q: %d lines in the store, want %d", q, got, want)
}

// TestLinesSurviveAStoreOutage: lines logged while the store is down
// wait on disk and all arrive once it is back, none twice, labelled with
// the fixed labels and their component.
func TestLinesSurviveAStoreOutage(t *testing.T) {
	vl := victorialogs.Start(t)
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	sh, err := logship.New(logship.Options{Labels: map[string]string{"cluster": "ace-x", "site": "s1", "enterprise": "acme"},
		Sink: logship.HTTPSink(vl.PushURL, nil), Dir: dir, Metrics: logship.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sh.Run(ctx); close(done) }()
	log := telemetry.NewLogger(sh).With(telemetry.KeyComponent, "helm")
	for i := 0; i < 100; i++ {
		log.Info("before the outage", "i", i)
	}
	waitCount(t, vl, `{cluster="ace-x",component="helm"} "before the outage"`, 100)

	vl.Stop()
	for i := 0; i < 500; i++ {
		log.Info("during the outage", "i", i)
	}
	// Wait until they are on disk, not merely pending.
	for deadline := time.Now().Add(30 * time.Second); testutil.ToFloat64(metric(t, reg, "amp_log_buffered_lines")) < 500; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("500 lines not spooled: %v buffered", testutil.ToFloat64(metric(t, reg, "amp_log_buffered_lines")))
		}
	}
	if des, _ := os.ReadDir(dir); len(des) == 0 {
		t.Fatal("nothing in the spool directory during the outage")
	}
	vl.Restart()
	waitCount(t, vl, `{enterprise="acme",site="s1"} "during the outage"`, 500)
	waitCount(t, vl, `*`, 600)
	cancel()
	<-done
	if d := testutil.ToFloat64(metric(t, reg, "amp_log_dropped_lines_total")); d != 0 {
		t.Fatalf("%v lines dropped", d)
	}
	if b := testutil.ToFloat64(metric(t, reg, "amp_log_buffered_lines")); b != 0 {
		t.Fatalf("%v lines still buffered", b)
	}
}

// TestFullSpoolDropsOldestCounted: with the store unreachable and a
// small spool, the oldest batches go and are counted.
func TestFullSpoolDropsOldestCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	sh, err := logship.New(logship.Options{Sink: func(context.Context, []byte) error { return fmt.Errorf("unreachable") },
		Dir: t.TempDir(), MaxSpoolBytes: 4 << 10, Metrics: logship.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	log := telemetry.NewLogger(sh)
	total := 0
	for round := 0; round < 20; round++ {
		for i := 0; i < 10; i++ {
			log.Info("a line of some length to fill the spool", "round", round, "i", i)
			total++
		}
		if err := sh.Flush(context.Background()); err == nil {
			t.Fatal("flush to an unreachable sink succeeded")
		}
	}
	dropped := testutil.ToFloat64(metric(t, reg, "amp_log_dropped_lines_total"))
	buffered := testutil.ToFloat64(metric(t, reg, "amp_log_buffered_lines"))
	if dropped == 0 || int(dropped+buffered) != total {
		t.Fatalf("dropped %v + buffered %v != %d logged", dropped, buffered, total)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func metric(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
			g.Set(v)
			return g
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
