package gnmi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/amp-edge/amp/internal/auth"
)

// testCA is a self-signed CA that issues server and client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns PEM certificate and key for cn (a server for 127.0.0.1 when
// server is true, else a client).
func (ca *testCA) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{"ops"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSAndMutualTLS(t *testing.T) {
	eng, tokens := engine(t)
	tok, _, err := tokens.Create("t", "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := newCA(t, "amp test CA")
	sc, sk := ca.issue(t, "amp", true)
	cfg := ListenConfig{Addr: "127.0.0.1:0", Tokens: tokens,
		CertFile: write(t, dir, "server.crt", sc), KeyFile: write(t, dir, "server.key", sk), ClientCAFile: write(t, dir, "ca.crt", ca.pem)}
	srv, addr, err := Listen(eng, cfg, Options{Logger: slog.New(slog.DiscardHandler), Authorizer: auth.AllowAuthenticated{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(time.Second) })

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	dial := func(tc *tls.Config, opts ...grpc.DialOption) gpb.GNMIClient {
		var creds grpc.DialOption
		if tc == nil {
			creds = grpc.WithTransportCredentials(insecure.NewCredentials())
		} else {
			creds = grpc.WithTransportCredentials(credentials.NewTLS(tc))
		}
		conn, err := grpc.NewClient(addr.String(), append([]grpc.DialOption{creds}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return gpb.NewGNMIClient(conn)
	}
	clientCert := func(ca *testCA, cn string) tls.Certificate {
		c, k := ca.issue(t, cn, false)
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}

	// Server TLS with a token, no client certificate.
	c := dial(&tls.Config{RootCAs: roots}, grpc.WithPerRPCCredentials(bearer(tok)))
	if _, err := c.Capabilities(ctx(t), &gpb.CapabilityRequest{}); err != nil {
		t.Fatalf("TLS + token: %v", err)
	}
	// TLS without any credentials.
	_, err = dial(&tls.Config{RootCAs: roots}).Capabilities(ctx(t), &gpb.CapabilityRequest{})
	wantCode(t, err, codes.Unauthenticated, "client certificate")
	// Plaintext against the TLS port.
	_, err = dial(nil).Capabilities(ctx(t), &gpb.CapabilityRequest{})
	wantCode(t, err, codes.Unavailable)

	// Mutual TLS: the certificate's CN is the principal.
	c = dial(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert(ca, "carol")}})
	resp, err := c.Set(ctx(t), &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{Path: p("site[site-id=acme-chicago]/display-name"), Val: jsonVal(`"via mTLS"`)}}})
	if err != nil {
		t.Fatalf("mTLS Set: %v", err)
	}
	var ti TransactionInfo
	json.Unmarshal(resp.Extension[0].GetRegisteredExt().GetMsg(), &ti)
	rec, err := eng.Transaction(ti.Index)
	if err != nil || rec.Principal != "carol" || rec.Source != "gnmi" {
		t.Fatalf("record %+v %v", rec, err)
	}
	// A certificate from another CA fails the handshake.
	other := newCA(t, "other CA")
	_, err = dial(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert(other, "mallory")}}).Capabilities(ctx(t), &gpb.CapabilityRequest{})
	if err == nil {
		t.Fatal("a certificate from an unknown CA was accepted")
	}
}

func TestListenChecks(t *testing.T) {
	eng, tokens := engine(t)
	for _, c := range []struct {
		cfg  ListenConfig
		want string
	}{
		{ListenConfig{Addr: "0.0.0.0:0", InsecureNoAuth: true}, "loopback"},
		{ListenConfig{Addr: "0.0.0.0:0"}, "plaintext"},
		{ListenConfig{Addr: "127.0.0.1:0", CertFile: "x.crt"}, "go together"},
		{ListenConfig{Addr: "127.0.0.1:0", ClientCAFile: "ca.crt"}, "needs"},
		{ListenConfig{Addr: "nonsense"}, "nonsense"},
	} {
		_, _, err := Listen(eng, c.cfg, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	// No auth on loopback: calls without credentials run as "anonymous".
	srv, addr, err := Listen(eng, ListenConfig{Addr: "127.0.0.1:0", InsecureNoAuth: true, Tokens: tokens}, Options{Logger: slog.New(slog.DiscardHandler), Authorizer: auth.AllowAuthenticated{}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(time.Second)
	e := &env{t: t, addr: addr.String()}
	resp, err := e.client().Set(ctx(t), &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{Path: p("site[site-id=acme-chicago]/display-name"), Val: jsonVal(`"anon"`)}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := eng.Transaction(extInfo(t, resp).Index)
	if rec.Principal != "anonymous" {
		t.Errorf("principal %q", rec.Principal)
	}
	// A bad token is still refused.
	_, err = e.client(grpc.WithPerRPCCredentials(bearer("amp_000000000000_x"))).Capabilities(ctx(t), &gpb.CapabilityRequest{})
	wantCode(t, err, codes.Unauthenticated)
}
