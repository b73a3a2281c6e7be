package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/amp-edge/amp/internal/store"
)

// fakeIssuer is an in-process OpenID provider with real RSA keys: discovery
// document, JWKS, and tokens signed with go-jose.
type fakeIssuer struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	keys      []jose.JSONWebKey // private keys; the last one signs
	down      bool
	jwksFetch int
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	f := &fakeIssuer{t: t}
	f.rotate()
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) issuer() string { return f.srv.URL }

// rotate adds a new signing key (new kid) and keeps the old ones published.
func (f *fakeIssuer) rotate() string {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	kid := fmt.Sprintf("k%d", len(f.keys)+1)
	f.keys = append(f.keys, jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	return kid
}

func (f *fakeIssuer) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeIssuer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                f.srv.URL,
			"authorization_endpoint":                f.srv.URL + "/auth",
			"token_endpoint":                        f.srv.URL + "/token",
			"jwks_uri":                              f.srv.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case "/jwks":
		f.jwksFetch++
		var set jose.JSONWebKeySet
		for _, k := range f.keys {
			set.Keys = append(set.Keys, k.Public())
		}
		_ = json.NewEncoder(w).Encode(set)
	default:
		http.NotFound(w, r)
	}
}

// sign makes a JWT with the current key; claims override the defaults.
func (f *fakeIssuer) sign(claims map[string]any) string {
	f.mu.Lock()
	key := f.keys[len(f.keys)-1]
	f.mu.Unlock()
	c := map[string]any{
		"iss": f.srv.URL, "aud": "amp", "sub": "u-123",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		f.t.Fatal(err)
	}
	payload, _ := json.Marshal(c)
	jws, err := signer.Sign(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func bearerReq(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/enterprises", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func newTestOIDC(t *testing.T, f *fakeIssuer, cfg OIDCConfig) *OIDC {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg.Issuer = f.issuer()
	if cfg.ClientID == "" {
		cfg.ClientID = "amp"
	}
	cfg.RetryMin, cfg.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	o, err := NewOIDC(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOIDCValidDexShaped(t *testing.T) {
	f := newFakeIssuer(t)
	o := newTestOIDC(t, f, OIDCConfig{})
	// Dex: groups is a top-level list; name from preferred_username.
	tok := f.sign(map[string]any{"preferred_username": "alice", "email": "alice@acme.test", "groups": []string{"acme-admin", "staff"}})
	p, err := o.Authenticate(bearerReq(tok))
	if err != nil {
		t.Fatal(err)
	}
	want := &Principal{Name: "alice", Groups: []string{"acme-admin", "staff"}, Via: "oidc",
		Rights: []Right{{Role: RoleEnterpriseAdmin, Enterprise: "acme"}, {Role: RoleEnterpriseMember, Enterprise: "staff"}}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	// No preferred_username: fall back to sub.
	p, err = o.Authenticate(bearerReq(f.sign(nil)))
	if err != nil || p.Name != "u-123" || len(p.Groups) != 0 {
		t.Fatalf("sub fallback: %+v %v", p, err)
	}
}

func TestOIDCKeycloakShaped(t *testing.T) {
	f := newFakeIssuer(t)
	o := newTestOIDC(t, f, OIDCConfig{GroupsClaim: "realm_access.roles, groups"})
	// Keycloak: realm roles nested under realm_access, groups (full path)
	// from a group-membership mapper, audience a list with azp.
	tok := f.sign(map[string]any{
		"aud":                []string{"amp", "account"},
		"azp":                "amp",
		"preferred_username": "olivia",
		"realm_access":       map[string]any{"roles": []string{"AetherROCAdmin", "offline_access"}},
		"resource_access":    map[string]any{"account": map[string]any{"roles": []string{"view-profile"}}},
		"groups":             []string{"/operators", "AetherROCAdmin"},
	})
	p, err := o.Authenticate(bearerReq(tok))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "olivia" || !reflect.DeepEqual(p.Groups, []string{"AetherROCAdmin", "offline_access", "operators"}) {
		t.Fatalf("got %+v", p)
	}
	// Only realm roles.
	o2 := newTestOIDC(t, f, OIDCConfig{GroupsClaim: "realm_access.roles", UsernameClaim: "email"})
	p, err = o2.Authenticate(bearerReq(f.sign(map[string]any{"email": "o@x", "realm_access": map[string]any{"roles": []string{"EnterpriseAdmin", "acme"}}})))
	if err != nil || p.Name != "o@x" || !reflect.DeepEqual(p.Groups, []string{"EnterpriseAdmin", "acme"}) {
		t.Fatalf("got %+v %v", p, err)
	}
}

func TestOIDCRejects(t *testing.T) {
	f := newFakeIssuer(t)
	o := newTestOIDC(t, f, OIDCConfig{})
	good := f.sign(map[string]any{"preferred_username": "alice"})
	parts := strings.Split(good, ".")
	forged, _ := json.Marshal(map[string]any{"iss": f.issuer(), "aud": "amp", "sub": "x", "preferred_username": "olivia",
		"groups": []string{"AetherROCAdmin"}, "exp": time.Now().Add(time.Hour).Unix()})
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]

	other := newFakeIssuer(t) // a different provider's keys
	foreignSig := other.sign(map[string]any{"iss": f.issuer()})

	for _, tc := range []struct {
		name, tok, reason string
	}{
		{"expired", f.sign(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}), "token expired"},
		{"tampered", tampered, "bad signature"},
		{"foreign key", foreignSig, "bad signature"},
		{"wrong audience", f.sign(map[string]any{"aud": "someone-else"}), "wrong audience"},
		{"wrong issuer", f.sign(map[string]any{"iss": "https://evil.example"}), "wrong issuer"},
		{"malformed", "not.a-jwt", "malformed token"},
		{"garbage", "eyJhbGciOiJSUzI1NiJ9", "malformed token"},
		{"not yet valid", f.sign(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), "not valid yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := o.Authenticate(bearerReq(tc.tok))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q: want ErrBadCredentials naming %q", err, tc.reason)
			}
		})
	}
	if _, err := o.Authenticate(bearerReq("")); err != ErrNoCredentials {
		t.Fatalf("no header: %v", err)
	}
	r := bearerReq("")
	r.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
	if _, err := o.Authenticate(r); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("basic: %v", err)
	}
}

