package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/agent/link"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv"
)

// BenchmarkAgentFleet measures issue 12's three targets against the real
// binary, each beside a baseline measured in the same run:
//
//   - enrolment: N clusters declared in one transaction, N tokens minted,
//     then N agents register at once (real P-256 CSRs, real TLS), each from
//     its own loopback address as real sites come from different addresses
//     (POST /clusters/register allows 10 attempts a minute per source),
//     1,000 at a time; reported as seconds per 1,000 (target ≤ 30 s);
//   - the connected fleet: every agent its own TLS client with its own
//     certificate, starting spread evenly over --agent-checkin-interval,
//     one desired-state long-poll (wait 55 s, If-None-Match) always open and
//     a check-in every interval; the server's CPU (utime+stime of /proc/PID/stat) over a steady
//     window, and its RSS (/proc/PID/status) and Go heap (go_memstats) growth
//     per connected agent, against the same server idle with the same
//     clusters enrolled just before the agents connected (targets ≤ 0.5
//     core, ≤ 20 KiB per agent);
//   - fan-out: one declared node label of every cluster changed in ONE
//     transaction; per agent, the time from sending the write to its
//     long-poll answering with the delta holding the new label (p50, p99,
//     max; target p99 ≤ 5 s), beside the write's own duration. An agent that
//     never gets its delta fails the benchmark, named.
//
// The agents run in this process, the server in its own, so the figures are
// the server's alone. Run it with `make bench-agents` (N=1000), or
//
//	AMP_BENCH_AGENTS=10000 AMP_BENCH_WINDOW=2m go test -run '^$' -bench BenchmarkAgentFleet -benchtime 1x -timeout 30m ./test/e2e/
//
// N agents hold N sockets here and N in the server: each process needs its
// file-descriptor limit (ulimit -n) above N plus a few hundred.
func BenchmarkAgentFleet(b *testing.B) {
	f := fleetConfig{
		agents:   envInt(b, "AMP_BENCH_AGENTS", 1000),
		window:   envDuration(b, "AMP_BENCH_WINDOW", 2*time.Minute),
		interval: envDuration(b, "AMP_BENCH_CHECKIN", time.Minute),
	}
	if f.agents < 1 || f.agents > 60000 {
		b.Fatalf("AMP_BENCH_AGENTS=%d: want 1..60000 (one loopback source address each)", f.agents)
	}
	needFiles(b, f.agents)
	for range b.N {
		agentFleet(b, f)
	}
}

// needFiles fails the benchmark unless n agents fit under the
// file-descriptor limit.
func needFiles(b *testing.B, n int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if need := uint64(n) + 512; lim.Cur < need {
		b.Fatalf("the file-descriptor limit is %d, %d agents need %d (N client sockets here, N in the server): Go raises the soft limit to the hard one, %d: raise that (ulimit -Hn %d as root, /etc/security/limits.conf, or systemd's LimitNOFILE)",
			lim.Cur, n, need, lim.Max, need)
	}
}

type fleetConfig struct {
	agents           int
	window, interval time.Duration
}

