package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv"
)

// clusters is the test's directory: cluster id → creation index.
type clusters struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (c *clusters) set(id string, created uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if created == 0 {
		delete(c.m, id)
	} else {
		c.m[id] = created
	}
}

var dir = &clusters{m: map[string]uint64{}}

func init() {
	SetDirectory(func(_ *config.Snapshot, id string) uint64 {
		dir.mu.Lock()
		defer dir.mu.Unlock()
		return dir.m[id]
	})
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newCA opens a CA on a fresh engine with a fake clock and one declared
// cluster, ace-x (created at index 7).
func newCA(t testing.TB, o Options) (*CA, *clock, *config.Engine) {
	t.Helper()
	eng, _ := testenv.Engine(t, false)
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	o.Now = clk.now
	c, err := New(eng, o)
	if err != nil {
		t.Fatal(err)
	}
	dir.set("ace-x", 7)
	t.Cleanup(func() { dir.set("ace-x", 0) })
	return c, clk, eng
}

func csrFor(t testing.TB, key crypto.Signer, cn string) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn}, DNSNames: []string{"amp.example.com"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func ecKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCSR(t testing.TB, s string) *x509.CertificateRequest {
	t.Helper()
	csr, err := ParseCSR(s)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func parse(t testing.TB, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatalf("not PEM: %q", p)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func refusal(t *testing.T, err error, reason, says string) {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) || r.Reason != reason || !strings.Contains(err.Error(), says) || !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("got %v, want a %s refusal saying %q", err, reason, says)
	}
}

// TestEnrolSignsForTheCluster: whatever the CSR asks, the certificate is
// the cluster's (CN), for client authentication only, backdated by five
// minutes, with the configured lifetime and renewal at two thirds; it
// identifies its cluster.
func TestEnrolSignsForTheCluster(t *testing.T) {
	c, clk, _ := newCA(t, Options{Lifetime: 30 * 24 * time.Hour})
	iss, err := c.Enrol("ace-x", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "operator")))
	if err != nil {
		t.Fatal(err)
	}
	cert := parse(t, iss.CertPEM)
	now := clk.now()
	switch {
	case cert.Subject.CommonName != "ace-x" || len(cert.DNSNames) != 0:
		t.Errorf("subject %v, names %v: want CN ace-x and nothing the CSR asked", cert.Subject, cert.DNSNames)
	case len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || cert.IsCA:
		t.Errorf("key usage %v, CA %v: want client authentication only", cert.ExtKeyUsage, cert.IsCA)
	case !cert.NotBefore.Equal(now.Add(-Backdate)) || !cert.NotAfter.Equal(now.Add(30*24*time.Hour)) || !iss.NotAfter.Equal(cert.NotAfter):
		t.Errorf("valid %s..%s (answer %s), issued at %s", cert.NotBefore, cert.NotAfter, iss.NotAfter, now)
	case !iss.RenewAt.Equal(now.Add(20 * 24 * time.Hour)):
		t.Errorf("renew at %s, want two thirds in: %s", iss.RenewAt, now.Add(20*24*time.Hour))
	case iss.Serial != SerialHex(cert.SerialNumber) || cert.SerialNumber.BitLen() < 96:
		t.Errorf("serial %s (%d bits), answer %s: want a random 128-bit serial", cert.SerialNumber, cert.SerialNumber.BitLen(), iss.Serial)
	}
	pool := x509.NewCertPool()
	pool.AddCert(parse(t, iss.CAPEM))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the certificate does not verify with the CA handed out: %v", err)
	}
	cluster, serial, err := c.Identify([]*x509.Certificate{cert})
	if err != nil || cluster != "ace-x" || serial != iss.Serial {
		t.Fatalf("Identify: %q %q %v", cluster, serial, err)
	}
	if p := Principal(cluster); p.Name != "cluster:ace-x" || p.Via != "mtls" || len(p.Rights) != 1 || p.Rights[0] != (auth.Right{Role: auth.RoleAgent, Cluster: "ace-x"}) {
		t.Fatalf("principal %+v", p)
	}
	if _, err := c.Enrol("nope", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "nope"))); !errors.Is(err, ErrNotDeclared) {
		t.Fatalf("enrolling an undeclared cluster: %v", err)
	}
}

