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

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

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
		return &Principal{Name: tok.Principal, Groups: tok.Groups, Via: "token"}, nil
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

// authenticate runs a and returns ctx with the principal, or an
// Unauthenticated status with the reason.
func authenticate(ctx context.Context, a GRPCAuthenticator) (context.Context, error) {
	p, err := a.AuthenticateGRPC(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "authentication required: "+err.Error())
	}
	return WithPrincipal(ctx, p), nil
}

// UnaryServerInterceptor authenticates every unary call with a.
func UnaryServerInterceptor(a GRPCAuthenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := authenticate(ctx, a)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// StreamServerInterceptor authenticates every streaming call with a.
func StreamServerInterceptor(a GRPCAuthenticator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := authenticate(ss.Context(), a)
		if err != nil {
			return err
		}
		return h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

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
