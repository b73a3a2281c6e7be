package ca

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// The allow-list: one metadata key per valid certificate,
// agent-cert/<escaped cluster>/<serial>. A certificate works only while
// its key exists and names the cluster's current incarnation (its creation
// index: a cluster deleted and declared again under the same name does not
// take the old certificates back). Enrolment replaces the cluster's
// certificates; a renewal adds one and keeps the one that asked valid
// until its expiry (at most two per cluster); Revoke removes them all.
const serialPrefix = "agent-cert/"

func clusterPrefix(cluster string) string { return serialPrefix + url.PathEscape(cluster) + "/" }

// entry is an allow-listed certificate.
type entry struct {
	NotAfter time.Time `json:"not-after"`
	Issued   time.Time `json:"issued"`
	Reason   string    `json:"reason"` // enrol or renew
	// Created is the cluster's creation index when the certificate was
	// issued.
	Created uint64 `json:"created"`
}

// Directory tells the creation index of a declared cluster in snap, 0
// when it is not declared: the inventory's wing registers it
// (internal/provision/cluster), so that this package knows no model set.
type Directory func(snap *config.Snapshot, cluster string) uint64

var directory atomic.Pointer[Directory]

// SetDirectory registers the clusters' directory.
func SetDirectory(d Directory) { directory.Store(&d) }

// incarnation is the cluster's creation index, 0 when it is not declared
// (or no directory is registered: then no cluster is).
func (c *CA) incarnation(cluster string) uint64 {
	d := directory.Load()
	if d == nil || cluster == "" {
		return 0
	}
	return (*d)(c.eng.Snapshot(), cluster)
}

// Issued is a signed certificate.
type Issued struct {
	Cluster  string
	Serial   string
	CertPEM  []byte
	CAPEM    []byte
	NotAfter time.Time
	// RenewAt is two thirds into the certificate's lifetime.
	RenewAt time.Time
}

// The reasons of issue, as amp_edge_certificates_issued_total labels them.
const (
	ReasonEnrol = "enrol"
	ReasonRenew = "renew"
)

// ErrNotDeclared is a certificate asked for a cluster that is not
// declared.
var ErrNotDeclared = errors.New("the cluster is not declared")

// ErrNotValid is a renewal by a certificate no longer on the allow-list
// (revoked, replaced by an enrolment, or of a deleted cluster).
var ErrNotValid = errors.New("the certificate is no longer valid (revoked, or replaced by a new enrolment): enrol again with a new registration token")

// ParseCSR reads and checks a PEM certificate signing request: its
// signature (the agent holds the key) and its key (ECDSA P-256/P-384, RSA
// of at least 2048 bits). Its subject and extensions are ignored: AMP sets
// them. Errors name /csr.
func ParseCSR(csrPEM string) (*x509.CertificateRequest, error) {
	bad := func(format string, a ...any) error {
		return schema.Errorf(schema.KindInvalid, "/csr", format, a...)
	}
	if strings.TrimSpace(csrPEM) == "" {
		return nil, bad("a certificate signing request (PEM \"CERTIFICATE REQUEST\") is required: the agent generates its key and sends only the CSR")
	}
	b, rest := pem.Decode([]byte(csrPEM))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, bad("not a PEM \"CERTIFICATE REQUEST\"")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, bad("one PEM \"CERTIFICATE REQUEST\" only, nothing after it")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, bad("unreadable certificate signing request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, bad("the request's signature does not verify with its key: %v", err)
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return nil, bad("%v", err)
	}
	return csr, nil
}

// Enrol signs a first certificate for cluster (its agent presented a
// valid registration token), replacing any it had.
func (c *CA) Enrol(cluster string, csr *x509.CertificateRequest) (Issued, error) {
	created := c.incarnation(cluster)
	if created == 0 {
		return Issued{}, ErrNotDeclared
	}
	iss, err := c.sign(cluster, csr, created, ReasonEnrol)
	if err != nil {
		return Issued{}, err
	}
	if err := c.keepOnly(cluster, iss.Serial); err != nil {
		return Issued{}, err
	}
	c.metrics.issued.WithLabelValues(ReasonEnrol).Inc()
	return iss, nil
}

