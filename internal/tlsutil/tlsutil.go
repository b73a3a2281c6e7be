// Package tlsutil is AMP's transport security kit (docs/tls.md): on first
// start in dev mode `amp serve` creates, in <data-dir>/tls, a local
// certificate authority and, signed by it, a server certificate (HTTPS for
// REST, TLS for gNMI) and an admin client certificate (gNMI mutual TLS).
// The CA is created once and kept; the server and client certificates are
// renewed on start when fewer than 30 days are left (or when the server
// certificate no longer covers the names asked for). In production the
// operator's own certificate replaces all of this.
//
// It imports only the standard library.
package tlsutil

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names in the dev PKI directory.
const (
	CAFile         = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
	ClientCertFile = "admin-client.crt"
	ClientKeyFile  = "admin-client.key"
)

// Validity of what EnsureDev creates.
const (
	CAValidity    = 10 * 365 * 24 * time.Hour
	LeafValidity  = 365 * 24 * time.Hour
	RenewBefore   = 30 * 24 * time.Hour
	AdminClientCN = "admin"
	// AdminClientGroup is the organizational unit of the admin client
	// certificate; gNMI maps a client certificate's OUs to groups, so its
	// holder is an operator, like the holder of the first admin token.
	AdminClientGroup = "AetherROCAdmin"
)

// Options tunes EnsureDev.
type Options struct {
	// Hostname goes into the CA's name and the server certificate's SANs;
	// empty: os.Hostname().
	Hostname string
	// SANs are extra names (DNS names or IP addresses) for the server
	// certificate, beyond localhost, 127.0.0.1, ::1 and the hostname.
	SANs []string
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Dev is the dev PKI in Dir: the paths of its files and what EnsureDev did.
type Dev struct {
	Dir                   string
	CA, CAKey             string
	Cert, Key             string // server certificate and key
	ClientCert, ClientKey string // admin client certificate and key
	// CAFingerprint is the SHA-256 of the CA certificate (hex, colon
	// separated, as openssl x509 -fingerprint -sha256 prints it).
	CAFingerprint string
	// CreatedCA is true when this call created the CA (first start).
	CreatedCA bool
	// RenewedServer and RenewedClient are true when this call (re)issued
	// the server or the client certificate.
	RenewedServer, RenewedClient bool
	// NotAfter is when the server certificate expires.
	NotAfter time.Time
}

// EnsureDev makes sure dir holds a usable dev PKI and returns it: it
// creates the CA on first use (and never replaces an existing one), and
// issues the server and admin client certificates when they are missing,
// not signed by the CA, expire within RenewBefore, or (server) do not
// cover every name asked for.
func EnsureDev(dir string, o Options) (*Dev, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	host := o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	d := &Dev{
		Dir: dir,
		CA:  filepath.Join(dir, CAFile), CAKey: filepath.Join(dir, CAKeyFile),
		Cert: filepath.Join(dir, ServerCertFile), Key: filepath.Join(dir, ServerKeyFile),
		ClientCert: filepath.Join(dir, ClientCertFile), ClientKey: filepath.Join(dir, ClientKeyFile),
	}
	ca, caKey, err := loadPair(d.CA, d.CAKey)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !exists(d.CA) && !exists(d.CAKey):
		ca, caKey, err = newCA(host, now())
		if err != nil {
			return nil, err
		}
		if err := writePair(d.CA, d.CAKey, ca, caKey); err != nil {
			return nil, err
		}
		d.CreatedCA = true
	case err != nil:
		return nil, fmt.Errorf("the local CA in %s is not usable (%v); remove %s and %s to create a new one (clients must then trust the new ca.crt)", dir, err, d.CA, d.CAKey)
	case !ca.IsCA:
		return nil, fmt.Errorf("%s is not a CA certificate", d.CA)
	case now().After(ca.NotAfter):
		return nil, fmt.Errorf("the local CA %s expired on %s; remove %s and %s to create a new one (clients must then trust the new ca.crt)", d.CA, ca.NotAfter.Format(time.DateOnly), d.CA, d.CAKey)
	}
	d.CAFingerprint = Fingerprint(ca)

	dns, ips := sans(host, o.SANs)
	srv, _, err := loadPair(d.Cert, d.Key)
	if err != nil || !usable(srv, ca, now()) || !covers(srv, dns, ips) {
		srv, err = issue(ca, caKey, now(), leaf{cn: firstNonEmpty(host, "localhost"), server: true, dns: dns, ips: ips, notAfter: minTime(now().Add(LeafValidity), ca.NotAfter)}, d.Cert, d.Key)
		if err != nil {
			return nil, err
		}
		d.RenewedServer = true
	}
	d.NotAfter = srv.NotAfter
	cli, _, err := loadPair(d.ClientCert, d.ClientKey)
	if err != nil || !usable(cli, ca, now()) {
		if _, err := issue(ca, caKey, now(), leaf{cn: AdminClientCN, ou: []string{AdminClientGroup}, notAfter: minTime(now().Add(LeafValidity), ca.NotAfter)}, d.ClientCert, d.ClientKey); err != nil {
			return nil, err
		}
		d.RenewedClient = true
	}
	return d, nil
}

