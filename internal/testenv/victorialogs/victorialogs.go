// Package victorialogs starts a real VictoriaLogs for tests: the log store
// AMP ships to over Loki's push API and queries with LogsQL
// (docs/logging.md). scripts/test-deps.sh builds it from the Go module
// proxy (github.com/VictoriaMetrics/VictoriaLogs, Apache-2.0) into the
// test-tool cache; a missing binary fails the test. Each server runs on a
// loopback port chosen at run time with its data in the test's temporary
// directory, and is killed when the test ends. It is imported only by
// tests.
package victorialogs

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/internal/testenv/toolcache"
)

// Version is the release scripts/test-deps.sh builds.
const Version = "1.52.2"

// Binary is the victoria-logs binary; the test fails when it is missing.
// AMP_VICTORIA_LOGS points at another.
func Binary(t testing.TB) string {
	t.Helper()
	return toolcache.Binary(t, "AMP_VICTORIA_LOGS", "victorialogs-v"+Version, "victoria-logs")
}

// Server is a running VictoriaLogs.
type Server struct {
	URL     string // http://127.0.0.1:port
	PushURL string // its Loki push endpoint
	Dir     string
	port    string
	cmd     *exec.Cmd
	log     string
	t       testing.TB
}

// Start runs VictoriaLogs and waits until it answers.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{Dir: t.TempDir(), port: etcd.FreePort(t), t: t}
	s.URL = "http://127.0.0.1:" + s.port
	s.PushURL = s.URL + "/insert/loki/api/v1/push"
	s.log = filepath.Join(s.Dir, "victoria-logs.log")
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start() {
	t := s.t
	t.Helper()
	lf, err := os.OpenFile(s.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(Binary(t), "-httpListenAddr=127.0.0.1:"+s.port, "-storageDataPath="+filepath.Join(s.Dir, "data"),
		"-retentionPeriod=100y", "-loggerLevel=WARN",
		// Keep each pushed line whole as the message, as Loki does, rather
		// than parse its JSON into fields: LogQL line filters match it.
		"-loki.disableMessageParsing")
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	toolcache.WaitOK(t, s.URL+"/health", "victoria-logs", s.Log)
}

// Log returns what the server wrote so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// Stop shuts the server down as an operator would (SIGTERM: it writes
// what it holds in memory to disk first; SIGKILL after 30 s). Its data
// stays: Restart brings it back.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

// Kill stops the server at once.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts it again on the same port and data.
func (s *Server) Restart() { s.start() }
