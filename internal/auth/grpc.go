package auth

// Authentication for gRPC interfaces (gNMI). A call authenticates with
//
//   - an API token in the "authorization" metadata as "Bearer <token>"
//     (the same tokens as the REST API), or
//   - a client certificate verified against the server's client CA (mutual
//     TLS): the certificate's subject common name becomes the principal's
//     name, with Via "mtls".
//
// gNMI's "username"/"password" metadata is not accepted: AMP has no
// passwords, only tokens and certificates.
//
// Authentication runs in a tap handle (TapHandle), on a new stream's
// headers, before gRPC reads any message of it: a caller without valid
// credentials never makes the server buffer or decode a request. Streams
// run a CredentialCheck before each event, so a revoked token, an expired
// JWT or an expired certificate ends them.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/amp-edge/amp/internal/tlsutil"
)

// GRPCAuthenticator identifies the caller of a gRPC call from its context
// (metadata and peer).
type GRPCAuthenticator interface {
	AuthenticateGRPC(ctx context.Context) (*Principal, error)
}

// TokenChecker validates API tokens (*Tokens implements it).
type TokenChecker interface {
	Valid(s string) (Token, bool)
}

// GRPCAuth is the GRPCAuthenticator of `amp serve`: bearer tokens first,
// then a verified client certificate, then (only when Anonymous is set) an
// anonymous principal.
type GRPCAuth struct {
	// Tokens validates bearer tokens; nil refuses every token.
	Tokens TokenChecker
	// JWT, when set, verifies bearer tokens that are not API tokens (OIDC).
	JWT interface {
		Verify(ctx context.Context, raw string) (*Principal, error)
	}
	// Anonymous, when set, is the principal of calls that carry no
	// credentials at all (amp serve --gnmi-insecure-no-auth, for tests and
	// local tools on loopback). A bad token is still refused.
	Anonymous *Principal
}

// ErrNoGRPCCredentials says what a gRPC caller must send.
var ErrNoGRPCCredentials = errors.New("no credentials: send the metadata \"authorization: Bearer <token>\" or a client certificate signed by the server's client CA")

// AuthenticateGRPC implements GRPCAuthenticator.
func (a *GRPCAuth) AuthenticateGRPC(ctx context.Context) (*Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if vals := md.Get("authorization"); len(vals) > 0 {
		scheme, cred, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, fmt.Errorf("%w: the authorization metadata must be \"Bearer <token>\"", ErrBadCredentials)
		}
		cred = strings.TrimSpace(cred)
		if a.JWT != nil && !strings.HasPrefix(cred, "amp_") {
			return a.JWT.Verify(ctx, cred)
		}
		if a.Tokens == nil {
			return nil, ErrBadCredentials
		}
		tok, ok := a.Tokens.Valid(cred)
		if !ok {
			return nil, ErrBadCredentials
		}
		return tok.Caller(), nil
	}
	if p := PeerCertPrincipal(ctx); p != nil {
		return p, nil
	}
	if a.Anonymous != nil {
		p := *a.Anonymous
		return &p, nil
	}
	return nil, ErrNoGRPCCredentials
}

// PeerCertPrincipal returns the principal of a caller that presented a
// client certificate the TLS handshake verified (mutual TLS), or nil. The
// name is the certificate's subject common name.
func PeerCertPrincipal(ctx context.Context) *Principal {
	pr, ok := peer.FromContext(ctx)
	if !ok || pr.AuthInfo == nil {
		return nil
	}
	ti, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return CertPrincipal(ti.State.VerifiedChains[0][0])
}

// CertPrincipal maps a verified client certificate to a principal: subject
// CN is the name; organizational units become groups.
func CertPrincipal(c *x509.Certificate) *Principal {
	if c == nil || c.Subject.CommonName == "" {
		return nil
	}
	return &Principal{Name: c.Subject.CommonName, Groups: c.Subject.OrganizationalUnit, Via: "mtls"}
}

// TapHandle authenticates each new stream with a from its headers and its
// connection (peer, TLS state), before gRPC reads any message of it, and
// puts the principal in the stream's context. A stream without valid
// credentials is refused there with Unauthenticated: the server has read
// nothing but its headers (bounded by the HTTP/2 header list limit).
// refused, when set, is called for each refusal (for a metric).
//
// gRPC runs the handle on the connection's reading goroutine: a slow check
// (a token store read, an OIDC key fetch) delays only that connection.
func TapHandle(a GRPCAuthenticator, refused func(ctx context.Context, method string, err error)) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		p, err := a.AuthenticateGRPC(ctx)
		if err != nil {
			if refused != nil {
				refused(ctx, info.FullMethodName, err)
			}
			return nil, status.Error(codes.Unauthenticated, "authentication required: "+err.Error())
		}
		return WithPrincipal(ctx, p), nil
	}
}

// CredentialCheck returns a check that the credential the call in ctx
// authenticated with still holds: an API token not revoked (the token
// store's cache: at once on this replica, within its TTL on others), a JWT
// or a client certificate not expired. The credential is read from ctx
// once; the check verifies no signature (TapHandle did), so a stream can
// run it before each event. Its error says why, for an Unauthenticated
// status.
func (a *GRPCAuth) CredentialCheck(ctx context.Context) func() error {
	md, _ := metadata.FromIncomingContext(ctx)
	if vals := md.Get("authorization"); len(vals) > 0 {
		_, cred, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
		cred = strings.TrimSpace(cred)
		if a.JWT != nil && !strings.HasPrefix(cred, "amp_") {
			return func() error { return jwtExpired(cred, time.Now()) }
		}
		return func() error {
			if a.Tokens == nil {
				return ErrBadCredentials
			}
			if _, ok := a.Tokens.Valid(cred); !ok {
				return fmt.Errorf("%w: the token was revoked", ErrBadCredentials)
			}
			return nil
		}
	}
	if pr, ok := peer.FromContext(ctx); ok && pr.AuthInfo != nil {
		if ti, ok := pr.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
			na := ti.State.VerifiedChains[0][0].NotAfter
			return func() error {
				if time.Now().After(na) {
					return fmt.Errorf("%w: the client certificate expired at %s", ErrBadCredentials, na.UTC().Format(time.RFC3339))
				}
				return nil
			}
		}
	}
	return func() error { return nil } // anonymous: nothing to expire
}

// jwtExpired reads the "exp" claim of a JWT whose signature was verified
// when the call began, and reports whether it has passed at now.
func jwtExpired(raw string, now time.Time) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ErrBadCredentials
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ErrBadCredentials
	}
	var c struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return ErrBadCredentials
	}
	if c.Exp == nil {
		return nil // verified without an expiry: it does not expire
	}
	sec, err := c.Exp.Float64()
	if err != nil {
		return ErrBadCredentials
	}
	if exp := time.Unix(int64(sec), 0); !now.Before(exp) {
		return fmt.Errorf("%w: token expired at %s", ErrBadCredentials, exp.UTC().Format(time.RFC3339))
	}
	return nil
}

// ServerTLS builds a server TLS configuration from PEM files. With a client
// CA, client certificates signed by it are verified and identify their
// caller (mutual TLS); a client without a certificate may still connect and
// authenticate with a token.
func ServerTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: tlsutil.CipherSuites}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s holds no PEM certificate", clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}