// Fingerprint is the SHA-256 fingerprint of a certificate, upper-case hex
// bytes separated by colons (openssl x509 -noout -fingerprint -sha256).
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// FileFingerprint is Fingerprint of the first certificate in a PEM file.
func FileFingerprint(path string) (string, error) {
	c, err := LoadCert(path)
	if err != nil {
		return "", err
	}
	return Fingerprint(c), nil
}

// LoadCert reads the first certificate of a PEM file.
func LoadCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s holds no PEM certificate", path)
		}
		if blk.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return c, nil
		}
	}
}

// CertPool reads a PEM bundle of CA certificates.
func CertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// CipherSuites are the TLS 1.2 suites AMP offers and accepts: ECDHE key
// exchange (forward secrecy) with an AEAD cipher only; no CBC mode and no
// SHA-1 MAC, which Go still enables by default. TLS 1.3 suites are not
// configurable and are all AEAD.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig is the TLS configuration of a server with the certificate
// and key in certFile and keyFile (TLS 1.2 or newer). With clientCAFile,
// clients must present a certificate signed by one of its CAs when
// requireClient is set, or may (and are then verified) when it is not.
func ServerConfig(certFile, keyFile, clientCAFile string, requireClient bool) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load the TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: CipherSuites}
	if clientCAFile != "" {
		pool, err := CertPool(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if requireClient {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, nil
}

// ClientConfig is the TLS configuration of a client that trusts the
// system's roots plus the CAs in caFile (when set), and presents the
// client certificate in certFile/keyFile (when set).
func ClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: CipherSuites}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read the CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("the CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("a client certificate needs both the certificate and the key file")
	}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load the client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// IsLoopback reports whether the host of a host:port address is a loopback
// address or "localhost".
func IsLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// --- internals --------------------------------------------------------------

type leaf struct {
	cn       string
	ou       []string
	server   bool
	dns      []string
	ips      []net.IP
	notAfter time.Time
}

func newCA(host string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	name := "AMP local CA"
	if host != "" {
		name += " " + host
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"AMP development CA"}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(CAValidity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create the local CA: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func issue(ca *x509.Certificate, caKey crypto.Signer, now time.Time, l leaf, certFile, keyFile string) (*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: l.cn, OrganizationalUnit: l.ou},
		NotBefore:    now.Add(-time.Hour), NotAfter: l.notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if l.server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = l.dns, l.ips
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("issue the certificate %s: %w", certFile, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return c, writePair(certFile, keyFile, c, key)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}

// loadPair reads a certificate and its private key and checks they match.
func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	s, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: unsupported key type", keyFile)
	}
	return c, s, nil
}

// usable: signed by ca, valid now and for longer than RenewBefore.
func usable(c, ca *x509.Certificate, now time.Time) bool {
	if c == nil || c.CheckSignatureFrom(ca) != nil || !bytes.Equal(c.RawIssuer, ca.RawSubject) {
		return false
	}
	return !now.Before(c.NotBefore) && now.Add(RenewBefore).Before(c.NotAfter)
}

// covers reports whether c names every DNS name and IP address asked for.
func covers(c *x509.Certificate, dns []string, ips []net.IP) bool {
	if c == nil {
		return false
	}
	for _, d := range dns {
		if !slices.ContainsFunc(c.DNSNames, func(x string) bool { return strings.EqualFold(x, d) }) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// sans is the server certificate's names: localhost, 127.0.0.1, ::1, the
// hostname and the extra ones, without duplicates.
func sans(host string, extra []string) ([]string, []net.IP) {
	var dns []string
	var ips []net.IP
	add := func(s string) {
		s = strings.TrimSpace(s)
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if s == "" {
			return
		}
		if ip := net.ParseIP(s); ip != nil {
			if ip.IsUnspecified() {
				return
			}
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			return
		}
		s = strings.ToLower(s)
		if !slices.Contains(dns, s) {
			dns = append(dns, s)
		}
	}
	for _, s := range append([]string{"localhost", "127.0.0.1", "::1", host}, extra...) {
		add(s)
	}
	return dns, ips
}

func writePair(certFile, keyFile string, c *x509.Certificate, key crypto.Signer) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key first: a certificate without its key is never left behind
	// as the newer file.
	if err := writeFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644)
}

// writeFile replaces path atomically (temporary file, fsync, rename).
func writeFile(path string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
