package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/victorialogs"
)

// BenchmarkLogShipOutage measures issue 14's log-shipping figure — 10,000
// lines/s from one agent to the log store with no loss across a 1-minute
// link outage — on the real path: the agent's shipping code (its spool on
// disk, the agent link's mTLS push; see runLogAgent) in a process of its
// own, a loopback TCP proxy standing for the site's link, the real `amp
// serve` relaying to a real VictoriaLogs (--log-push-url).
//
// Three runs at the same rate, same run:
//   - direct: the agent's shipper pushing straight to the store (no AMP,
//     no link), BASELINE long;
//   - through AMP: the same through the link and AMP, BASELINE long;
//   - outage: through AMP for RUN, the link cut for OUTAGE in the middle
//     (every connection reset, new ones refused) and then restored.
//
// For each: lines produced, lines in the store (counted by LogsQL; every
// line carries its sequence number, so lost = produced − distinct and
// duplicates = lines − distinct; lost beyond the lines the shipper counted
// dropped is a silent loss), the agent's CPU (utime+stime) over the run
// until its last line was delivered, how long after the last line was
// logged that was, and the longest a log call took (a shipper must never
// block its logger). For the outage: the peak of the spool on disk and
// the time from the link's return to an empty spool (drain).
//
//	make bench-logs-outage      # RATE=10000 RUN=3m OUTAGE=1m BASELINE=1m
func BenchmarkLogShipOutage(b *testing.B) {
	rate := envInt(b, "AMP_BENCH_LOG_RATE", 10000)
	run := envDuration(b, "AMP_BENCH_LOG_RUN", 3*time.Minute)
	outage := envDuration(b, "AMP_BENCH_LOG_OUTAGE", time.Minute)
	baseline := envDuration(b, "AMP_BENCH_LOG_BASELINE", time.Minute)
	spoolMax := int64(envInt(b, "AMP_BENCH_LOG_SPOOL_MAX", 0))
	if outage >= run {
		b.Fatalf("an outage of %s in a run of %s", outage, run)
	}
	for range b.N {
		logShipOutage(b, rate, run, outage, baseline, spoolMax)
	}
}

func logShipOutage(b *testing.B, rate int, run, outage, baseline time.Duration, spoolMax int64) {
	b.StopTimer()
	vl := victorialogs.Start(b)
	s := testenv.Start(b, b.TempDir(), "--demo", "--demo-backends=false", "--adapters", "none",
		"--log-push-url", vl.PushURL, "--log-query-url", vl.URL)
	s.Must(b, 201, "POST", "/inventory/v1.0.0", `{"organization":[{"org-id":"acme-org","tenant":"acme"}],
		"site":[{"site-id":"site-log","organization":"acme-org","tenant":"acme"}],
		"cluster":[{"cluster-id":"edge-log","site":"site-log","node":[{"name":"server-1","host":"10.0.1.1","role":["worker"]}]}]}`)
	agent := enrolLogAgent(b, s, "edge-log")
	proxy := newLinkProxy(b, strings.TrimPrefix(s.URL, "https://"))
	agent.Server = proxy.URL()
	agent.Rate, agent.SpoolMax, agent.Settle = rate, spoolMax, 10*time.Minute

	lines := func(d time.Duration) int { return int(float64(rate) * d.Seconds()) }
	direct := agent
	direct.Direct, direct.Component, direct.Lines = vl.PushURL, "logbench-direct", lines(baseline)
	relayed := agent
	relayed.Component, relayed.Lines = "logbench-amp", lines(baseline)
	cut := agent
	cut.Component, cut.Lines = "logbench-outage", lines(run)

	runs := []logShipRun{
		logShipPhase(b, vl.URL, s.PID(), direct, nil, 0, 0),
		logShipPhase(b, vl.URL, s.PID(), relayed, nil, 0, 0),
		logShipPhase(b, vl.URL, s.PID(), cut, proxy, (run-outage)/2, outage),
	}
	for _, r := range runs {
		b.Logf("%-16s %9d lines at %d/s (%d B each): %9d in the store, %d distinct: lost %d (of which counted dropped %d), duplicated %d; "+
			"the last delivered %.1f s after the last logged; agent %.3f cores, AMP %.3f; longest log call %s, producer behind at most %s; %d push failures",
			r.name, r.rep.Produced, rate, r.rep.LineBytes, r.store.lines, r.store.distinct, r.lost(), r.rep.Dropped, r.dups(),
			r.rep.Done.Sub(r.rep.LastLogged).Seconds(), r.cores, r.ampCores, r.rep.MaxCall.Round(time.Microsecond), r.rep.MaxBehind.Round(time.Millisecond), r.rep.Failures)
	}
	o := runs[2]
	bound := "the default"
	if spoolMax > 0 {
		bound = fmt.Sprintf("%d B", spoolMax)
	}
	b.Logf("outage of %s: spool peak %.1f MiB on disk (bound: %s); drained %.1f s after the link returned; agent %.3f cores while draining",
		outage, float64(o.peakSpool)/(1<<20), bound, o.drain.Seconds(), o.drainCores)
	b.ReportMetric(float64(o.rep.Produced), "outage-lines")
	b.ReportMetric(float64(o.lost()), "outage-lost")
	b.ReportMetric(float64(o.rep.Dropped), "outage-dropped")
	b.ReportMetric(float64(o.dups()), "outage-duplicated")
	b.ReportMetric(o.drain.Seconds(), "drain-s")
	b.ReportMetric(float64(o.peakSpool)/(1<<20), "spool-peak-MiB")
	b.ReportMetric(runs[0].cores, "direct-cores")
	b.ReportMetric(runs[1].cores, "amp-cores")
	b.ReportMetric(o.cores, "outage-cores")
	b.ReportMetric(o.drainCores, "drain-cores")
	b.ReportMetric(runs[0].ampCores, "amp-idle-cores")
	b.ReportMetric(runs[1].ampCores, "amp-relay-cores")
	b.ReportMetric(float64(runs[0].lost()+runs[1].lost()), "baseline-lost")
	b.ReportMetric(0, "ns/op")
}

