package idp_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/policy"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv/idp"
	"github.com/amp-edge/amp/models"
)

func groupsOf(t *testing.T, tok string) []string {
	t.Helper()
	c, err := idp.Claims(tok)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	gs, _ := c["groups"].([]any)
	for _, g := range gs {
		out = append(out, g.(string))
	}
	return out
}

// TestLDAPGroupsBecomeAMPPrivileges logs the three example users in through
// the real OIDC provider (oidc-provider in front of slapd), verifies their ID
// tokens with AMP's OIDC authenticator and checks what the default policy
// lets each do; then changes a group in LDAP and sees the next token change.
func TestLDAPGroupsBecomeAMPPrivileges(t *testing.T) {
	p, err := idp.Start(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	authn, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: p.Issuer, ClientID: p.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	<-authn.Ready()
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	principal := func(tok string) *auth.Principal {
		t.Helper()
		r := httptest.NewRequest("GET", "/enterprises", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		pr, err := authn.Authenticate(r)
		if err != nil {
			t.Fatalf("AMP rejects the provider's token: %v", err)
		}
		return pr
	}
	acme, sb := "/aether/v2.1.x/acme/site/s1", "/aether/v2.1.x/starbucks/site/s1"

	for _, tc := range []struct {
		user, pw string
		groups   []string
		allowed  map[string]bool // "action path" -> allowed
	}{
		{"olivia", "olivia-pw", []string{"AetherROCAdmin"}, map[string]bool{"write " + acme: true, "write " + sb: true, "admin /enterprises": true}},
		{"alice", "alice-pw", []string{"acme-admin"}, map[string]bool{"write " + acme: true, "read " + sb: false, "admin /enterprises": false}},
		{"mallory", "mallory-pw", []string{"starbucks"}, map[string]bool{"read " + sb: true, "write " + sb: false, "read " + acme: false}},
	} {
		tok := p.Token(t, tc.user, tc.pw)
		if got := groupsOf(t, tok); !reflect.DeepEqual(got, tc.groups) {
			t.Errorf("%s: groups claim %v, want %v", tc.user, got, tc.groups)
		}
		pr := principal(tok)
		if pr.Name != tc.user || pr.Via != "oidc" || !reflect.DeepEqual(pr.Groups, tc.groups) {
			t.Errorf("%s: principal %+v", tc.user, pr)
		}
		for ap, want := range tc.allowed {
			var action, path string
			for i := range ap {
				if ap[i] == ' ' {
					action, path = ap[:i], ap[i+1:]
					break
				}
			}
			if got := auth.AuthorizePath(ctx, pol, sch, pr, auth.Action(action), path) == nil; got != want {
				t.Errorf("%s %s: allowed=%v, want %v", tc.user, ap, got, want)
			}
		}
	}

	// Wrong password, unknown user.
	if _, err := p.Login(ctx, "alice", "wrong"); !errors.Is(err, idp.ErrLoginFailed) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := p.Login(ctx, "nobody", "x"); !errors.Is(err, idp.ErrLoginFailed) {
		t.Errorf("unknown user: %v", err)
	}

	// The directory changes: mallory becomes an acme admin; the next token says so.
	if err := p.AddToGroup("mallory", "acme-admin"); err != nil {
		t.Fatal(err)
	}
	tok := p.Token(t, "mallory", "mallory-pw")
	if got := groupsOf(t, tok); !reflect.DeepEqual(got, []string{"acme-admin", "starbucks"}) {
		t.Fatalf("after ldapmodify: groups %v", got)
	}
	if auth.AuthorizePath(ctx, pol, sch, principal(tok), auth.Write, acme) != nil {
		t.Error("mallory, now acme-admin, may not write acme")
	}
	if err := p.RemoveFromGroup("mallory", "starbucks"); err != nil {
		t.Fatal(err)
	}
	if got := groupsOf(t, p.Token(t, "mallory", "mallory-pw")); !reflect.DeepEqual(got, []string{"acme-admin"}) {
		t.Fatalf("after removal: groups %v", got)
	}
	// A token for another audience is refused by AMP.
	other, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: p.Issuer, ClientID: "someone-else"})
	if err != nil {
		t.Fatal(err)
	}
	<-other.Ready()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if _, err := other.Authenticate(r); err == nil {
		t.Error("wrong audience accepted")
	}
}

// TestProviderDown: tokens issued before the provider went down keep working
// until they expire; an AMP started while it is down says why logins fail.
func TestProviderDown(t *testing.T) {
	p, err := idp.Start(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	authn, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: p.Issuer, ClientID: p.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	tok := p.Token(t, "alice", "alice-pw")
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if _, err := authn.Authenticate(r); err != nil {
		t.Fatal(err)
	}
	p.StopProvider()
	if _, err := p.Login(ctx, "alice", "alice-pw"); err == nil {
		t.Fatal("login while the provider is down")
	}
	if pr, err := authn.Authenticate(r); err != nil || pr.Name != "alice" {
		t.Fatalf("issued token while the provider is down: %+v %v", pr, err)
	}
	late, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: p.Issuer, ClientID: p.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = late.Authenticate(r)
	if !errors.Is(err, auth.ErrIdPUnreachable) || !strings.Contains(err.Error(), "identity provider unreachable: ") {
		t.Fatalf("AMP started while the provider is down: %v", err)
	}
	t.Log(err)
}
