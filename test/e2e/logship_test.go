package e2e

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/victorialogs"
)

// TestLogShipLinkOutage: an agent logging 5,000 lines/s ships them
// through AMP to the log store; the link between the site and AMP is cut
// for 6 s (every connection reset, new ones refused) and restored. Every
// line logged arrives in the store exactly once — each carries its
// sequence number — none dropped, and the spool is empty after.
func TestLogShipLinkOutage(t *testing.T) {
	vl := victorialogs.Start(t)
	s := testenv.Start(t, t.TempDir(), "--demo", "--demo-backends=false", "--adapters", "none",
		"--log-push-url", vl.PushURL, "--log-query-url", vl.URL)
	s.Must(t, 201, "POST", "/inventory/v1.0.0", probeSites)
	cfg := enrolLogAgent(t, s, "edge-a")
	proxy := newLinkProxy(t, strings.TrimPrefix(s.URL, "https://"))
	cfg.Server, cfg.Spool = proxy.URL(), filepath.Join(t.TempDir(), "log-spool")
	cfg.Component, cfg.Rate, cfg.Lines, cfg.Settle = "outage-test", 5000, 60000, 2*time.Minute

	type result struct {
		rep logAgentReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := runLogAgent(cfg, io.Discard)
		done <- result{rep, err}
	}()
	time.Sleep(3 * time.Second)
	proxy.cut()
	waitWithin(t, 5*time.Second, func() bool { return spoolSegments(cfg.Spool) > 0 }, "lines spooled on disk while the link is cut")
	time.Sleep(6 * time.Second)
	spooled := spoolBytes(cfg.Spool)
	proxy.restore()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.rep.Dropped != 0 {
		t.Fatalf("%d lines dropped with %d bytes spooled", r.rep.Dropped, spooled)
	}
	got := waitSeqs(t, vl.URL, cfg.Component, r.rep.Produced, 30*time.Second)
	if got.distinct != r.rep.Produced || got.lines != r.rep.Produced || got.lo != 0 || got.hi != r.rep.Produced-1 {
		t.Fatalf("%d lines logged (0..%d); the store holds %d lines, %d distinct, %d..%d", r.rep.Produced, r.rep.Produced-1, got.lines, got.distinct, got.lo, got.hi)
	}
	if n := spoolSegments(cfg.Spool); n != 0 {
		t.Fatalf("%d batches left in the spool", n)
	}
}
