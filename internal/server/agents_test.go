package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge/ca"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/tlsutil"
)

// TestAcceptAgents: the REST TLS configuration lets an agent present its
// certificate whatever the flags. Without --tls-client-ca a certificate is
// asked for, not required, and not judged at the handshake (the agent CA
// answers 401 with the reason); with it, one is required, the operator
// CA's verified at the handshake as before, and the agent CA's let through.
func TestAcceptAgents(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pki := testenv.NewPKI(t)
	crt, key := pki.Issue(t, "amp-server", true)
	opCrt, opKey := pki.Issue(t, "ci-job", false)
	strangerCrt, strangerKey := testenv.NewPKI(t).Issue(t, "ace-x", false)

	eng, _ := testenv.Engine(t, false)
	ca.SetDirectory(func(*config.Snapshot, string) uint64 { return 1 })
	agents, err := ca.New(eng, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	agentKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, agentKey)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ca.ParseCSR(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := agents.Enrol("ace-x", csr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(iss.CertPEM)
	agentCert := tls.Certificate{Certificate: [][]byte{b.Bytes}, PrivateKey: agentKey}
	load := func(c, k string) tls.Certificate {
		pair, err := tls.LoadX509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	op, stranger := load(opCrt, opKey), load(strangerCrt, strangerKey)
	roots, err := tlsutil.CertPool(pki.CA)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		clientCA string
		certs    []tls.Certificate
		ok       bool
	}{
		{"", nil, true},
		{"", []tls.Certificate{agentCert}, true},
		{"", []tls.Certificate{stranger}, true}, // refused per request (401), with its reason
		{pki.CA, nil, false},
		{pki.CA, []tls.Certificate{op}, true},
		{pki.CA, []tls.Certificate{agentCert}, true},
		{pki.CA, []tls.Certificate{stranger}, false},
		{pki.CA, []tls.Certificate{op, agentCert}, true},
	} {
		tr, err := setupTransport(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", TLSCert: crt, TLSKey: key, TLSClientCA: tc.clientCA}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		tr.acceptAgents(agents)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}))
		srv.TLS = tr.rest
		srv.StartTLS()
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: tc.certs}}}
		resp, err := hc.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("client CA %q, %d certificate(s): %v, want accepted=%v", tc.clientCA, len(tc.certs), err, tc.ok)
		}
		srv.Close()
	}
}
