// Package testenv starts real AMP processes (and, in later issues, real
// third-party components) for end-to-end tests: it builds the amp binary
// once per test binary, runs `amp serve` on a loopback port in a temporary
// data dir, and hands back its address and admin token.
//
// It is imported only by tests.
package testenv

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(here), "..", ".."))
}

// Binary builds cmd/amp once and returns its path; AMP_BIN names a
// prebuilt binary to use instead.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("AMP_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "amp-test-bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		dropDeadBinaries(dir)
		binPath = filepath.Join(dir, fmt.Sprintf("amp-%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/amp")
		cmd.Dir = RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/amp: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// dropDeadBinaries removes the binaries built by test processes that
// have ended (each process builds its own, amp-<pid>: test binaries of
// several packages run at once), so they do not pile up in /tmp at
// 125 MB each.
func dropDeadBinaries(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "amp-"))
		if err != nil || !strings.HasPrefix(e.Name(), "amp-") {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Server is a running `amp serve`.
type Server struct {
	URL     string // https://127.0.0.1:port (http:// with --insecure-http)
	Token   string
	DataDir string
	// CA is the local CA the server's certificate chains to,
	// <data dir>/tls/ca.crt, read from its "amp serving" log line ("" with
	// --insecure-http or --tls-cert: call UseCA with that certificate's
	// CA). Do sends requests with HTTPClient, which trusts it.
	CA         string
	HTTPClient *http.Client

	cmd   *exec.Cmd
	done  chan struct{}
	logMu sync.Mutex
	log   strings.Builder
}

// Start runs `amp serve` with the given data dir and extra flags, waits
// until it serves, and stops it when the test ends.
func Start(t testing.TB, dataDir string, args ...string) *Server {
	t.Helper()
	s, err := StartErr(Binary(t), dataDir, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// StartErr is Start without a test, for loops that kill and restart.
func StartErr(bin, dataDir string, args ...string) (*Server, error) {
	full := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, args...)
	cmd := exec.Command(bin, full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	s := &Server{DataDir: dataDir, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			if s.log.Len() < 1<<20 {
				s.log.WriteString(line + "\n")
			}
			s.logMu.Unlock()
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "amp serving" {
				if _, ok := rec["address"].(string); ok {
					addr <- rec
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	select {
	case rec := <-addr:
		s.URL, _ = rec["address"].(string)
		s.CA, _ = rec["ca"].(string) // the local CA, when the server uses it
	case <-s.done:
		return nil, fmt.Errorf("amp serve exited before serving:\n%s", s.Log())
	case <-time.After(60 * time.Second):
		s.Kill()
		return nil, fmt.Errorf("amp serve did not start within 60s:\n%s", s.Log())
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		s.Kill()
		return nil, fmt.Errorf("read admin token: %w", err)
	}
	s.Token = strings.TrimSpace(string(tok))
	s.HTTPClient = http.DefaultClient
	if s.CA != "" {
		if s.HTTPClient, err = HTTPClient(s.CA); err != nil {
			s.Kill()
			return nil, err
		}
	}
	return s, nil
}

// HTTPClient returns an http.Client that trusts the CA certificates in the
// PEM file caFile (and no others).
func HTTPClient(caFile string) (*http.Client, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// UseCA makes Do trust the CA in caFile (a server started with
// --tls-cert signed by it).
func (s *Server) UseCA(t testing.TB, caFile string) {
	t.Helper()
	hc, err := HTTPClient(caFile)
	if err != nil {
		t.Fatal(err)
	}
	s.CA, s.HTTPClient = caFile, hc
}

// Env is the environment for amp CLI subprocesses talking to s: the
// current one plus AMP_SERVER, AMP_TOKEN and AMP_CA.
func (s *Server) Env() []string {
	return append(os.Environ(), "AMP_SERVER="+s.URL, "AMP_TOKEN="+s.Token, "AMP_CA="+s.CA)
}

// Log returns what the server wrote to stderr so far.
func (s *Server) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// PID is the server's process id, for reading its CPU and memory from
// /proc apart from the test's own.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Kill ends the server with SIGKILL (no chance to clean up) and waits.
func (s *Server) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Stop ends the server with SIGTERM and waits for a clean exit.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.Kill()
	}
}

// Do sends an authenticated request and returns status, body and headers.
func (s *Server) Do(ctx context.Context, method, path, body string, hdr ...string) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	hc := s.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// Must sends a request and fails the test unless the status is want.
func (s *Server) Must(t testing.TB, want int, method, path, body string, hdr ...string) []byte {
	t.Helper()
	code, b, _, err := s.Do(context.Background(), method, path, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, b)
	}
	return b
}
