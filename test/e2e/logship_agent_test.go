package e2e

import (
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
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/agent/link"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/telemetry"
	"github.com/amp-edge/amp/internal/telemetry/logship"
	"github.com/amp-edge/amp/internal/testenv"
)

// The agent's side of the log-shipping benchmark and test: the agent's
// shipping code as `amp agent --ship-logs` runs it (cmd/amp/agent.go) —
// a telemetry logger writing to stderr and to a logship.Shipper whose
// spool is on disk and whose sink is the agent link's PushLogs over mTLS
// — fed log lines at a steady rate, each with its sequence number. The
// benchmark runs it in a process of its own (the test binary re-executed,
// see TestMain), so that its CPU is the agent's alone.

// logAgentEnv carries a logAgentConfig (JSON) to the re-executed test
// binary, which then runs the agent side only.
const logAgentEnv = "AMP_E2E_LOG_AGENT"

// logAgentConfig is one run of the agent side.
type logAgentConfig struct {
	// Server is AMP's address as the agent reaches it (through the
	// benchmark's proxy); Direct instead pushes straight to a store's Loki
	// push endpoint (the baseline without AMP).
	Server, Direct string
	Cluster        string
	CertPEM        string // the cluster's certificate, its key and AMP's CA
	KeyPEM         string
	ServerCAPEM    string
	Spool          string // the spool directory, <dir>/log-spool at a site
	SpoolMax       int64  // 0: the agent's default (--log-spool-max-bytes)
	Component      string // every line's component: the run's stream
	Rate, Lines    int    // lines per second, and how many in all
	// Settle bounds the wait, after the last line, for every line to be
	// delivered.
	Settle time.Duration
}

// logAgentReport is what the agent side saw.
type logAgentReport struct {
	Produced  int
	Shipped   int // delivered, as the shipper counts them
	Dropped   int
	Failures  int // pushes refused or unanswered
	LineBytes int // the size of one line as logged
	// MaxCall is the longest one log call took, and MaxBehind how far the
	// producer ever fell behind its schedule: a shipper that blocks its
	// logger shows here.
	MaxCall, MaxBehind time.Duration
	LastLogged         time.Time
	Done               time.Time // every line delivered or dropped
}

// logBenchObject pads each line to the size of an agent's typical line.
const logBenchObject = "ConfigMap amp-system/site-config: applied, 3 keys changed"

// runLogAgent logs cfg.Lines lines at cfg.Rate through the agent's
// shipping code, then waits until the shipper has delivered (or dropped)
// every one.
func runLogAgent(cfg logAgentConfig, stderr io.Writer) (logAgentReport, error) {
	var rep logAgentReport
	var sink logship.Sink
	if cfg.Direct != "" {
		sink = logship.HTTPSink(cfg.Direct, nil)
	} else {
		cert, err := tls.X509KeyPair([]byte(cfg.CertPEM), []byte(cfg.KeyPEM))
		if err != nil {
			return rep, fmt.Errorf("the cluster's certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.ServerCAPEM)) {
			return rep, fmt.Errorf("AMP's CA: no certificate")
		}
		c, err := link.New(cfg.Server, cfg.Cluster, cert, pool)
		if err != nil {
			return rep, err
		}
		defer c.Close()
		sink = c.PushLogs
	}
	reg := prometheus.NewRegistry()
	sh, err := logship.New(logship.Options{Dir: cfg.Spool, MaxSpoolBytes: cfg.SpoolMax, Sink: sink, Metrics: logship.NewMetrics(reg)})
	if err != nil {
		return rep, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { sh.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
	counter := func(name string) int {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				return int(m.GetCounter().GetValue() + m.GetGauge().GetValue())
			}
		}
		return 0
	}

	lw := &lineSize{}
	log := telemetry.NewLogger(io.MultiWriter(stderr, sh, lw)).With(telemetry.KeyComponent, cfg.Component)
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	for rep.Produced < cfg.Lines {
		<-tick.C
		due := min(cfg.Lines, int(float64(cfg.Rate)*time.Since(start).Seconds()))
		for ; rep.Produced < due; rep.Produced++ {
			t0 := time.Now()
			log.Info("logbench line", "seq", rep.Produced, "object", logBenchObject)
			rep.MaxCall = max(rep.MaxCall, time.Since(t0))
		}
		behind := time.Since(start) - time.Duration(float64(rep.Produced)/float64(cfg.Rate)*float64(time.Second))
		rep.MaxBehind = max(rep.MaxBehind, behind)
	}
	tick.Stop()
	rep.LastLogged, rep.LineBytes = time.Now(), lw.n
	for deadline := time.Now().Add(cfg.Settle); ; time.Sleep(50 * time.Millisecond) {
		rep.Shipped, rep.Dropped = counter("amp_log_shipped_lines_total"), counter("amp_log_dropped_lines_total")
		if rep.Shipped+rep.Dropped >= rep.Produced {
			break
		}
		if time.Now().After(deadline) {
			rep.Failures = counter("amp_log_push_failures_total")
			return rep, fmt.Errorf("%d of %d lines neither delivered nor dropped %s after the last", rep.Produced-rep.Shipped-rep.Dropped, rep.Produced, cfg.Settle)
		}
	}
	rep.Done = time.Now()
	rep.Failures = counter("amp_log_push_failures_total")
	return rep, nil
}

// lineSize keeps the size of the last line logged.
type lineSize struct{ n int }

func (l *lineSize) Write(p []byte) (int, error) { l.n = len(p); return len(p), nil }

// logAgentMain is the re-executed test binary's whole work: the agent
// side of cfg, its report as JSON on stdout.
func logAgentMain(raw string) int {
	var cfg logAgentConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", logAgentEnv, err)
		return 2
	}
	// The agent logs to stderr as well; here that costs what it costs at
	// a site, without filling the benchmark's disk.
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rep, err := runLogAgent(cfg, null)
	json.NewEncoder(os.Stdout).Encode(rep)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// enrolLogAgent mints a token for cluster and enrols with it as the
// agent does (link.Register with a fresh key's CSR); it returns the
// agent side's credentials.
func enrolLogAgent(t testing.TB, s *testenv.Server, cluster string) logAgentConfig {
	t.Helper()
	code, tok, _, err := s.Do(context.Background(), "POST", "/clusters/"+cluster+"/tokens", `{"ttl":"1h"}`)
	if err != nil || code != 201 {
		t.Fatalf("mint a token for %s: %d %s %v", cluster, code, tok, err)
	}
	var m struct{ Token string }
	if err := json.Unmarshal(tok, &m); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cluster}}, key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(s.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	creds, err := link.Register(context.Background(), s.URL, pool, wire.RegisterRequest{Token: m.Token, Cluster: cluster,
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}, link.DefaultBackoff, "e2e")
	if err != nil {
		t.Fatalf("enrol %s: %v", cluster, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return logAgentConfig{Cluster: cluster, CertPEM: creds.Certificate, ServerCAPEM: string(caPEM),
		KeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))}
}

