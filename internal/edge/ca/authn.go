package ca

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/amp-edge/amp/internal/auth"
)

// The reasons of a refusal, as amp_edge_certificate_refusals_total labels
// them.
const (
	RefusedForeignCA   = "foreign_ca"    // not signed by the agent CA
	RefusedExpired     = "expired"       // past its not-after
	RefusedNotYetValid = "not_yet_valid" // before its not-before (clock skew beyond the backdating)
	RefusedRevoked     = "revoked"       // not on the allow-list
	RefusedUndeclared  = "undeclared"    // its cluster is not declared
	RefusedCSR         = "bad_csr"       // an enrolment or renewal with a CSR that does not hold
	RefusedToken       = "token"         // an enrolment whose token does not hold
)

var refusalReasons = []string{RefusedForeignCA, RefusedExpired, RefusedNotYetValid, RefusedRevoked, RefusedUndeclared, RefusedCSR, RefusedToken}

// Refusal is a certificate that does not authenticate: Reason is its
// metric label, the message says why in words an operator can act on.
type Refusal struct {
	Reason string
	msg    string
}

func (r *Refusal) Error() string { return r.msg }

// Unwrap makes a refusal an auth.ErrBadCredentials (answered 401).
func (r *Refusal) Unwrap() error { return auth.ErrBadCredentials }

func (c *CA) refuse(reason, format string, a ...any) *Refusal {
	c.metrics.refusals.WithLabelValues(reason).Inc()
	return &Refusal{Reason: reason, msg: "the client certificate is refused: " + fmt.Sprintf(format, a...)}
}

// Identify checks a client certificate chain (leaf first) and returns the
// cluster and serial of a valid agent certificate: signed by the agent
// CA, within its validity, of a declared cluster and on its allow-list.
// Otherwise the error is a *Refusal.
func (c *CA) Identify(chain []*x509.Certificate) (cluster, serial string, err error) {
	if len(chain) == 0 {
		return "", "", c.refuse(RefusedForeignCA, "no certificate")
	}
	leaf := chain[0]
	if err := c.verifyCached(chain); err != nil {
		var unknown x509.UnknownAuthorityError
		if !c.own && errors.As(err, &unknown) {
			// Another replica may have stored the CA this one lost to
			// (New): read it again, once.
			if prev := c.cur.Load(); prev != nil {
				if a, rerr := c.refresh(); rerr == nil && a != prev {
					err = c.verifyChain(chain)
				}
			}
		}
		if err != nil {
			return "", "", c.refuse(RefusedForeignCA, "it is not an agent certificate signed by AMP's agent CA (%v)", err)
		}
	}
	now := c.now()
	if now.After(leaf.NotAfter) {
		return "", "", c.refuse(RefusedExpired, "it expired at %s; the agent must enrol again with a new registration token (amp cluster token)", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return "", "", c.refuse(RefusedNotYetValid, "it is not valid before %s (AMP's clock reads %s: check the clocks)", leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	cluster, serial = leaf.Subject.CommonName, SerialHex(leaf.SerialNumber)
	created := c.incarnation(cluster)
	if created == 0 {
		return "", "", c.refuse(RefusedUndeclared, "cluster %q is not declared: its certificates no longer work", cluster)
	}
	ok, err := c.valid(cluster, serial, created)
	if err != nil {
		return "", "", fmt.Errorf("read the allow-list of cluster %q: %w", cluster, err)
	}
	if !ok {
		return "", "", c.refuse(RefusedRevoked, "certificate %s of cluster %q was revoked (amp cluster revoke, a new enrolment, or the cluster was deleted); enrol again with a new registration token", serial, cluster)
	}
	return cluster, serial, nil
}

// verifiedMax bounds the cache of verified chains (one entry per agent
// certificate in use: 10,000 sites hold at most 20,000); when full it is
// emptied, which costs one verification per agent.
const verifiedMax = 50_000

// verifyCached is verifyChain remembered per leaf and CA: an agent sends
// the same certificate with every request, and its signatures do not
// change (its validity, the allow-list and the cluster are checked every
// time, by Identify).
func (c *CA) verifyCached(chain []*x509.Certificate) error {
	a := c.cur.Load()
	key := sha256.Sum256(chain[0].Raw)
	c.verifiedMu.Lock()
	ok := c.verified[key] == a
	c.verifiedMu.Unlock()
	if ok && len(chain) == 1 {
		return nil
	}
	if err := c.verifyChain(chain); err != nil {
		return err
	}
	c.verifiedMu.Lock()
	if len(c.verified) >= verifiedMax || c.verified == nil {
		c.verified = map[[32]byte]*authority{}
	}
	c.verified[key] = a
	c.verifiedMu.Unlock()
	return nil
}

// verifyChain checks the chain's signatures up to the agent CA, and that
// the leaf is for client authentication, at a time within the leaf's
// validity: Identify tells expiry apart, in its own words.
func (c *CA) verifyChain(chain []*x509.Certificate) error {
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	leaf := chain[0]
	at := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	_, err := leaf.Verify(x509.VerifyOptions{Roots: c.cur.Load().pool, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

// Principal is the caller an agent certificate of cluster stands for:
// the agent role on that cluster, and nothing else.
func Principal(cluster string) *auth.Principal {
	rights := []auth.Right{{Role: auth.RoleAgent, Cluster: cluster}}
	return &auth.Principal{Name: "cluster:" + cluster, Groups: auth.GroupNames(rights), Rights: rights, Via: "mtls"}
}

// Issuer reports whether cert names the agent CA as its issuer (not that
// it verifies: Identify does).
func (c *CA) Issuer(cert *x509.Certificate) bool {
	return string(cert.RawIssuer) == string(c.cur.Load().cert.RawSubject)
}

// Authenticator authenticates REST requests: a request that presents a
// client certificate is an edge agent's (Identify), or, when the server
// requires client certificates of the operator's own CA (--tls-client-ca,
// verified at the handshake, no identity by themselves), one that the
// agent CA did not issue goes on to Next with the rest: API tokens, OIDC.
type Authenticator struct {
	CA   *CA
	Next auth.Authenticator
	// OperatorClientCA: the server verifies client certificates of
	// --tls-client-ca at the handshake.
	OperatorClientCA bool
}

// Authenticate implements auth.Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (*auth.Principal, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return a.Next.Authenticate(r)
	}
	if a.OperatorClientCA && !a.CA.Issuer(r.TLS.PeerCertificates[0]) {
		return a.Next.Authenticate(r)
	}
	cluster, _, err := a.CA.Identify(r.TLS.PeerCertificates)
	if err != nil {
		return nil, err
	}
	return Principal(cluster), nil
}

// Serial is the serial of the agent certificate r presented ("" for none).
func Serial(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return SerialHex(r.TLS.PeerCertificates[0].SerialNumber)
}

// RenewDue reports whether the agent certificate r presented should be
// renewed now (wire.CheckinAnswer.RenewNow): it is two thirds into its
// lifetime, or another key of the CA signed it (the CA was replaced). A
// request without a certificate has nothing to renew.
func (c *CA) RenewDue(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	leaf := r.TLS.PeerCertificates[0]
	issued := leaf.NotBefore.Add(Backdate)
	renewAt := issued.Add(leaf.NotAfter.Sub(issued) * 2 / 3)
	return !c.now().Before(renewAt) || string(leaf.AuthorityKeyId) != string(c.Cert().SubjectKeyId)
}
