// Package prometheus starts a real Prometheus and Alertmanager for tests:
// Debian's prometheus and prometheus-alertmanager packages (installed by
// scripts/test-deps.sh; their own services are not used), on loopback
// ports chosen at run time, each in its own temporary directory, killed
// when the test ends. A missing binary fails the test. It is imported only
// by tests.
package prometheus

import (
	"cmp"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// Tool finds a binary of the Debian packages (prometheus, promtool,
// prometheus-alertmanager, amtool) or fails the test.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (scripts/test-deps.sh installs Debian's prometheus and prometheus-alertmanager): %v", name, err)
	}
	return p
}

// Server is one running Prometheus or Alertmanager.
type Server struct {
	URL string // http://127.0.0.1:port
	Dir string // its temporary directory
	cmd *exec.Cmd
	log string
}

// Log returns what the server wrote so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// Kill stops the server at once.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		s.cmd.Wait()
	}
}

// PrometheusOptions configure StartPrometheus.
type PrometheusOptions struct {
	RulesDir      string   // rule_files: RulesDir/*.yml
	Alertmanagers []string // host:port of Alertmanagers to send alerts to
	Scrape        []string // host:port targets scraped every second (job "test")
	Port          string   // the port to listen on ("": a free one), to restart one where it was
	// ScrapeInterval and EvaluationInterval replace the test's 1 s
	// (a benchmark of an operator's setup: e.g. 5s and 1m).
	ScrapeInterval, EvaluationInterval string
	// ResendDelay replaces the test's 1 s --rules.alert.resend-delay
	// (Prometheus's default: 1m).
	ResendDelay string
}

// StartPrometheus runs Prometheus with a one-second scrape and evaluation
// interval, alerts resent every second, and the lifecycle API (reload)
// on.
func StartPrometheus(t testing.TB, o PrometheusOptions) *Server {
	t.Helper()
	bin := Tool(t, "prometheus")
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", cmp.Or(o.ScrapeInterval, "1s"), cmp.Or(o.EvaluationInterval, "1s"))
	if o.RulesDir != "" {
		fmt.Fprintf(&cfg, "rule_files:\n  - %q\n", filepath.Join(o.RulesDir, "*.yml"))
	}
	if len(o.Alertmanagers) > 0 {
		fmt.Fprintf(&cfg, "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [%s]\n", quoted(o.Alertmanagers))
	}
	if len(o.Scrape) > 0 {
		fmt.Fprintf(&cfg, "scrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [%s]\n", quoted(o.Scrape))
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := o.Port
	if port == "" {
		port = etcd.FreePort(t)
	}
	return start(t, "prometheus", dir, port, bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+port, "--web.enable-lifecycle", "--rules.alert.resend-delay="+cmp.Or(o.ResendDelay, "1s"))
}

// StartAlertmanager runs Alertmanager on the configuration file config
// (written by the caller, or by AMP), without clustering.
func StartAlertmanager(t testing.TB, config string) *Server {
	t.Helper()
	return StartAlertmanagerOn(t, config, etcd.FreePort(t))
}

// StartAlertmanagerOn is StartAlertmanager on a given port: to restart
// one where it was.
func StartAlertmanagerOn(t testing.TB, config, port string) *Server {
	t.Helper()
	bin := Tool(t, "prometheus-alertmanager")
	dir := t.TempDir()
	return start(t, "alertmanager", dir, port, bin, "--config.file="+config, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+port, "--cluster.listen-address=")
}

func quoted(addrs []string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, ", ")
}

// start runs bin, listening on port, and waits until it answers ready.
func start(t testing.TB, name, dir, port, bin string, args ...string) *Server {
	t.Helper()
	log := filepath.Join(dir, name+".log")
	lf, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	s := &Server{URL: "http://127.0.0.1:" + port, Dir: dir, cmd: cmd, log: log}
	t.Cleanup(s.Kill)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become ready at %s: %v\n%s", name, s.URL, err, s.Log())
		}
	}
}
