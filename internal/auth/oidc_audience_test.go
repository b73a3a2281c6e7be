package auth

import (
	"errors"
	"strings"
	"testing"
)

// With Audiences, a token for any accepted audience (AMP's own client or
// Aether's GUI) is accepted; one for another client is refused with the
// reason, and the other checks still apply.
func TestOIDCSeveralAudiences(t *testing.T) {
	f := newFakeIssuer(t)
	o := newTestOIDC(t, f, OIDCConfig{Audiences: []string{"aether-roc-gui"}})
	for _, aud := range []any{"amp", "aether-roc-gui", []string{"account", "aether-roc-gui"}} {
		if _, err := o.Authenticate(bearerReq(f.sign(map[string]any{"aud": aud, "preferred_username": "alice"}))); err != nil {
			t.Errorf("aud %v refused: %v", aud, err)
		}
	}
	for _, tok := range []string{
		f.sign(map[string]any{"aud": "someone-else"}),
		f.sign(map[string]any{"aud": []string{"account", "grafana"}}),
	} {
		if _, err := o.Authenticate(bearerReq(tok)); !errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), "wrong audience") {
			t.Errorf("a token for another client: %v, want wrong audience", err)
		}
	}
	other := newFakeIssuer(t)
	if _, err := o.Authenticate(bearerReq(other.sign(map[string]any{"iss": f.issuer(), "aud": "aether-roc-gui"}))); err == nil {
		t.Error("a token signed by another provider's key was accepted")
	}
	// Without Audiences only ClientID is accepted, as before.
	single := newTestOIDC(t, f, OIDCConfig{})
	if _, err := single.Authenticate(bearerReq(f.sign(map[string]any{"aud": "aether-roc-gui"}))); err == nil || !strings.Contains(err.Error(), "wrong audience") {
		t.Errorf("single audience: %v, want wrong audience", err)
	}
}