// logShipRun is one run's figures.
type logShipRun struct {
	name              string
	rep               logAgentReport
	store             storeSeqs
	cores, drainCores float64
	ampCores          float64 // amp serve's, over the same time
	peakSpool         int64
	drain, catchUp    time.Duration
}

func (r logShipRun) lost() int { return r.rep.Produced - r.store.distinct }
func (r logShipRun) dups() int { return r.store.lines - r.store.distinct }

// logShipPhase runs the agent side of cfg in its own process (the test
// binary re-executed) with a fresh spool; with a proxy, the link is cut at
// cutAt for outage. ampPID's CPU is measured over the same time.
func logShipPhase(b *testing.B, vlURL string, ampPID int, cfg logAgentConfig, proxy *linkProxy, cutAt, outage time.Duration) logShipRun {
	r := logShipRun{name: cfg.Component}
	cfg.Spool = filepath.Join(b.TempDir(), "log-spool")
	raw, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), logAgentEnv+"="+string(raw))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start, amp0 := time.Now(), procCPU(b, ampPID)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pid := cmd.Process.Pid

	// The spool, sampled until the agent ends.
	var mu sync.Mutex
	var restored, drained time.Time
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			n := spoolBytes(cfg.Spool)
			mu.Lock()
			r.peakSpool = max(r.peakSpool, n)
			if !restored.IsZero() && drained.IsZero() && spoolSegments(cfg.Spool) == 0 {
				drained = time.Now()
			}
			mu.Unlock()
		}
	}()
	var cpuAtRestore float64
	if proxy != nil {
		time.Sleep(time.Until(start.Add(cutAt)))
		proxy.cut()
		b.Logf("%s: link cut at %s", cfg.Component, time.Since(start).Round(time.Second))
		time.Sleep(outage)
		cpuAtRestore = procCPU(b, pid)
		proxy.restore()
		mu.Lock()
		restored = time.Now()
		mu.Unlock()
		b.Logf("%s: link restored at %s, %.1f MiB spooled", cfg.Component, time.Since(start).Round(time.Second), float64(spoolBytes(cfg.Spool))/(1<<20))
	}
	werr := cmd.Wait()
	r.ampCores = (procCPU(b, ampPID) - amp0) / time.Since(start).Seconds()
	close(stop)
	<-sampled
	if err := json.Unmarshal(stdout.Bytes(), &r.rep); err != nil || werr != nil {
		b.Fatalf("%s: the agent side: %v %v\nstdout: %s\nstderr: %.4000s", cfg.Component, werr, err, stdout.Bytes(), stderr.Bytes())
	}
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	r.cores = cpu / r.rep.Done.Sub(start).Seconds()
	if proxy != nil {
		if drained.IsZero() {
			b.Fatalf("%s: the spool never emptied", cfg.Component)
		}
		r.drain = drained.Sub(restored)
		r.drainCores = (cpu - cpuAtRestore) / r.rep.Done.Sub(restored).Seconds()
	}
	r.store = waitSeqs(b, vlURL, cfg.Component, r.rep.Produced, 30*time.Second)
	if r.store.distinct > 0 && (r.store.lo < 0 || r.store.hi >= r.rep.Produced) {
		b.Fatalf("%s: sequence numbers %d..%d in the store, of 0..%d logged", cfg.Component, r.store.lo, r.store.hi, r.rep.Produced-1)
	}
	return r
}