// TestCSRChecks: the CSR must be one PEM request whose signature holds,
// for a key of an accepted kind and size; each refusal names /csr.
func TestCSRChecks(t *testing.T) {
	good := csrFor(t, ecKey(t, elliptic.P384()), "x")
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaOK, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode([]byte(good))
	tampered := append([]byte(nil), b.Bytes...)
	tampered[len(tampered)-3] ^= 0xff // the signature, at the end
	for name, tc := range map[string]struct{ csr, says string }{
		"missing":        {"", "is required"},
		"not PEM":        {"hello", "not a PEM"},
		"a certificate":  {strings.Replace(good, "CERTIFICATE REQUEST", "CERTIFICATE", 2), "not a PEM"},
		"trailing data":  {good + good, "nothing after it"},
		"bad signature":  {string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered})), "signature"},
		"P-224 key":      {csrFor(t, ecKey(t, elliptic.P224()), "x"), "P-224"},
		"RSA 1024":       {csrFor(t, rsaSmall, "x"), "1024 bits"},
		"garbage inside": {string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("junk")})), "unreadable"},
	} {
		_, err := ParseCSR(tc.csr)
		var se *schema.Error
		if !errors.As(err, &se) || se.Kind != schema.KindInvalid || !strings.Contains(err.Error(), "/csr") || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want a 400 on /csr saying %q", name, err, tc.says)
		}
	}
	for name, csr := range map[string]string{"P-384": good, "RSA 2048": csrFor(t, rsaOK, "x"), "P-256": csrFor(t, ecKey(t, elliptic.P256()), "x")} {
		if _, err := ParseCSR(csr); err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
	}
}

