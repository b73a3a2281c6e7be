package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureDevCreatesOnceAndReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	d, err := EnsureDev(dir, Options{Hostname: "edge-1", SANs: []string{"amp.example.com", "10.0.0.5"}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.CreatedCA || !d.RenewedServer || !d.RenewedClient {
		t.Fatalf("first start: %+v", d)
	}
	for name, mode := range map[string]os.FileMode{CAFile: 0o644, CAKeyFile: 0o600, ServerCertFile: 0o644, ServerKeyFile: 0o600, ClientCertFile: 0o644, ClientKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode().Perm())
	}

	ca, err := LoadCert(d.CA)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Subject.CommonName != "AMP local CA edge-1" || !ca.IsCA || !ca.MaxPathLenZero {
		t.Errorf("CA subject %q IsCA %v", ca.Subject.CommonName, ca.IsCA)
	}
	if pk, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pk.Curve != elliptic.P256() {
		t.Errorf("CA key %T", ca.PublicKey)
	}
	if life := ca.NotAfter.Sub(ca.NotBefore); life < CAValidity || life > CAValidity+2*time.Hour {
		t.Errorf("CA validity %v", life)
	}

	srv, err := LoadCert(d.Cert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "edge-1", "amp.example.com", "10.0.0.5"} {
		if _, err := srv.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: roots}); err == nil {
		t.Error("server certificate valid for a name it should not hold")
	}
	if life := srv.NotAfter.Sub(srv.NotBefore); life < LeafValidity || life > LeafValidity+2*time.Hour {
		t.Errorf("server validity %v", life)
	}

	cli, err := LoadCert(d.ClientCert)
	if err != nil {
		t.Fatal(err)
	}
	if cli.Subject.CommonName != "admin" || len(cli.Subject.OrganizationalUnit) != 1 || cli.Subject.OrganizationalUnit[0] != AdminClientGroup {
		t.Errorf("client subject %v", cli.Subject)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"}); err == nil {
		t.Error("the client certificate works as a server certificate")
	}

	// Second start: nothing changes.
	srvPEM, _ := os.ReadFile(d.Cert)
	d2, err := EnsureDev(dir, Options{Hostname: "edge-1", SANs: []string{"10.0.0.5"}})
	if err != nil {
		t.Fatal(err)
	}
	if d2.CreatedCA || d2.RenewedServer || d2.RenewedClient {
		t.Fatalf("second start changed something: %+v", d2)
	}
	if d2.CAFingerprint != d.CAFingerprint {
		t.Fatalf("CA changed: %s, was %s", d2.CAFingerprint, d.CAFingerprint)
	}
	if fp, err := FileFingerprint(d.CA); err != nil || fp != d.CAFingerprint || len(fp) != 32*3-1 {
		t.Fatalf("FileFingerprint %q %v", fp, err)
	}
	if b, _ := os.ReadFile(d.Cert); string(b) != string(srvPEM) {
		t.Fatal("server certificate rewritten")
	}

	// A new name: the server certificate is reissued, the CA kept.
	d3, err := EnsureDev(dir, Options{Hostname: "edge-1", SANs: []string{"amp2.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if d3.CreatedCA || !d3.RenewedServer || d3.RenewedClient || d3.CAFingerprint != d.CAFingerprint {
		t.Fatalf("new SAN: %+v", d3)
	}
}

func TestEnsureDevRenewsNearExpiry(t *testing.T) {
	dir := t.TempDir()
	d, err := EnsureDev(dir, Options{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := LoadCert(d.Cert)
	// 300 days later: 65 days left, kept.
	d1, err := EnsureDev(dir, Options{Hostname: "h", Now: func() time.Time { return time.Now().Add(300 * 24 * time.Hour) }})
	if err != nil || d1.RenewedServer || d1.RenewedClient {
		t.Fatalf("renewed too early: %+v %v", d1, err)
	}
	// 340 days later: 25 days left, under the 30-day threshold.
	later := func() time.Time { return time.Now().Add(340 * 24 * time.Hour) }
	d2, err := EnsureDev(dir, Options{Hostname: "h", Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if d2.CreatedCA || !d2.RenewedServer || !d2.RenewedClient || d2.CAFingerprint != d.CAFingerprint {
		t.Fatalf("near expiry: %+v", d2)
	}
	nw, _ := LoadCert(d2.Cert)
	if !nw.NotAfter.After(old.NotAfter) || nw.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatalf("not renewed: %v -> %v", old.NotAfter, nw.NotAfter)
	}
}

func TestEnsureDevReplacesForeignLeaf(t *testing.T) {
	dir := t.TempDir()
	d, err := EnsureDev(dir, Options{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	// A server certificate of another CA (say, copied from elsewhere).
	other := t.TempDir()
	if _, err := EnsureDev(other, Options{Hostname: "h"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ServerCertFile, ServerKeyFile} {
		b, _ := os.ReadFile(filepath.Join(other, f))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d2, err := EnsureDev(dir, Options{Hostname: "h"})
	if err != nil || !d2.RenewedServer || d2.CAFingerprint != d.CAFingerprint {
		t.Fatalf("%+v %v", d2, err)
	}
}

func TestEnsureDevRefusesBrokenCA(t *testing.T) {
	dir := t.TempDir()
	if _, err := EnsureDev(dir, Options{Hostname: "h"}); err != nil {
		t.Fatal(err)
	}
	// The key is gone: never silently create a CA nobody trusts yet.
	if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	_, err := EnsureDev(dir, Options{Hostname: "h"})
	if err == nil || !strings.Contains(err.Error(), "not usable") || !strings.Contains(err.Error(), "remove") {
		t.Fatalf("missing CA key: %v", err)
	}
	// Expired.
	dir2 := t.TempDir()
	if _, err := EnsureDev(dir2, Options{Hostname: "h"}); err != nil {
		t.Fatal(err)
	}
	_, err = EnsureDev(dir2, Options{Hostname: "h", Now: func() time.Time { return time.Now().Add(11 * 365 * 24 * time.Hour) }})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired CA: %v", err)
	}
}

// The dev PKI end to end over real TLS: HTTPS with the CA, refused
// without it, mutual TLS with the admin client certificate, TLS 1.2 floor.
func TestServerAndClientConfig(t *testing.T) {
	d, err := EnsureDev(t.TempDir(), Options{Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ServerConfig(d.Cert, d.Key, d.CA, true)
	if err != nil {
		t.Fatal(err)
	}
	if sc.MinVersion != tls.VersionTLS12 || sc.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("server config %+v", sc)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	ts.TLS = sc
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()

	get := func(cfg *tls.Config) (string, error) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := hc.Get(ts.URL)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	cc, err := ClientConfig(d.CA, d.ClientCert, d.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := get(cc); err != nil || got != "admin" {
		t.Fatalf("mutual TLS: %q %v", got, err)
	}
	noCert, _ := ClientConfig(d.CA, "", "")
	if _, err := get(noCert); err == nil {
		t.Fatal("a client without a certificate got in")
	}
	system, _ := ClientConfig("", d.ClientCert, d.ClientKey)
	if _, err := get(system); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted CA: %v", err)
	}
	old := cc.Clone()
	old.MaxVersion = tls.VersionTLS11
	if _, err := get(old); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}

	if _, err := ServerConfig(d.Cert, "", "", false); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := ClientConfig(d.CA, d.ClientCert, ""); err == nil {
		t.Fatal("client cert without key accepted")
	}
	if _, err := ClientConfig(d.Key, "", ""); err == nil {
		t.Fatal("a key file accepted as CA")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8181": true, "[::1]:1": true, "localhost:80": true, "127.1.2.3:0": true,
		"0.0.0.0:8181": false, ":8181": false, "10.0.0.1:1": false, "[::]:1": false, "example.com:1": false,
	} {
		got, err := IsLoopback(addr)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", addr, got, err, want)
		}
	}
	if _, err := IsLoopback("nonsense"); err == nil {
		t.Error("no port accepted")
	}
}
