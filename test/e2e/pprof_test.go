package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestPprofListen: --pprof-listen serves Go's profiles on a loopback
// address of its own (the goroutine profile names the server's parked
// requests), never on the API's listener; an address off the machine is
// refused at start, naming the flag.
func TestPprofListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := testenv.Start(t, t.TempDir(), "--pprof-listen", addr)
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile:") {
		t.Fatalf("the goroutine profile: %d\n%.300s", res.StatusCode, body)
	}
	if code, b, _, _ := s.Do(context.Background(), "GET", "/debug/pprof/goroutine?debug=1", ""); code == 200 {
		t.Fatalf("the API's listener serves profiles: %.200s", b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--pprof-listen", "0.0.0.0:0")
	out, err := cmd.CombinedOutput()
	if _, exited := err.(*exec.ExitError); !exited || !strings.Contains(lastLine(string(out)), "--pprof-listen 0.0.0.0:0: profiles are served on a loopback address only") {
		t.Fatalf("amp serve --pprof-listen 0.0.0.0:0: %v\n%s", err, out)
	}
}
