// Package ca is the edge agents' certificate authority (docs/agent.md,
// "Enrolment and identity"): it signs a client certificate for a declared
// cluster's agent (CN = the cluster's id), keeps the allow-list of the
// serials that are valid for each cluster, and turns a verified agent
// certificate into a principal holding the agent role on its cluster
// (Authenticator).
//
// By default the CA is generated at first start and kept in the store's
// metadata, so every replica on one etcd signs and verifies with the same
// one; the operator may give their own (amp serve --agent-ca-cert and
// --agent-ca-key). The allow-list lives in the metadata too, read at every
// request: a revocation holds at once, on every replica.
//
// It imports the engine, the store's metadata interface, the auth seam,
// Prometheus and the standard library; the inventory's wing tells it
// which clusters are declared (SetDirectory).
package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/store"
)

// Certificate lifetimes.
const (
	DefaultLifetime = 90 * 24 * time.Hour
	// MinLifetime is short enough for tests and drills; MaxLifetime keeps
	// a stolen certificate from outliving a year without revocation.
	MinLifetime = time.Minute
	MaxLifetime = 365 * 24 * time.Hour
	// Backdate is how far before its issue a certificate is valid from:
	// a site whose clock runs a few minutes behind can use it at once.
	Backdate = 5 * time.Minute
	// caLifetime is the generated CA's.
	caLifetime = 10 * 365 * 24 * time.Hour
)

// metaCA is the metadata key of the generated CA (certificate and key).
const metaCA = "agent-ca"

// Options configure a CA.
type Options struct {
	// CertFile and KeyFile are the operator's CA (PEM); both empty: the
	// CA kept in the store's metadata, generated at first start.
	CertFile, KeyFile string
	// Lifetime of the certificates signed (0: DefaultLifetime).
	Lifetime time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Registerer gets the CA's metrics (nil: none registered).
	Registerer prometheus.Registerer
	// Logger gets what the CA reports (nil: nothing).
	Logger *slog.Logger
	// ServerCA is the PEM CA bundle of AMP's serving certificate when AMP
	// runs its local CA: handed to agents, which pin it.
	ServerCA []byte
}

// authority is a loaded CA: what signs and what verifies.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte // the certificate, PEM
	pool *x509.CertPool
	raw  []byte // the metadata record it came from (nil: the operator's files)
}

// CA signs and verifies edge agents' certificates for the clusters of one
// engine.
type CA struct {
	eng      *config.Engine
	meta     store.Meta
	lifetime time.Duration
	now      func() time.Time
	own      bool // the operator's CA: never replaced from the metadata
	cur      atomic.Pointer[authority]
	reload   sync.Mutex // one reload of the metadata CA at a time
	metrics  *Metrics
	log      *slog.Logger
	serverCA []byte
	// verified remembers the leaves whose chain verified, with the CA
	// they verified against (verifyCached).
	verifiedMu sync.Mutex
	verified   map[[32]byte]*authority
}

// New opens the CA of eng: the operator's files, or the one in the
// store's metadata, generated when there is none yet.
func New(eng *config.Engine, o Options) (*CA, error) {
	if o.Lifetime == 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.Lifetime < MinLifetime || o.Lifetime > MaxLifetime {
		return nil, fmt.Errorf("--agent-cert-lifetime %s: want from %s to %s (default %s)", o.Lifetime, MinLifetime, MaxLifetime, DefaultLifetime)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &CA{eng: eng, meta: eng.Meta(), lifetime: o.Lifetime, now: o.Now, metrics: newMetrics(), serverCA: o.ServerCA, log: o.Logger}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("--agent-ca-cert and --agent-ca-key go together")
	}
	if o.CertFile != "" {
		a, err := loadFiles(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, err
		}
		c.own = true
		c.cur.Store(a)
	} else if _, err := c.refresh(); err != nil {
		return nil, err
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(c.metrics.issued, c.metrics.refusals, &expiryCollector{c: c})
	}
	return c, nil
}

// Cert is the CA's certificate.
func (c *CA) Cert() *x509.Certificate { return c.cur.Load().cert }

// Metrics are the CA's metrics.
func (c *CA) Metrics() *Metrics { return c.metrics }

// refresh (re)reads the metadata CA, generating and storing one when
// there is none. Two replicas starting at once on an empty store may both
// generate one; the last stored wins, and the other replica takes it up at
// its next signing or at the first certificate it does not know
// (reloaded), so the replicas converge on one CA.
func (c *CA) refresh() (*authority, error) {
	c.reload.Lock()
	defer c.reload.Unlock()
	b, err := c.meta.GetMeta(metaCA)
	if err != nil {
		return nil, fmt.Errorf("read the agent CA: %w", err)
	}
	if cur := c.cur.Load(); b != nil && cur != nil && bytes.Equal(cur.raw, b) {
		return cur, nil
	}
	if b == nil {
		if b, err = generate(c.now()); err != nil {
			return nil, err
		}
		if err := c.meta.PutMeta(metaCA, b); err != nil {
			return nil, fmt.Errorf("store the agent CA: %w", err)
		}
	}
	a, err := decodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("the agent CA in the store's metadata (%s): %w", metaCA, err)
	}
	c.cur.Store(a)
	return a, nil
}

// current is the CA to sign with: the metadata CA as stored now (signing
// is rare: enrolments and renewals), the operator's as loaded.
func (c *CA) current() (*authority, error) {
	if c.own {
		return c.cur.Load(), nil
	}
	return c.refresh()
}

// record is the metadata CA: PEM certificate and PKCS #8 key.
type record struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

func generate(now time.Time) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "AMP edge agent CA", Organization: []string{"AMP"}},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create the agent CA: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return json.Marshal(record{
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})),
	})
}

func decodeRecord(b []byte) (*authority, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	a, err := parsePair([]byte(r.Cert), []byte(r.Key))
	if err != nil {
		return nil, err
	}
	a.raw = b
	return a, nil
}

// loadFiles reads the operator's CA.
func loadFiles(certFile, keyFile string) (*authority, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("--agent-ca-cert: %w", err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--agent-ca-key: %w", err)
	}
	a, err := parsePair(cb, kb)
	if err != nil {
		return nil, fmt.Errorf("--agent-ca-cert %s, --agent-ca-key %s: %w", certFile, keyFile, err)
	}
	return a, nil
}

// parsePair reads a CA certificate and its private key (PKCS #8, EC or
// PKCS #1) and checks that they belong together and may sign.
func parsePair(certPEM, keyPEM []byte) (*authority, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("the CA certificate is not a PEM CERTIFICATE")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the CA certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("the CA certificate may not sign certificates (not a CA, or no certSign key usage)")
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("the CA key is not PEM")
	}
	var key any
	switch kb.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	default:
		err = fmt.Errorf("a PEM %q is not a private key", kb.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("the CA key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("the CA key cannot sign")
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("the CA key does not belong to the CA certificate")
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &authority{cert: cert, key: signer, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), pool: pool}, nil
}

// newSerial is a random 128-bit certificate serial (positive).
func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// SerialHex is how serials are written: lower-case hex.
func SerialHex(s *big.Int) string { return s.Text(16) }

// checkKey accepts the keys agents may hold: ECDSA P-256 or P-384, RSA of
// at least 2048 bits.
func checkKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return fmt.Errorf("an ECDSA key on %s: use P-256 or P-384", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
		return fmt.Errorf("an RSA key of %d bits: use at least 2048", k.N.BitLen())
	}
	return fmt.Errorf("a %T key: use ECDSA P-256/P-384 or RSA of at least 2048 bits", pub)
}