func TestOIDCKeyRotation(t *testing.T) {
	f := newFakeIssuer(t)
	o := newTestOIDC(t, f, OIDCConfig{KeyRefreshEvery: time.Nanosecond})
	if _, err := o.Authenticate(bearerReq(f.sign(nil))); err != nil {
		t.Fatal(err)
	}
	old := f.sign(nil)
	kid := f.rotate()
	tok := f.sign(nil)
	if !strings.Contains(decodeHeader(t, tok), kid) {
		t.Fatalf("token not signed with %s", kid)
	}
	if _, err := o.Authenticate(bearerReq(tok)); err != nil {
		t.Fatalf("new key %s: %v", kid, err)
	}
	if _, err := o.Authenticate(bearerReq(old)); err != nil {
		t.Fatalf("old key still published: %v", err)
	}
}

func decodeHeader(t *testing.T, tok string) string {
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOIDCProviderDownAtStart(t *testing.T) {
	f := newFakeIssuer(t)
	f.setDown(true)
	o := newTestOIDC(t, f, OIDCConfig{})
	tok := f.sign(map[string]any{"preferred_username": "alice"})
	_, err := o.Authenticate(bearerReq(tok))
	if !errors.Is(err, ErrBadCredentials) || !errors.Is(err, ErrIdPUnreachable) ||
		!strings.Contains(err.Error(), "identity provider unreachable: ") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("while down: %v", err)
	}
	f.setDown(false)
	select {
	case <-o.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("discovery not retried")
	}
	if p, err := o.Authenticate(bearerReq(tok)); err != nil || p.Name != "alice" {
		t.Fatalf("after recovery: %+v %v", p, err)
	}
}

