package e2e

// Transport security through the real binary (docs/tls.md): the local CA
// created on first start and kept, HTTPS with it, plain HTTP only on
// loopback and only when asked for, operator certificates, REST mutual
// TLS, and gNMI mutual TLS with the admin client certificate.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/tlsutil"
)

const tlsChicagoName = `prefix: {target: "acme"} path: {elem: {name: "site" key: {key: "site-id" value: "acme-chicago"}} elem: {name: "display-name"}}`

func TestTLSDevCA(t *testing.T) {
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--demo", "--adapters", "none", "--gnmi-listen", "127.0.0.1:0")
	tlsDir := filepath.Join(dir, "tls")
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Fatalf("URL %s", s.URL)
	}
	if s.CA != filepath.Join(tlsDir, "ca.crt") {
		t.Fatalf("CA %q", s.CA)
	}
	for name, mode := range map[string]os.FileMode{"ca.crt": 0o644, "ca.key": 0o600, "server.crt": 0o644, "server.key": 0o600, "admin-client.crt": 0o644, "admin-client.key": 0o600} {
		fi, err := os.Stat(filepath.Join(tlsDir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	fp, err := tlsutil.FileFingerprint(s.CA)
	if err != nil {
		t.Fatal(err)
	}
	// The first start tells how to trust the CA.
	log := s.Log()
	for _, want := range []string{"export AMP_CA=" + s.CA, `curl --cacert "$AMP_CA"`, fp, "-client_crt " + filepath.Join(tlsDir, "admin-client.crt")} {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in the first start's output:\n%s", want, log)
		}
	}

	// HTTPS with the CA.
	s.Must(t, 200, "GET", "/enterprises", "")
	// Without it: the certificate is not trusted.
	if _, err := http.Get(s.URL + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client that does not trust the CA: %v", err)
	}
	// Plain HTTP to the TLS port: refused.
	resp, err := http.Get("http://" + strings.TrimPrefix(s.URL, "https://") + "/enterprises")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "HTTPS") {
			t.Fatalf("plain HTTP to the TLS port: %d %s", resp.StatusCode, b)
		}
	}

	// The CLI: AMP_CA, or by itself from the local data dir.
	if out, err := ampCLI(t, []string{"AMP_SERVER=" + s.URL, "AMP_TOKEN=" + s.Token, "AMP_CA=" + s.CA}, "get", "/enterprises", "-o", "json"); err != nil || !strings.Contains(out, "acme") {
		t.Fatalf("amp get with AMP_CA: %v\n%s", err, out)
	}
	if out, err := ampCLI(t, []string{"AMP_SERVER=" + s.URL, "AMP_DATA_DIR=" + dir, "AMP_CA=", "AMP_TOKEN="}, "get", "/enterprises", "-o", "json"); err != nil || !strings.Contains(out, "acme") {
		t.Fatalf("amp get with the data dir's CA and token: %v\n%s", err, out)
	}
	if out, err := ampCLI(t, []string{"AMP_SERVER=" + s.URL, "AMP_TOKEN=" + s.Token, "AMP_CA=", "AMP_DATA_DIR=" + t.TempDir()}, "get", "/enterprises"); err == nil || !strings.Contains(out, "AMP_CA") {
		t.Fatalf("amp get without the CA: %v\n%s", err, out)
	}

	// gNMI: TLS with the same certificate, mutual TLS with the admin client
	// certificate (an operator).
	cli := testenv.GNMICli(t)
	addr := s.GNMIAddr(t)
	mtls := []string{"-address", addr, "-ca_crt", s.CA, "-client_crt", filepath.Join(tlsDir, "admin-client.crt"), "-client_key", filepath.Join(tlsDir, "admin-client.key")}
	out, err := exec.Command(cli, append(mtls, "-set", "-proto", `prefix: {target: "acme"} update: {path: {elem: {name: "site" key: {key: "site-id" value: "acme-chicago"}} elem: {name: "display-name"}} val: {json_ietf_val: '"Chicago over dev mTLS"'}}`)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gnmi_cli Set with admin-client.crt: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`\\"index\\":(\d+)`).FindSubmatch(out) // extension 110
	if m == nil {
		t.Fatalf("no transaction id in:\n%s", out)
	}
	var rec map[string]any
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/transactions/"+string(m[1]), ""), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["username"] != "admin" || rec["source"] != "gnmi" {
		t.Fatalf("transaction %v", rec)
	}
	if out, err := exec.Command(cli, append(mtls, "-get", "-proto", tlsChicagoName)...).CombinedOutput(); err != nil || !strings.Contains(string(out), "Chicago over dev mTLS") {
		t.Fatalf("gnmi_cli Get: %v\n%s", err, out)
	}
	// Plaintext to the TLS port, and TLS without credentials: refused.
	if out, err := exec.Command(cli, "-address", addr, "-insecure", "-timeout", "3s", "-get", "-proto", tlsChicagoName).CombinedOutput(); err == nil {
		t.Fatalf("plaintext gNMI to the TLS port:\n%s", out)
	}
	if out, err := exec.Command(cli, "-address", addr, "-ca_crt", s.CA, "-get", "-proto", tlsChicagoName).CombinedOutput(); err == nil || !strings.Contains(string(out), "Unauthenticated") {
		t.Fatalf("gNMI TLS without credentials: %v\n%s", err, out)
	}

	// Restart: the same CA and server certificate, no first-start message.
	crt, _ := os.ReadFile(filepath.Join(tlsDir, "server.crt"))
	s.Stop()
	s2, err := testenv.StartErr(testenv.Binary(t), dir, "--adapters", "none")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if fp2, _ := tlsutil.FileFingerprint(s2.CA); fp2 != fp {
		t.Fatalf("CA fingerprint changed on restart: %s, was %s", fp2, fp)
	}
	if crt2, _ := os.ReadFile(filepath.Join(tlsDir, "server.crt")); !bytes.Equal(crt, crt2) {
		t.Fatal("server certificate reissued on restart")
	}
	if strings.Contains(s2.Log(), "export AMP_CA") || !strings.Contains(s2.Log(), `"ca_sha256":"`+fp+`"`) {
		t.Fatalf("second start's log:\n%s", s2.Log())
	}
	s2.Must(t, 200, "GET", "/enterprises", "")
}

func TestTLSInsecureHTTPLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--adapters", "none", "--insecure-http")
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || s.CA != "" {
		t.Fatalf("URL %s CA %q", s.URL, s.CA)
	}
	s.Must(t, 200, "GET", "/enterprises", "")
	if _, err := os.Stat(filepath.Join(dir, "tls")); !os.IsNotExist(err) {
		t.Fatalf("--insecure-http created the local CA: %v", err)
	}
	if out, err := ampCLI(t, []string{"AMP_SERVER=" + s.URL, "AMP_TOKEN=" + s.Token}, "get", "/enterprises", "-o", "json"); err != nil {
		t.Fatalf("amp get over http: %v\n%s", err, out)
	}

	bin := testenv.Binary(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "0.0.0.0:0", "--insecure-http"}, "--insecure-http is only allowed on a loopback --listen address, not 0.0.0.0:0"},
		{[]string{"--listen", "[::]:0", "--insecure-http"}, "--insecure-http is only allowed on a loopback"},
		{[]string{"--gnmi-listen", "0.0.0.0:0", "--gnmi-insecure-plaintext"}, "--gnmi-insecure-plaintext (plaintext gNMI) is only allowed on a loopback --gnmi-listen address"},
		{[]string{"--gnmi-listen", "0.0.0.0:0", "--gnmi-insecure-no-auth"}, "only allowed on a loopback --gnmi-listen address"},
		{[]string{"--insecure-remote"}, "--insecure-remote is gone"},
		{[]string{"--tls-cert", "x.crt"}, "--tls-cert and --tls-key go together"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--data-dir", t.TempDir(), "--adapters", "none"}, c.args...)...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("amp serve %v: %v, want an error %q:\n%s", c.args, err, c.want, out)
		}
	}
}

func TestTLSOperatorCertificate(t *testing.T) {
	pki := testenv.NewPKI(t)
	crt, key := pki.Issue(t, "amp-server", true)
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--adapters", "none", "--tls-cert", crt, "--tls-key", key, "--gnmi-listen", "127.0.0.1:0")
	if !strings.HasPrefix(s.URL, "https://") || s.CA != "" {
		t.Fatalf("URL %s CA %q", s.URL, s.CA)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls")); !os.IsNotExist(err) {
		t.Fatalf("the local CA was created although --tls-cert was given: %v", err)
	}
	s.UseCA(t, pki.CA)
	s.Must(t, 200, "GET", "/enterprises", "")
	// The served certificate is the operator's.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.URL, "https://"), &tls.Config{RootCAs: pool(t, pki.CA)})
	if err != nil {
		t.Fatal(err)
	}
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "amp-server" {
		t.Fatalf("served certificate %q", cn)
	}
	conn.Close()
	// gNMI serves the same certificate (no client CA: tokens only).
	out, err := exec.Command(testenv.GNMICli(t), "-address", s.GNMIAddr(t), "-ca_crt", pki.CA, "-get", "-proto", tlsChicagoName).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Unauthenticated") {
		t.Fatalf("gNMI with the operator's certificate: %v\n%s", err, out)
	}
	s.Stop()

	// REST mutual TLS: a client certificate signed by --tls-client-ca is
	// required, besides the token.
	clientCrt, clientKey := pki.Issue(t, "ci-job", false)
	s = testenv.Start(t, dir, "--adapters", "none", "--tls-cert", crt, "--tls-key", key, "--tls-client-ca", pki.CA)
	s.UseCA(t, pki.CA)
	if _, _, _, err := s.Do(context.Background(), "GET", "/enterprises", ""); err == nil {
		t.Fatal("a client without a certificate got through --tls-client-ca")
	}
	env := []string{"AMP_SERVER=" + s.URL, "AMP_TOKEN=" + s.Token, "AMP_CA=" + pki.CA}
	if out, err := ampCLI(t, env, "get", "/enterprises", "-o", "json"); err == nil {
		t.Fatalf("amp get without a client certificate:\n%s", out)
	}
	if out, err := ampCLI(t, append(env, "AMP_CLIENT_CERT="+clientCrt, "AMP_CLIENT_KEY="+clientKey), "get", "/enterprises", "-o", "json"); err != nil {
		t.Fatalf("amp get with a client certificate: %v\n%s", err, out)
	}
}

func pool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	p, err := tlsutil.CertPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ampCLI runs the amp binary with extra environment and returns its
// combined output.
func ampCLI(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