func agentFleet(b *testing.B, f fleetConfig) {
	b.StopTimer()
	n := f.agents
	args := []string{"--adapters", "none",
		"--agent-checkin-interval", f.interval.String(),
		// One connection per agent for its long-poll, a check-in's for a
		// few seconds a minute, and the operator's: the REST cap sized
		// for the fleet, as an operator of N sites sets it.
		"--max-conns", strconv.Itoa(n + n/4 + 256)}
	if limit := os.Getenv("AMP_BENCH_MEMORY_LIMIT"); limit != "" {
		// A soft memory limit sized for the fleet (docs/operations.md).
		args = append(args, "--memory-limit", limit)
	}
	if addr := os.Getenv("AMP_BENCH_PPROF"); addr != "" {
		// Profiles of the server while the fleet is connected:
		// go tool pprof http://ADDR/debug/pprof/heap
		args = append(args, "--pprof-listen", addr)
	}
	s := testenv.Start(b, b.TempDir(), args...)
	pid := s.PID()
	clusters := make([]string, n)
	var decl bytes.Buffer
	decl.WriteString(`{"cluster":[`)
	for i := range clusters {
		clusters[i] = fmt.Sprintf("site-%05d", i)
		if i > 0 {
			decl.WriteByte(',')
		}
		fmt.Fprintf(&decl, `{"cluster-id":%q,"namespace":["ran"],"node":[{"name":"server-1","host":"10.0.1.1","role":["worker"],"node-label":["zone=east"]}]}`, clusters[i])
	}
	decl.WriteString(`]}`)
	s.Must(b, 201, "POST", "/inventory/v1.0.0", decl.String())

	agents, serverCA, mint, enrol := enrolFleet(b, s, clusters)
	b.Logf("enrolment: %d agents in %.2f s (%.0f/s; %.2f s per 1,000); baseline: minting their %d tokens (16 at a time, with the agents' key and CSR generation) took %.2f s",
		n, enrol.Seconds(), float64(n)/enrol.Seconds(), enrol.Seconds()*1000/float64(n), n, mint.Seconds())

	// The baseline: the same server, the same clusters, no agent connected.
	settle := min(f.window/4, 30*time.Second)
	time.Sleep(settle / 2)
	idle := sampleServer(b, s, pid, settle)
	b.Logf("idle baseline over %v: %.4f cores, RSS %.1f MiB, heap %.1f MiB, stacks %.1f MiB, %v goroutines",
		settle, idle.cores, idle.rss/(1<<20), idle.heap/(1<<20), idle.stack/(1<<20), idle.goroutines)

	// The fleet connects: full state, then check-ins spread evenly over the
	// interval and a long-poll always open.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failed fleetFailures
	defer func() { cancel(); wg.Wait() }()
	for i, a := range agents {
		a.connect(serverCA)
		defer a.tr.CloseIdleConnections()
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.run(ctx, time.Duration(i)*f.interval/time.Duration(n), f.interval, &failed)
		}()
	}
	// Ready when every agent waits on the server and has checked in once.
	for deadline := time.Now().Add(f.interval + 2*time.Minute); ; time.Sleep(2 * time.Second) {
		failed.check(b)
		waiting, checkins := metricFloat(b, s, "amp_edge_waiting_agents"), checkedIn(agents)
		if waiting == float64(n) && checkins == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the fleet never settled: %v of %d agents waiting, %d checked in", waiting, n, checkins)
		}
	}
	proto := agents[0].proto.Load()

	busy := sampleServer(b, s, pid, f.window)
	failed.check(b)
	cores := busy.cores - idle.cores
	rssPer := (busy.rss - idle.rss) / float64(n) / 1024
	heapPer := (busy.heap - idle.heap) / float64(n) / 1024
	stackPer := (busy.stack - idle.stack) / float64(n) / 1024
	b.Logf("%d agents connected (%v) over %v: %.4f cores (idle %.4f), RSS %.1f MiB (idle %.1f) = %.1f KiB per agent, heap %.1f MiB (idle %.1f) = %.1f KiB per agent, stacks %.1f KiB per agent, %.2f goroutines per agent",
		n, proto, f.window, busy.cores, idle.cores, busy.rss/(1<<20), idle.rss/(1<<20), rssPer, busy.heap/(1<<20), idle.heap/(1<<20), heapPer,
		stackPer, (busy.goroutines-idle.goroutines)/float64(n))

	// Fan-out: one label of every cluster, one transaction.
	var change bytes.Buffer
	change.WriteString(`{"cluster":[`)
	for i, c := range clusters {
		if i > 0 {
			change.WriteByte(',')
		}
		fmt.Fprintf(&change, `{"cluster-id":%q,"node":[{"name":"server-1","node-label":["zone=west"]}]}`, c)
	}
	change.WriteString(`]}`)
	sent := time.Now()
	s.Must(b, 201, "POST", "/inventory/v1.0.0", change.String())
	commit := time.Since(sent)
	if got := strings.TrimSpace(string(s.Must(b, 200, "GET", "/inventory/v1.0.0/cluster/"+clusters[n-1]+"/node/server-1/node-label", ""))); got != `["zone=west"]` {
		b.Fatalf("the change declared node-label %s, want [\"zone=west\"]", got)
	}
	lat := fanout(b, agents, sent, &failed, 2*time.Minute)
	b.Logf("fan-out to %d agents: p50 %.3f s, p99 %.3f s, max %.3f s after the write was sent; the write itself took %.3f s",
		n, percentile(lat, 50).Seconds(), percentile(lat, 99).Seconds(), slices.Max(lat).Seconds(), commit.Seconds())

	b.ReportMetric(enrol.Seconds()*1000/float64(n), "enrol-s-per-1000")
	b.ReportMetric(mint.Seconds()*1000/float64(n), "mint-s-per-1000")
	b.ReportMetric(float64(n)/enrol.Seconds(), "enrolments/s")
	b.ReportMetric(cores, "server-cores")
	b.ReportMetric(idle.cores, "idle-cores")
	b.ReportMetric(rssPer, "rss-KiB-per-agent")
	b.ReportMetric(heapPer, "heap-KiB-per-agent")
	b.ReportMetric(stackPer, "stack-KiB-per-agent")
	b.ReportMetric(percentile(lat, 50).Seconds(), "fanout-p50-s")
	b.ReportMetric(percentile(lat, 99).Seconds(), "fanout-p99-s")
	b.ReportMetric(slices.Max(lat).Seconds(), "fanout-max-s")
	b.ReportMetric(commit.Seconds(), "commit-s")
	b.ReportMetric(0, "ns/op")
}

