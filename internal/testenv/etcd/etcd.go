// Package etcd starts real etcd members for tests: the `etcd` server on
// PATH (Debian's etcd-server, installed by scripts/test-deps.sh), on
// loopback ports chosen at run time, each in its own temporary directory.
// It is imported only by tests.
package etcd

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Member is one running etcd server.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:port
	PeerURL   string
	dir       string
	cluster   string
	cmd       *exec.Cmd
	logFile   string
}

// Cluster is a set of members started together.
type Cluster struct {
	Members []*Member
}

// Endpoints lists the members' client URLs without the scheme, comma
// separated, as `amp serve --store etcd://…` takes them.
func (c *Cluster) Endpoints() string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, strings.TrimPrefix(m.ClientURL, "http://"))
	}
	return strings.Join(eps, ",")
}

// Start runs an n-member cluster and waits until every member answers
// /health; the members are killed when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd is not installed (scripts/test-deps.sh installs Debian's etcd-server): %v", err)
	}
	c := &Cluster{}
	var initial []string
	for i := 0; i < n; i++ {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i+1),
			ClientURL: "http://127.0.0.1:" + FreePort(t),
			PeerURL:   "http://127.0.0.1:" + FreePort(t),
			dir:       t.TempDir(),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		m.cluster = strings.Join(initial, ",")
		if err := m.start(bin, "new"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			m.Kill()
		}
	})
	for _, m := range c.Members {
		if err := m.waitHealthy(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (m *Member) start(bin, state string) error {
	m.logFile = filepath.Join(m.dir, "etcd.log")
	logf, err := os.OpenFile(m.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	m.cmd = exec.Command(bin,
		"--name", m.Name,
		"--data-dir", filepath.Join(m.dir, "data"),
		"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", m.cluster, "--initial-cluster-state", state,
		"--initial-cluster-token", "amp-test")
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start etcd %s: %w", m.Name, err)
	}
	go func() { _ = m.cmd.Wait(); logf.Close() }()
	return nil
}

func (m *Member) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(m.ClientURL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(m.logFile)
	return fmt.Errorf("etcd %s not healthy after %s; its log:\n%s", m.Name, timeout, tail(string(log), 3000))
}

// LogTail returns the last n bytes of the member's log, for a failed
// test's report.
func (m *Member) LogTail(n int) string {
	log, err := os.ReadFile(m.logFile)
	if err != nil {
		return err.Error()
	}
	return tail(string(log), n)
}

// Kill stops the member at once (SIGKILL).
func (m *Member) Kill() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
	}
}

// Pause freezes the member (SIGSTOP): it neither answers clients nor
// talks to its peers, like a member cut off by a partition whose
// connections stay open.
func (m *Member) Pause() { _ = m.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused member run again (SIGCONT): the partition heals.
func (m *Member) Resume() { _ = m.cmd.Process.Signal(syscall.SIGCONT) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// FreePort is a loopback TCP port free at the time of the call, for a
// process the test starts (etcd, a kube-apiserver).
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
