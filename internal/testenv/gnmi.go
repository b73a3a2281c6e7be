package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/amp-edge/amp/internal/tlsutil"
)

// GNMIAddr returns the address `amp serve --gnmi-listen` bound, read from
// its "gnmi serving" log line.
func (s *Server) GNMIAddr(t testing.TB) string {
	t.Helper()
	a, _ := s.gnmiServing(t)["address"].(string)
	return a
}

// GNMIDialOption returns the transport credentials for a gRPC client of
// the server's gNMI: TLS trusting s.CA (the local CA, or the one given to
// UseCA) when gNMI serves TLS, plaintext otherwise. It presents no client
// certificate: authenticate with a bearer token in the metadata.
func (s *Server) GNMIDialOption(t testing.TB) grpc.DialOption {
	t.Helper()
	if tls, _ := s.gnmiServing(t)["tls"].(bool); !tls {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	if s.CA == "" {
		t.Fatal("gNMI serves TLS with a certificate of an unknown CA: call UseCA first")
	}
	cfg, err := tlsutil.ClientConfig(s.CA, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

// gnmiServing returns the server's "gnmi serving" log record.
func (s *Server) gnmiServing(t testing.TB) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(s.Log(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "gnmi serving" {
				if _, ok := rec["address"].(string); ok {
					return rec
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"gnmi serving\" line in the server log (was --gnmi-listen given?):\n%s", s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// GNMICli returns the path of OpenConfig's reference client gnmi_cli in
// $(go env GOPATH)/bin, failing the test when it is not installed.
func GNMICli(t testing.TB) string {
	t.Helper()
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err != nil {
			t.Fatalf("go env GOPATH: %v", err)
		}
		gopath = strings.TrimSpace(string(out))
	}
	p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "gnmi_cli")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("gnmi_cli is not installed at %s: run scripts/test-deps.sh (go install github.com/openconfig/gnmi/cmd/gnmi_cli@v0.14.1)", p)
	}
	return p
}