// enrolFleet mints a token for each declared cluster, makes each agent's
// key and CSR (mint: the operator's and the sites' own work), then
// enrols them all at once as agents do (enrol), each from its own
// loopback address.
func enrolFleet(b *testing.B, s *testenv.Server, clusters []string) (agents []*fleetAgent, serverCA *x509.CertPool, mint, enrol time.Duration) {
	// Tokens and keys first: the operator's and the sites' own work, not
	// the enrolment's.
	n := len(clusters)
	agents = make([]*fleetAgent, n)
	mintStart := time.Now()
	parallel(b, 16, n, func(i int) error {
		a := &fleetAgent{server: s.URL, cluster: clusters[i], source: loopbackSource(i)}
		code, tok, _, err := s.Do(context.Background(), "POST", "/clusters/"+a.cluster+"/tokens", `{"ttl":"1h"}`)
		if err != nil || code != 201 {
			return fmt.Errorf("mint a token for %s: %d %s %v", a.cluster, code, tok, err)
		}
		var m struct{ Token string }
		if err := json.Unmarshal(tok, &m); err != nil {
			return err
		}
		agents[i] = a
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: a.cluster}}, key)
		if err != nil {
			return err
		}
		a.key = key
		a.enrolBody, err = json.Marshal(wire.RegisterRequest{Token: m.Token, Cluster: a.cluster,
			CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
		return err
	})
	mint = time.Since(mintStart)
	serverCA = x509.NewCertPool()
	caPEM, err := os.ReadFile(s.CA)
	if err != nil || !serverCA.AppendCertsFromPEM(caPEM) {
		b.Fatalf("the server's CA %s: %v", s.CA, err)
	}

	// Enrolment: the 1,000 at once (more at once overflow the
	// kernel's accept queue, net.core.somaxconn, before AMP sees them).
	start := time.Now()
	parallel(b, min(n, 1000), n, func(i int) error { return agents[i].enrol(serverCA) })
	return agents, serverCA, mint, time.Since(start)
}

// fleetAgent is one simulated site's agent: its own key, certificate,
// source address and TLS client, speaking the link as internal/agent does.
type fleetAgent struct {
	server    string
	cluster   string
	source    net.IP
	key       *ecdsa.PrivateKey
	enrolBody []byte
	creds     wire.Credentials
	tr        *http.Transport
	hc        *http.Client

	mu      sync.Mutex
	index   uint64
	digest  string
	objects map[wire.Ref]string // digest of each object held

	checkins  atomic.Int64
	proto     atomic.Value // the HTTP protocol the link negotiated
	changeGot atomic.Int64 // unix ns the delta with the changed label arrived (0: not yet)
}

// loopbackSource is agent i's own source address in 127.1.0.0/16.
func loopbackSource(i int) net.IP { return net.IPv4(127, 1, byte(i/250), byte(i%250+1)) }

// transport has the agent link client's settings (internal/agent/link),
// dialling from the agent's own address.
func (a *fleetAgent) transport(tc *tls.Config) *http.Transport {
	tr := link.Transport(tc)
	tr.Proxy = nil
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: a.source}, Timeout: 30 * time.Second}).DialContext
	return tr
}

