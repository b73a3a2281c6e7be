package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// oneToken is a TokenChecker holding one valid token until revoked.
type oneToken struct {
	secret  string
	revoked bool
}

func (o *oneToken) Valid(s string) (Token, bool) {
	if o.revoked || s != o.secret {
		return Token{}, false
	}
	return Token{Principal: "ci@api", Groups: []string{"acme"}}, true
}

func withBearer(tok string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tok))
}

// TestTapHandle: a stream with a valid token gets its principal in its
// context; one without credentials, or with a bad token, is refused with
// Unauthenticated and counted.
func TestTapHandle(t *testing.T) {
	refused := 0
	h := TapHandle(&GRPCAuth{Tokens: &oneToken{secret: "amp_good"}}, func(context.Context, string, error) { refused++ })
	ctx, err := h(withBearer("amp_good"), &tap.Info{FullMethodName: "/gnmi.gNMI/Set"})
	if err != nil || FromContext(ctx) == nil || FromContext(ctx).Name != "ci@api" {
		t.Fatalf("valid token: %v, principal %v", err, FromContext(ctx))
	}
	for _, c := range []context.Context{context.Background(), withBearer("amp_bad")} {
		if _, err := h(c, &tap.Info{FullMethodName: "/gnmi.gNMI/Set"}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("refusal: %v, want Unauthenticated", err)
		}
	}
	if refused != 2 {
		t.Fatalf("refused %d, want 2", refused)
	}
}

func jwtWith(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(payload)) + ".sig"
}

// TestCredentialCheck: a revoked API token, an expired JWT and an expired
// client certificate fail the check; valid ones pass.
func TestCredentialCheck(t *testing.T) {
	tokens := &oneToken{secret: "amp_good"}
	a := &GRPCAuth{Tokens: tokens, JWT: verifierStub{}}
	check := a.CredentialCheck(withBearer("amp_good"))
	if err := check(); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	tokens.revoked = true
	if err := check(); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("revoked token: %v", err)
	}

	past, future := time.Now().Add(-time.Minute).Unix(), time.Now().Add(time.Hour).Unix()
	jwt := func(payload string) error { return a.CredentialCheck(withBearer(jwtWith(payload)))() }
	if err := jwt(`{"exp":` + itoa(future) + `}`); err != nil {
		t.Fatalf("JWT valid for an hour: %v", err)
	}
	if err := jwt(`{"exp":` + itoa(past) + `}`); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("expired JWT: %v", err)
	}
	if err := jwt(`{"sub":"x"}`); err != nil {
		t.Fatalf("JWT without exp (verified as such): %v", err)
	}
	if err := a.CredentialCheck(withBearer("not.a-jwt"))(); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("malformed JWT: %v", err)
	}

	cert := func(notAfter time.Time) error {
		c := &x509.Certificate{NotAfter: notAfter}
		return a.CredentialCheck(peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{
			State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c}}}}}))()
	}
	if err := cert(time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("valid certificate: %v", err)
	}
	if err := cert(time.Now().Add(-time.Second)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("expired certificate: %v", err)
	}
}

type verifierStub struct{}

func (verifierStub) Verify(context.Context, string) (*Principal, error) {
	return &Principal{Name: "jwt"}, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
