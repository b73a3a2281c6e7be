package ca

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// The CA's costs, each with the bare x509 operation it is built on as the
// baseline measured in the same run (report the ratio):
//
//	go test -run '^$' -bench . -benchtime 2s ./internal/edge/ca
//
// BenchmarkEnrol/ca against BenchmarkEnrol/x509-sign: what an enrolment
// adds to signing (the allow-list write, the CSR's checks).
// BenchmarkIdentify/ca against BenchmarkIdentify/x509-verify: what
// authenticating an agent's request adds to verifying its chain (the
// allow-list read, the declared check).
func BenchmarkEnrol(b *testing.B) {
	c, _, _ := newCA(b, Options{})
	csrPEM := csrFor(b, ecKey(b, elliptic.P256()), "ace-x")
	b.Run("x509-sign", func(b *testing.B) {
		a := c.cur.Load()
		csr := mustCSR(b, csrPEM)
		for i := 0; b.Loop(); i++ {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "ace-x"},
				NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if _, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, csr.PublicKey, a.key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ca", func(b *testing.B) {
		for b.Loop() {
			csr, err := ParseCSR(csrPEM)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Enrol("ace-x", csr); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkIdentify(b *testing.B) {
	c, _, _ := newCA(b, Options{})
	iss, err := c.Enrol("ace-x", mustCSR(b, csrFor(b, ecKey(b, elliptic.P256()), "ace-x")))
	if err != nil {
		b.Fatal(err)
	}
	leaf := parse(b, iss.CertPEM)
	chain := []*x509.Certificate{leaf}
	b.Run("x509-verify", func(b *testing.B) {
		for b.Loop() {
			if err := c.verifyChain(chain); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ca", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := c.Identify(chain); err != nil {
				b.Fatal(err)
			}
		}
	})
}