func TestOIDCProviderDownAfterKeysCached(t *testing.T) {
	f := newFakeIssuer(t)
	var skew atomic.Int64 // the verifier's clock runs this far ahead
	o := newTestOIDC(t, f, OIDCConfig{KeyRefreshEvery: time.Nanosecond, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	tok := f.sign(map[string]any{"preferred_username": "alice"})
	if _, err := o.Authenticate(bearerReq(tok)); err != nil {
		t.Fatal(err)
	}
	f.setDown(true)
	for range 3 {
		if p, err := o.Authenticate(bearerReq(tok)); err != nil || p.Name != "alice" {
			t.Fatalf("issued token while provider down: %+v %v", p, err)
		}
	}
	// A token with a key AMP has never seen cannot be checked: say why.
	f.rotate()
	_, err := o.Authenticate(bearerReq(f.sign(nil)))
	if !errors.Is(err, ErrIdPUnreachable) || !strings.Contains(err.Error(), "identity provider unreachable") {
		t.Fatalf("unknown key while down: %v", err)
	}
	// Cached keys do not extend a token's life.
	skew.Store(int64(2 * time.Hour))
	if _, err := o.Authenticate(bearerReq(tok)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("token past expiry accepted: %v", err)
	}
}

// TestOIDCKeyFetchesRateLimited: tokens signed with keys AMP does not know
// (forged, or a rotation moments after the last fetch) cost at most one
// key-set fetch per KeyRefreshEvery; known keys keep working meanwhile.
func TestOIDCKeyFetchesRateLimited(t *testing.T) {
	f := newFakeIssuer(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	o := newTestOIDC(t, f, OIDCConfig{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	good := f.sign(map[string]any{"preferred_username": "alice"})
	if _, err := o.Authenticate(bearerReq(good)); err != nil {
		t.Fatal(err)
	}
	fetches := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.jwksFetch }
	base := fetches()
	f.rotate()
	unknown := f.sign(nil)
	for range 50 {
		if _, err := o.Authenticate(bearerReq(unknown)); !errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrIdPUnreachable) {
			t.Fatalf("token with an unknown key inside the refresh interval: %v", err)
		}
	}
	if got := fetches() - base; got != 0 {
		t.Fatalf("%d key-set fetches for 50 tokens with an unknown key inside the refresh interval, want 0", got)
	}
	if _, err := o.Authenticate(bearerReq(good)); err != nil {
		t.Fatalf("known key while fetches are held back: %v", err)
	}
	now.Add(int64(11 * time.Second))
	// go-oidc (jwks.go, keysFromRemote) wakes the callers of a key-set fetch
	// before it forgets the fetch, so a call right after the last refused
	// one may still get that fetch's answer (without fetching); the next
	// call fetches.
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, err = o.Authenticate(bearerReq(unknown)); err == nil || !strings.Contains(err.Error(), errKeysFresh.Error()) {
			break
		}
	}
	if err != nil {
		t.Fatalf("rotated key after the refresh interval: %v", err)
	}
	if got := fetches() - base; got != 1 {
		t.Fatalf("%d key-set fetches after the interval, want 1", got)
	}
}

func TestOIDCConfigErrors(t *testing.T) {
	if _, err := NewOIDC(context.Background(), OIDCConfig{ClientID: "amp"}); err == nil {
		t.Fatal("no issuer accepted")
	}
	if _, err := NewOIDC(context.Background(), OIDCConfig{Issuer: "https://x"}); err == nil {
		t.Fatal("no client id accepted")
	}
}

func TestChain(t *testing.T) {
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tokens := NewTokens(st)
	secret, _, err := tokens.Create("ci", "ci-bot", []Right{{Role: RoleEnterpriseMember, Enterprise: "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeIssuer(t)
	o := newTestOIDC(t, f, OIDCConfig{})
	c := Chain(tokens, o)

	p, err := c.Authenticate(bearerReq(secret))
	if err != nil || p.Name != "ci-bot" || p.Via != "token" {
		t.Fatalf("api token: %+v %v", p, err)
	}
	p, err = c.Authenticate(bearerReq(f.sign(map[string]any{"preferred_username": "alice"})))
	if err != nil || p.Name != "alice" || p.Via != "oidc" {
		t.Fatalf("jwt: %+v %v", p, err)
	}
	if _, err := c.Authenticate(bearerReq("amp_000000000000_nope")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("bad api token: %v", err)
	}
	if _, err := c.Authenticate(bearerReq(f.sign(map[string]any{"aud": "x"}))); err == nil || !strings.Contains(err.Error(), "wrong audience") {
		t.Fatalf("bad jwt: %v", err)
	}
	if _, err := c.Authenticate(bearerReq("")); err != ErrNoCredentials {
		t.Fatalf("none: %v", err)
	}
	// Only tokens configured: a JWT is refused with a clear reason.
	if _, err := Chain(tokens).Authenticate(bearerReq(f.sign(nil))); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("jwt without oidc: %v", err)
	}
}