// TestIdentifyRefusals: expired, before its validity (clock skew beyond
// the backdating), another CA's, revoked, of a cluster no longer declared
// or declared again: each refused with its reason and counted.
func TestIdentifyRefusals(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, clk, _ := newCA(t, Options{Lifetime: time.Hour, Registerer: reg})
	iss, err := c.Enrol("ace-x", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ace-x")))
	if err != nil {
		t.Fatal(err)
	}
	cert := parse(t, iss.CertPEM)
	chain := []*x509.Certificate{cert}

	// A site clock four minutes behind is within the backdating...
	clk.add(-4 * time.Minute)
	if _, _, err := c.Identify(chain); err != nil {
		t.Fatalf("4 minutes of skew: %v", err)
	}
	// ...ten minutes is not: AMP's clock is what counts, and is named.
	clk.add(-6 * time.Minute)
	_, _, err = c.Identify(chain)
	refusal(t, err, RefusedNotYetValid, "not valid before")
	clk.add(10*time.Minute + time.Hour + time.Second)
	_, _, err = c.Identify(chain)
	refusal(t, err, RefusedExpired, "expired at "+cert.NotAfter.UTC().Format(time.RFC3339))
	clk.add(-time.Hour)

	// Another CA, same subject and serial.
	other, _, _ := newCA(t, Options{})
	forged, err := other.sign("ace-x", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ace-x")), 7, ReasonEnrol)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Identify([]*x509.Certificate{parse(t, forged.CertPEM)})
	refusal(t, err, RefusedForeignCA, "not an agent certificate signed by AMP's agent CA")

	// Declared again (a new creation index): the old certificate is dead.
	dir.set("ace-x", 9)
	_, _, err = c.Identify(chain)
	refusal(t, err, RefusedRevoked, "was revoked")
	dir.set("ace-x", 0)
	_, _, err = c.Identify(chain)
	refusal(t, err, RefusedUndeclared, `cluster "ace-x" is not declared`)
	dir.set("ace-x", 7)
	if _, _, err := c.Identify(chain); err != nil {
		t.Fatalf("back to the same incarnation: %v", err)
	}
	if n, err := c.Revoke("ace-x"); err != nil || n != 1 {
		t.Fatalf("Revoke: %d %v", n, err)
	}
	_, _, err = c.Identify(chain)
	refusal(t, err, RefusedRevoked, "was revoked")

	for reason, want := range map[string]float64{RefusedNotYetValid: 1, RefusedExpired: 1, RefusedForeignCA: 1, RefusedRevoked: 2, RefusedUndeclared: 1} {
		if got := testutil.ToFloat64(c.metrics.refusals.WithLabelValues(reason)); got != want {
			t.Errorf("refusals{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if got := testutil.ToFloat64(c.metrics.issued.WithLabelValues(ReasonEnrol)); got != 1 {
		t.Errorf("issued{enrol} = %v", got)
	}
}

// TestRenewKeepsAtMostTwo: a renewal adds a certificate and keeps the one
// that asked valid until it expires; the next drops the oldest; a revoked
// or replaced certificate cannot renew; an enrolment replaces them all.
func TestRenewKeepsAtMostTwo(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, _, _ := newCA(t, Options{Registerer: reg})
	csr := func() *x509.CertificateRequest { return mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ace-x")) }
	first, err := c.Enrol("ace-x", csr())
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Renew("ace-x", first.Serial, csr())
	if err != nil {
		t.Fatal(err)
	}
	valid := func(want ...string) {
		t.Helper()
		got, err := c.serials("ace-x")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("valid serials %v, want %v", got, want)
		}
	}
	valid(first.Serial, second.Serial)
	third, err := c.Renew("ace-x", second.Serial, csr())
	if err != nil {
		t.Fatal(err)
	}
	valid(second.Serial, third.Serial)
	if _, err := c.Renew("ace-x", first.Serial, csr()); !errors.Is(err, ErrNotValid) {
		t.Fatalf("renewing with a dropped certificate: %v", err)
	}
	fourth, err := c.Enrol("ace-x", csr())
	if err != nil {
		t.Fatal(err)
	}
	valid(fourth.Serial)
	if _, err := c.Revoke("ace-x"); err != nil {
		t.Fatal(err)
	}
	valid()
	if _, err := c.Renew("ace-x", fourth.Serial, csr()); !errors.Is(err, ErrNotValid) {
		t.Fatalf("renewing a revoked certificate: %v", err)
	}
	valid()
	if got := testutil.ToFloat64(c.metrics.issued.WithLabelValues(ReasonRenew)); got != 2 {
		t.Errorf("issued{renew} = %v, want 2", got)
	}
	// The expiry gauge: the newest valid certificate of each declared cluster.
	if _, err := c.Enrol("ace-x", csr()); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "amp_edge_certificate_expiry_timestamp_seconds"); err != nil || n != 1 {
		t.Fatalf("expiry series: %d %v", n, err)
	}
	dir.set("ace-x", 0)
	if n, err := testutil.GatherAndCount(reg, "amp_edge_certificate_expiry_timestamp_seconds"); err != nil || n != 0 {
		t.Fatalf("expiry series of an undeclared cluster: %d %v", n, err)
	}
}

// TestReplicasShareTheCA: a second CA on the same store takes the first's
// from the metadata; when two replicas raced at first start (both
// generated one), the loser takes up the stored one at the first
// certificate it does not know.
func TestReplicasShareTheCA(t *testing.T) {
	a, clk, eng := newCA(t, Options{})
	b, err := New(eng, Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Cert().Equal(b.Cert()) {
		t.Fatal("two CAs on one store differ")
	}
	// The race: b holds a CA that lost (another one is stored).
	lost, err := generate(clk.now())
	if err != nil {
		t.Fatal(err)
	}
	la, err := decodeRecord(lost)
	if err != nil {
		t.Fatal(err)
	}
	b.cur.Store(la)
	iss, err := a.Enrol("ace-x", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ace-x")))
	if err != nil {
		t.Fatal(err)
	}
	if cluster, _, err := b.Identify([]*x509.Certificate{parse(t, iss.CertPEM)}); err != nil || cluster != "ace-x" {
		t.Fatalf("the replica that lost the race: %q %v", cluster, err)
	}
	if !a.Cert().Equal(b.Cert()) {
		t.Fatal("the replica did not take up the stored CA")
	}
}

// writeCA writes a CA certificate and key as an operator would give them.
func writeCA(t *testing.T, isCA bool) (certFile, keyFile string) {
	t.Helper()
	key := ecKey(t, elliptic.P256())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ops agents CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: isCA}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	certFile, keyFile = filepath.Join(d, "ca.crt"), filepath.Join(d, "ca.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestOperatorCA: the operator's CA signs; a certificate never outlives
// it; files that are no CA, or whose key is another's, are refused; the
// lifetime is bounded.
func TestOperatorCA(t *testing.T) {
	crt, key := writeCA(t, true)
	c, _, eng := newCA(t, Options{CertFile: crt, KeyFile: key})
	iss, err := c.Enrol("ace-x", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ace-x")))
	if err != nil {
		t.Fatal(err)
	}
	cert := parse(t, iss.CertPEM)
	caCert := c.Cert()
	if cert.Issuer.CommonName != "ops agents CA" || cert.NotAfter.After(caCert.NotAfter) {
		t.Fatalf("issuer %v, not after %s (CA %s)", cert.Issuer, cert.NotAfter, caCert.NotAfter)
	}
	if b, err := eng.Meta().GetMeta(metaCA); err != nil || b != nil {
		t.Fatalf("the operator's CA left a generated one in the store: %v %q", err, b)
	}
	notCA, notCAKey := writeCA(t, false)
	_, otherKey := writeCA(t, true)
	for name, o := range map[string]Options{
		"not a CA":      {CertFile: notCA, KeyFile: notCAKey},
		"another's key": {CertFile: crt, KeyFile: otherKey},
		"cert only":     {CertFile: crt},
		"too short":     {Lifetime: time.Second},
		"too long":      {Lifetime: 2 * MaxLifetime},
	} {
		if _, err := New(eng, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAuthenticator: without a certificate the request goes on to the
// other authenticators; an agent certificate is the agent; a certificate
// the operator's --tls-client-ca vouched for goes on to the token; any
// other certificate is refused with its reason.
func TestAuthenticator(t *testing.T) {
	c, _, _ := newCA(t, Options{})
	iss, err := c.Enrol("ace-x", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ace-x")))
	if err != nil {
		t.Fatal(err)
	}
	// Another AMP's agent CA (the same subject), and the operator's own.
	other, _, _ := newCA(t, Options{})
	foreign, err := other.sign("ace-x", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ace-x")), 7, ReasonEnrol)
	if err != nil {
		t.Fatal(err)
	}
	crt, key := writeCA(t, true)
	ops, _, _ := newCA(t, Options{CertFile: crt, KeyFile: key})
	operators, err := ops.sign("ci-job", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ci-job")), 7, ReasonEnrol)
	if err != nil {
		t.Fatal(err)
	}
	next := auth.Authenticator(nextFunc(func(*http.Request) (*auth.Principal, error) { return &auth.Principal{Name: "token-holder"}, nil }))
	req := func(cert []byte) *http.Request {
		r := httptest.NewRequest("GET", "/edge/v1/clusters/ace-x/desired", nil)
		r.TLS = &tls.ConnectionState{}
		if cert != nil {
			r.TLS.PeerCertificates = []*x509.Certificate{parse(t, cert)}
		}
		return r
	}
	for _, tc := range []struct {
		operatorCA bool
		cert       []byte
		want       string // principal, or the refusal reason
	}{
		{false, nil, "token-holder"},
		{false, iss.CertPEM, "cluster:ace-x"},
		{false, foreign.CertPEM, RefusedForeignCA},
		{false, operators.CertPEM, RefusedForeignCA},
		{true, iss.CertPEM, "cluster:ace-x"},
		{true, foreign.CertPEM, RefusedForeignCA}, // names the agent CA: checked as an agent's
		{true, operators.CertPEM, "token-holder"}, // vouched for at the handshake: no identity by itself
	} {
		a := &Authenticator{CA: c, Next: next, OperatorClientCA: tc.operatorCA}
		p, err := a.Authenticate(req(tc.cert))
		var r *Refusal
		switch {
		case err == nil && p.Name == tc.want:
		case errors.As(err, &r) && r.Reason == tc.want:
		default:
			t.Errorf("operator CA %v, %d-byte certificate: %+v %v, want %s", tc.operatorCA, len(tc.cert), p, err, tc.want)
		}
	}
}

type nextFunc func(*http.Request) (*auth.Principal, error)

func (f nextFunc) Authenticate(r *http.Request) (*auth.Principal, error) { return f(r) }

// TestRenewDue: a check-in asks the agent to renew from two thirds into
// its certificate's lifetime, or at once when another CA key signed it.
func TestRenewDue(t *testing.T) {
	c, clk, _ := newCA(t, Options{Lifetime: 90 * time.Hour})
	iss, err := c.Enrol("ace-x", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ace-x")))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("PUT", "/edge/v1/clusters/ace-x/status", nil)
	if c.RenewDue(r) {
		t.Fatal("a request without a certificate is due for renewal")
	}
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{parse(t, iss.CertPEM)}}
	clk.add(60*time.Hour - time.Second)
	if c.RenewDue(r) {
		t.Fatal("due before two thirds of its lifetime")
	}
	clk.add(time.Second)
	if !c.RenewDue(r) || !clk.now().Equal(iss.RenewAt) {
		t.Fatalf("not due at two thirds (%s, renew-at %s)", clk.now(), iss.RenewAt)
	}
	// The CA replaced (another key, the same name): due at once.
	clk.add(-59 * time.Hour)
	other, _, _ := newCA(t, Options{})
	c.cur.Store(other.cur.Load())
	if !c.RenewDue(r) {
		t.Fatal("a certificate of the replaced CA is not due")
	}
}

// failingMeta is a store whose metadata cannot be read (an etcd outage).
type failingMeta struct{ store.Meta }

func (failingMeta) Metas(string, func(string, []byte) error) error {
	return errors.New("etcd: context deadline exceeded")
}

// TestExpiryWhileTheStoreIsDown: a scrape while the store cannot be read
// reports the expiries last read and fails nothing else of /metrics.
func TestExpiryWhileTheStoreIsDown(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, _, _ := newCA(t, Options{Registerer: reg})
	if _, err := c.Enrol("ace-x", mustCSR(t, csrFor(t, ecKey(t, elliptic.P256()), "ace-x"))); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "amp_edge_certificate_expiry_timestamp_seconds"); err != nil || n != 1 {
		t.Fatalf("expiry series: %d %v", n, err)
	}
	c.meta = failingMeta{c.meta}
	if n, err := testutil.GatherAndCount(reg, "amp_edge_certificate_expiry_timestamp_seconds"); err != nil || n != 1 {
		t.Fatalf("expiry series while the store is down: %d %v", n, err)
	}
}
