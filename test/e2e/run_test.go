package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// TestRunGNMIListenInUse: a gNMI address another process holds stops amp
// serve before it serves: it exits non-zero, naming gnmi and the cause,
// and leaves no REST listener behind.
func TestRunGNMIListenInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--insecure-http", "--gnmi-listen", held.Addr().String(), "--gnmi-insecure-plaintext")
	out, err := cmd.CombinedOutput()
	if _, exited := err.(*exec.ExitError); !exited || cmd.ProcessState.ExitCode() == 0 {
		t.Fatalf("amp serve with --gnmi-listen on an address in use: %v, want a non-zero exit; output:\n%s", err, out)
	}
	last := lastLine(string(out))
	if !strings.Contains(last, "gnmi") || !strings.Contains(last, held.Addr().String()) || !strings.Contains(last, "address already in use") {
		t.Errorf("the error does not name gnmi, the address and the cause: %q", last)
	}
	if strings.Contains(string(out), `"amp serving"`) {
		t.Errorf("amp serve said it serves although gNMI could not listen:\n%s", out)
	}
}

// TestRunStoreGoneMarksNotReady: with its etcd killed under it, amp serve
// keeps running (restarting it would not bring etcd back) but /readyz
// answers 503 naming the store and the cause, so a load balancer stops
// sending it traffic; /healthz still answers, and SIGTERM still stops it.
func TestRunStoreGoneMarksNotReady(t *testing.T) {
	c := etcd.Start(t, 1)
	s := testenv.Start(t, t.TempDir(), "--store", "etcd://"+c.Endpoints()+"/amp-run/")
	ready := func() (int, []byte) {
		code, b, _, err := s.Do(context.Background(), "GET", "/readyz", "")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		return code, b
	}
	if code, b := ready(); code != 200 {
		t.Fatalf("/readyz with etcd up: %d %s", code, b)
	}
	c.Members[0].Kill()
	var body []byte
	waitWithin(t, time.Minute, func() bool {
		code, b := ready()
		body = b
		return code == 503
	}, "/readyz to answer 503 once etcd is gone")
	var problem struct {
		Errors []struct{ Path, Reason string } `json:"errors"`
	}
	if err := json.Unmarshal(body, &problem); err != nil || len(problem.Errors) != 1 {
		t.Fatalf("/readyz 503 body is not one problem: %v %s", err, body)
	}
	if p := problem.Errors[0]; p.Path != "/readyz" || !strings.HasPrefix(p.Reason, "store: etcd does not answer") {
		t.Errorf("/readyz problem = %+v, want the store named with the cause", p)
	}
	s.Must(t, 200, "GET", "/healthz", "")
	if m := string(s.Must(t, 200, "GET", "/metrics", "")); !strings.Contains(m, `amp_component_ready{component="store"} 0`) ||
		!strings.Contains(m, `amp_component_ready{component="rest"} 1`) {
		t.Errorf("amp_component_ready does not show the store failing and REST working")
	}
	if !strings.Contains(s.Log(), `"component failing; the server is not ready"`) {
		t.Errorf("the failing store was not logged:\n%s", s.Log())
	}
	s.Stop()
	if log := s.Log(); !strings.Contains(log, `"shutting down"`) || strings.Contains(log, "component failed") {
		t.Errorf("SIGTERM did not stop amp serve gracefully:\n%s", log)
	}
}

// TestRunAuditTrailUnwritableMarksNotReady: while the audit trail's disk
// is full, writes are refused (TestAuditTrailFullRefusesWritesAndRecoversGaps)
// and /readyz answers 503 naming the audit trail and the cause, so traffic
// goes to a replica that can take writes; reads still work; once the disk
// has room again the server is ready by itself. The fault is real: audit.db
// on a small tmpfs, filled up (root and mount(8) needed).
func TestRunAuditTrailUnwritableMarksNotReady(t *testing.T) {
	dir, disk := t.TempDir(), t.TempDir()
	mount(t, "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk)
	dbFile := filepath.Join(dir, audit.FileName)
	for _, f := range []string{filepath.Join(disk, audit.FileName), dbFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mount(t, "--bind", filepath.Join(disk, audit.FileName), dbFile)
	s := testenv.Start(t, dir)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 200, "GET", "/readyz", "")

	fill(t, filepath.Join(disk, "fill"))
	refused := false
	for i := 0; i < 3000 && !refused; i++ {
		code, b, _, err := s.Do(context.Background(), "POST", "/enterprises", fmt.Sprintf(`{"enterprise-id":"e%d","description":%q}`, i, strings.Repeat("d", 200)))
		if err != nil {
			t.Fatal(err)
		}
		switch code {
		case 201:
		case 503:
			refused = true
		default:
			t.Fatalf("POST /enterprises: %d %s", code, b)
		}
	}
	if !refused {
		t.Fatal("no write refused with the audit trail's disk full")
	}
	var body []byte
	waitWithin(t, time.Minute, func() bool {
		code, b, _, err := s.Do(context.Background(), "GET", "/readyz", "")
		body = b
		return err == nil && code == 503
	}, "/readyz to answer 503 while the audit trail cannot be written")
	if !strings.Contains(string(body), `"reason":"audit: audit trail cannot be written`) {
		t.Errorf("/readyz does not name the audit trail and the cause: %s", body)
	}
	s.Must(t, 200, "GET", "/enterprises/acme", "") // reads go on

	if err := os.Remove(filepath.Join(disk, "fill")); err != nil {
		t.Fatal(err)
	}
	waitWithin(t, time.Minute, func() bool {
		code, _, _, err := s.Do(context.Background(), "GET", "/readyz", "")
		return err == nil && code == 200
	}, "/readyz to answer 200 once the audit trail can be written again")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"after"}`)
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
