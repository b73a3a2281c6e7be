package rest

import (
	"errors"
	"testing"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/testenv"
)

// mustNew builds a server or ends the test.
func mustNew(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNilAuthorizerRefused: a server built without an authorizer is an
// error, never a server that lets every authenticated caller do anything.
func TestNilAuthorizerRefused(t *testing.T) {
	eng, st := testenv.Engine(t, false)
	s, err := New(Options{Engine: eng, Auth: auth.NewTokens(st)})
	if !errors.Is(err, ErrNoAuthorizer) || s != nil {
		t.Fatalf("New without an authorizer = %v, %v; want nil, ErrNoAuthorizer", s, err)
	}
}
