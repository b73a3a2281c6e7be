package gnmi

import (
	"errors"
	"testing"

	"github.com/amp-edge/amp/internal/auth"
)

// TestNilAuthorizerRefused: neither New nor Listen builds a gNMI server
// without an authorizer (it would let every authenticated caller do
// anything); Listen binds nothing.
func TestNilAuthorizerRefused(t *testing.T) {
	eng, tokens := engine(t)
	if s, err := New(eng, Options{Auth: &auth.GRPCAuth{Tokens: tokens}}); !errors.Is(err, ErrNoAuthorizer) || s != nil {
		t.Fatalf("New without an authorizer = %v, %v; want nil, ErrNoAuthorizer", s, err)
	}
	if s, _, err := Listen(eng, ListenConfig{Addr: "127.0.0.1:0", InsecureNoAuth: true, Tokens: tokens}, Options{}); !errors.Is(err, ErrNoAuthorizer) || s != nil {
		t.Fatalf("Listen without an authorizer = %v, %v; want nil, ErrNoAuthorizer", s, err)
	}
}