// Renew signs a new certificate for cluster, asked with its valid
// certificate of serial current, which stays valid until it expires.
func (c *CA) Renew(cluster, current string, csr *x509.CertificateRequest) (Issued, error) {
	created := c.incarnation(cluster)
	if created == 0 {
		return Issued{}, ErrNotDeclared
	}
	if ok, err := c.valid(cluster, current, created); err != nil || !ok {
		return Issued{}, errors.Join(err, ErrNotValid)
	}
	iss, err := c.sign(cluster, csr, created, ReasonRenew)
	if err != nil {
		return Issued{}, err
	}
	// A revocation that ran while this one signed removed the current
	// certificate: the new one goes too (Revoke lists until none is left,
	// so one of the two always sees the other's write).
	if ok, err := c.valid(cluster, current, created); err != nil || !ok {
		return Issued{}, errors.Join(err, c.meta.DeleteMeta(clusterPrefix(cluster)+iss.Serial), ErrNotValid)
	}
	if err := c.keepOnly(cluster, iss.Serial, current); err != nil {
		return Issued{}, err
	}
	c.metrics.issued.WithLabelValues(ReasonRenew).Inc()
	return iss, nil
}

// Revoke removes every certificate of cluster from the allow-list and
// returns how many there were. It lists until none is left, so a renewal
// that raced it does not leave a certificate behind.
func (c *CA) Revoke(cluster string) (int, error) {
	n := 0
	for {
		serials, err := c.serials(cluster)
		if err != nil || len(serials) == 0 {
			return n, err
		}
		for _, s := range serials {
			if err := c.meta.DeleteMeta(clusterPrefix(cluster) + s); err != nil {
				return n, err
			}
			n++
		}
	}
}

// serials lists the serials on cluster's allow-list (of any incarnation).
func (c *CA) serials(cluster string) ([]string, error) {
	var out []string
	err := c.meta.Metas(clusterPrefix(cluster), func(k string, _ []byte) error {
		out = append(out, strings.TrimPrefix(k, clusterPrefix(cluster)))
		return nil
	})
	return out, err
}

// keepOnly removes the cluster's certificates but those of keep.
func (c *CA) keepOnly(cluster string, keep ...string) error {
	serials, err := c.serials(cluster)
	if err != nil {
		return err
	}
	for _, s := range serials {
		if !slices.Contains(keep, s) {
			if err := c.meta.DeleteMeta(clusterPrefix(cluster) + s); err != nil {
				return err
			}
		}
	}
	return nil
}

// valid reports whether serial is on cluster's allow-list, issued to its
// incarnation created.
func (c *CA) valid(cluster, serial string, created uint64) (bool, error) {
	b, err := c.meta.GetMeta(clusterPrefix(cluster) + serial)
	if err != nil || b == nil {
		return false, err
	}
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return false, fmt.Errorf("allow-list entry of %s serial %s: %w", cluster, serial, err)
	}
	return e.Created == created, nil
}

// sign issues the certificate and puts it on the allow-list.
func (c *CA) sign(cluster string, csr *x509.CertificateRequest, created uint64, reason string) (Issued, error) {
	a, err := c.current()
	if err != nil {
		return Issued{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return Issued{}, err
	}
	now := c.now().UTC().Truncate(time.Second) // as the certificate holds it
	notAfter := now.Add(c.lifetime)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter // never beyond the CA
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cluster, Organization: []string{"AMP edge agent"}},
		NotBefore:    now.Add(-Backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, csr.PublicKey, a.key)
	if err != nil {
		return Issued{}, fmt.Errorf("sign the agent certificate: %w", err)
	}
	iss := Issued{Cluster: cluster, Serial: SerialHex(serial), CAPEM: a.pem, NotAfter: notAfter.UTC(),
		RenewAt: now.Add(notAfter.Sub(now) * 2 / 3).UTC(),
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	b, err := json.Marshal(entry{NotAfter: iss.NotAfter, Issued: now.UTC(), Reason: reason, Created: created})
	if err != nil {
		return Issued{}, err
	}
	if err := c.meta.PutMeta(clusterPrefix(cluster)+iss.Serial, b); err != nil {
		return Issued{}, fmt.Errorf("allow-list the agent certificate: %w", err)
	}
	return iss, nil
}

// Credentials is what an enrolment or a renewal answers; the check-in
// interval is the process's (amp serve --agent-checkin-interval).
func (c *CA) Credentials(iss Issued) wire.Credentials {
	return wire.Credentials{Cluster: iss.Cluster, Certificate: string(iss.CertPEM), CA: string(iss.CAPEM), ServerCA: string(c.serverCA),
		NotAfter: iss.NotAfter, RenewAt: iss.RenewAt, Serial: iss.Serial, Interval: wire.Duration(edge.Interval), ServerNow: c.now().UTC()}
}