// linkProxy stands for the network between a site and AMP: a loopback
// TCP proxy to AMP that can be cut (its listener closed and every
// connection through it reset: the agent's connections fail and new ones
// are refused) and restored on the same address.
type linkProxy struct {
	t      testing.TB
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

// newLinkProxy listens on a free loopback port and forwards to target
// (host:port).
func newLinkProxy(t testing.TB, target string) *linkProxy {
	p := &linkProxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	p.restore()
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.cut)
	return p
}

// URL is AMP's address through the proxy.
func (p *linkProxy) URL() string { return "https://" + p.addr }

func (p *linkProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("the link proxy on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *linkProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut takes the link down: no connection through it survives.
func (p *linkProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as a broken link gives
		}
		c.Close()
		delete(p.conns, c)
	}
}

// storeSeqs is what a store holds of a run's stream: its lines, the
// distinct sequence numbers among them, and their range.
type storeSeqs struct{ lines, distinct, lo, hi int }

// seqsInStore asks VictoriaLogs (LogsQL) about the lines of component.
func seqsInStore(t testing.TB, vlURL, component string) storeSeqs {
	t.Helper()
	q := fmt.Sprintf(`{component=%q} | unpack_json fields (seq) | stats count() n, count_uniq(seq) u, min(seq) lo, max(seq) hi`, component)
	resp, err := http.PostForm(vlURL+"/select/logsql/query", url.Values{"query": {q}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("LogsQL %s: %s %s", q, resp.Status, b)
	}
	var row struct{ N, U, Lo, Hi string }
	if s := strings.TrimSpace(string(b)); s != "" {
		if err := json.Unmarshal([]byte(s), &row); err != nil {
			t.Fatalf("LogsQL %s: %s: %v", q, b, err)
		}
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	return storeSeqs{lines: num(row.N), distinct: num(row.U), lo: num(row.Lo), hi: num(row.Hi)}
}

// waitSeqs waits until the store holds want distinct lines of component,
// or until what it holds has not changed for settle; it returns the last.
func waitSeqs(t testing.TB, vlURL, component string, want int, settle time.Duration) storeSeqs {
	t.Helper()
	var last storeSeqs
	changed := time.Now()
	for {
		got := seqsInStore(t, vlURL, component)
		if got.lines >= want && got.distinct >= want {
			return got
		}
		if got != last {
			last, changed = got, time.Now()
		} else if time.Since(changed) > settle {
			return got
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// spoolBytes is the size of the spool's files on disk.
func spoolBytes(dir string) int64 {
	des, _ := os.ReadDir(dir)
	var n int64
	for _, de := range des {
		if info, err := de.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}

// spoolSegments counts the batches waiting in the spool.
func spoolSegments(dir string) int {
	des, _ := os.ReadDir(dir)
	n := 0
	for _, de := range des {
		if filepath.Ext(de.Name()) == ".json" {
			n++
		}
	}
	return n
}
