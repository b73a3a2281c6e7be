// Package jaeger starts a real Jaeger v2 for tests (built from the Go
// module proxy by scripts/test-deps.sh into a cache outside the
// repository; AMP_JAEGER names another binary): an OTLP/gRPC receiver and
// Jaeger's query API on loopback ports chosen at run time, traces kept in
// memory, killed when the test ends. A missing binary fails the test. It
// is imported only by tests.
package jaeger

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/internal/testenv/toolcache"
)

// Version is the Jaeger release scripts/test-deps.sh builds.
const Version = "1.75.0"

// Binary is the jaeger binary ($AMP_JAEGER, else the cache's), or the
// test fails.
func Binary(t testing.TB) string {
	t.Helper()
	return toolcache.Binary(t, "AMP_JAEGER", "jaeger-v"+Version, "jaeger")
}

// Jaeger is one running Jaeger.
type Jaeger struct {
	// OTLP is the URL of its OTLP/gRPC receiver (amp --otlp-endpoint).
	OTLP string
	// Query is the base URL of its query API (/api/traces/{id}).
	Query string
	cmd   *exec.Cmd
	log   string
}

// config binds only the ports given: Jaeger's default configuration
// listens on every interface and a dozen ports.
const config = `extensions:
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:%[1]s
    grpc:
      endpoint: 127.0.0.1:%[2]s
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:%[3]s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[4]s
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
`

// Start runs Jaeger and waits until it is healthy.
func Start(t testing.TB) *Jaeger {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	query, grpcQuery, health, otlp := etcd.FreePort(t), etcd.FreePort(t), etcd.FreePort(t), etcd.FreePort(t)
	conf := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, config, query, grpcQuery, health, otlp), 0o644); err != nil {
		t.Fatal(err)
	}
	j := &Jaeger{OTLP: "http://127.0.0.1:" + otlp, Query: "http://127.0.0.1:" + query, log: filepath.Join(dir, "jaeger.log")}
	lf, err := os.Create(j.log)
	if err != nil {
		t.Fatal(err)
	}
	j.cmd = exec.Command(bin, "--config", "file:"+conf)
	j.cmd.Stdout, j.cmd.Stderr = lf, lf
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := j.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	t.Cleanup(j.kill)
	toolcache.WaitOK(t, "http://127.0.0.1:"+health+"/status", "jaeger", j.Log)
	return j
}

func (j *Jaeger) kill() {
	if j.cmd.Process != nil {
		syscall.Kill(-j.cmd.Process.Pid, syscall.SIGKILL)
		j.cmd.Wait()
	}
}

// Log is what Jaeger wrote so far.
func (j *Jaeger) Log() string {
	b, _ := os.ReadFile(j.log)
	return string(b)
}

// Span is a span as Jaeger's query API returns it, with the name of the
// service (process) that sent it.
type Span struct {
	TraceID, SpanID, Operation, Service string
	// Parent is the span's parent in the same trace ("" for a root, or a
	// parent in another trace).
	Parent string
}

// Trace returns the spans Jaeger holds of the trace id (hex); none when
// it holds none yet.
func (j *Jaeger) Trace(id string) ([]Span, error) {
	resp, err := http.Get(j.Query + "/api/traces/" + id)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/traces/%s: %s: %s", id, resp.Status, body)
	}
	var doc struct {
		Data []struct {
			Spans []struct {
				TraceID       string `json:"traceID"`
				SpanID        string `json:"spanID"`
				OperationName string `json:"operationName"`
				ProcessID     string `json:"processID"`
				References    []struct {
					RefType string `json:"refType"`
					TraceID string `json:"traceID"`
					SpanID  string `json:"spanID"`
				} `json:"references"`
			} `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("GET /api/traces/%s: %w: %s", id, err, body)
	}
	var out []Span
	for _, tr := range doc.Data {
		for _, s := range tr.Spans {
			sp := Span{TraceID: s.TraceID, SpanID: s.SpanID, Operation: s.OperationName, Service: tr.Processes[s.ProcessID].ServiceName}
			for _, r := range s.References {
				if r.RefType == "CHILD_OF" && r.TraceID == s.TraceID {
					sp.Parent = r.SpanID
				}
			}
			out = append(out, sp)
		}
	}
	return out, nil
}