// enrol registers with the token: no client certificate, a transport of
// its own, closed after (as link.Register).
func (a *fleetAgent) enrol(serverCA *x509.CertPool) error {
	tr := a.transport(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: serverCA})
	defer tr.CloseIdleConnections()
	code, body, err := a.call(&http.Client{Transport: tr}, context.Background(), "POST", a.server+"/clusters/register", a.enrolBody, nil)
	if err != nil {
		return fmt.Errorf("enrol %s: %w", a.cluster, err)
	}
	if code != 201 {
		return fmt.Errorf("enrol %s: %d %s", a.cluster, code, body)
	}
	a.enrolBody = nil
	if err := json.Unmarshal(body, &a.creds); err != nil || a.creds.Cluster != a.cluster {
		return fmt.Errorf("enrol %s: credentials %s: %v", a.cluster, body, err)
	}
	return nil
}

// connect makes the agent's mTLS client from its credentials.
func (a *fleetAgent) connect(serverCA *x509.CertPool) {
	blk, _ := pem.Decode([]byte(a.creds.Certificate))
	cert := tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: a.key}
	a.tr = a.transport(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: serverCA,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
	a.hc = &http.Client{Transport: a.tr}
	a.objects = map[wire.Ref]string{}
}

func (a *fleetAgent) call(hc *http.Client, ctx context.Context, method, url string, body []byte, hdr http.Header) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "amp-agent/bench")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	a.proto.Store(resp.Proto)
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// run is the agent's life from offset on (agents start spread over the
// interval, as a fleet's check-ins are): the full state, then, as
// internal/agent does, a long-poll always open that waits no later than
// the next check-in, and the check-in between two polls, on the poll's
// connection, until ctx ends. The first failure is recorded in failed
// and ends the agent.
func (a *fleetAgent) run(ctx context.Context, offset, interval time.Duration, failed *fleetFailures) {
	fail := func(err error) {
		if ctx.Err() == nil {
			failed.add(fmt.Errorf("agent %s: %w", a.cluster, err))
		}
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(offset):
	}
	if err := a.poll(ctx, 0); err != nil {
		fail(err)
		return
	}
	var due time.Time
	for ctx.Err() == nil {
		if !time.Now().Before(due) {
			if err := a.checkin(ctx); err != nil {
				fail(err)
				return
			}
			due = time.Now().Add(interval)
		}
		if err := a.poll(ctx, max(min(55*time.Second, time.Until(due)), time.Millisecond)); err != nil {
			fail(err)
			return
		}
	}
}

func (a *fleetAgent) url(suffix string) string {
	return a.server + "/edge/v1/clusters/" + a.cluster + suffix
}

// poll asks for the desired state held (since its index, If-None-Match its
// digest), waiting up to wait, and takes in the full state or the delta.
func (a *fleetAgent) poll(ctx context.Context, wait time.Duration) error {
	a.mu.Lock()
	q := fmt.Sprintf("/desired?since=%d&wait=%s", a.index, wait)
	hdr := http.Header{}
	if a.digest != "" {
		hdr.Set("If-None-Match", `"`+a.digest+`"`)
	}
	a.mu.Unlock()
	code, body, err := a.call(a.hc, ctx, "GET", a.url(q), nil, hdr)
	switch {
	case err != nil:
		return fmt.Errorf("GET desired: %w", err)
	case code == http.StatusNotModified:
		return nil
	case code != http.StatusOK:
		return fmt.Errorf("GET desired: %d %s", code, body)
	}
	got := time.Now()
	var d wire.Desired
	if err := json.Unmarshal(body, &d); err != nil {
		return fmt.Errorf("GET desired: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if d.Full {
		clear(a.objects)
	}
	for _, r := range d.Removed {
		delete(a.objects, r)
	}
	for _, o := range d.Objects {
		a.objects[wire.Ref{Kind: o.Kind, Name: o.Name}] = o.Digest
		if o.Kind == "node" && strings.Contains(string(o.Spec), `"zone":"west"`) && a.changeGot.Load() == 0 {
			a.changeGot.Store(got.UnixNano())
		}
	}
	a.index, a.digest = d.Index, d.Digest
	return nil
}

// checkin reports the site as holding the desired state it has.
func (a *fleetAgent) checkin(ctx context.Context) error {
	now := time.Now()
	a.mu.Lock()
	c := wire.Checkin{AgentVersion: "v0.0.0-bench", AgentTime: now,
		Facts:   wire.Facts{KubernetesVersion: "v1.35.4", Nodes: []wire.Node{{Name: "server-1", Labels: map[string]string{"kubernetes.io/hostname": "server-1"}, Ready: true}}},
		Applied: wire.Applied{Index: a.index, Digest: a.digest}}
	for r, dg := range a.objects {
		c.Objects = append(c.Objects, wire.ObjectStatus{Kind: r.Kind, Name: r.Name, Digest: dg, State: wire.StateApplied, At: now})
	}
	a.mu.Unlock()
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	code, ans, err := a.call(a.hc, ctx, "PUT", a.url("/status"), body, nil)
	if err != nil {
		return fmt.Errorf("check-in: %w", err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("check-in: %d %s", code, ans)
	}
	a.checkins.Add(1)
	return nil
}

// fanout waits until every agent has the change sent at sent, and returns
// each one's latency; agents without it after timeout fail, named.
func fanout(b *testing.B, agents []*fleetAgent, sent time.Time, failed *fleetFailures, timeout time.Duration) []time.Duration {
	deadline := sent.Add(timeout)
	for {
		failed.check(b)
		var missing []string
		for _, a := range agents {
			if a.changeGot.Load() == 0 {
				missing = append(missing, a.cluster)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d agents never got the change within %v: %s", len(missing), len(agents), timeout, strings.Join(missing[:min(len(missing), 20)], ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
	lat := make([]time.Duration, len(agents))
	for i, a := range agents {
		lat[i] = time.Duration(a.changeGot.Load() - sent.UnixNano())
	}
	return lat
}

func checkedIn(agents []*fleetAgent) int {
	n := 0
	for _, a := range agents {
		if a.checkins.Load() > 0 {
			n++
		}
	}
	return n
}

// fleetFailures collects the agents' failures: the first few are named.
type fleetFailures struct {
	mu    sync.Mutex
	n     int
	first []error
}

func (f *fleetFailures) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.first) < 10 {
		f.first = append(f.first, err)
	}
}

func (f *fleetFailures) check(b *testing.B) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n > 0 {
		b.Fatalf("%d agents failed; the first: %v", f.n, f.first)
	}
}

// serverSample is the server's CPU over a window and its memory at its end.
type serverSample struct {
	cores, rss, heap, stack, goroutines float64
}

// sampleServer measures the server process over window: CPU from
// /proc/PID/stat (utime+stime, in clock ticks), RSS from /proc/PID/status
// (what the machine pays), and the Go heap in use, goroutine stacks and
// goroutines from its /metrics (what the server holds, without the
// runtime's unreturned pages; the heap includes garbage not yet collected).
// /metrics is read after the CPU window, so its cost is not in it.
func sampleServer(b *testing.B, s *testenv.Server, pid int, window time.Duration) serverSample {
	t0, c0 := time.Now(), procCPU(b, pid)
	time.Sleep(window)
	c1, t1 := procCPU(b, pid), time.Now()
	return serverSample{cores: (c1 - c0) / t1.Sub(t0).Seconds(), rss: procRSS(b, pid),
		heap: metricFloat(b, s, "go_memstats_heap_inuse_bytes"), stack: metricFloat(b, s, "go_memstats_stack_inuse_bytes"), goroutines: metricFloat(b, s, "go_goroutines")}
}

// procCPU is the process's user+system CPU seconds. The clock tick is
// 100 Hz on Linux (sysconf(_SC_CLK_TCK) is not reachable without cgo).
func procCPU(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command (which may hold spaces) in parentheses:
	// state is field 3, utime 14 and stime 15.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	return (ut + st) / 100
}

// procRSS is the process's resident set in bytes (VmRSS).
func procRSS(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatalf("/proc/%d/status VmRSS %q", pid, v)
			}
			return kb * 1024
		}
	}
	b.Fatalf("/proc/%d/status has no VmRSS", pid)
	return 0
}

// parallel runs do(0..n-1) on at most workers goroutines; the first error
// fails the benchmark.
func parallel(b *testing.B, workers, n int, do func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := do(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s=%q: want an integer", name, v)
	}
	return n
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a duration such as 2m", name, v)
	}
	return d
}
