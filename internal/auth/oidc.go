package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/prometheus/client_golang/prometheus"
)

// OIDCConfig configures OpenID Connect bearer-token authentication.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL, exactly as in its discovery
	// document and in the tokens' "iss" (Keycloak:
	// https://host/realms/<realm>; Dex: its "issuer" setting).
	Issuer string
	// ClientID is the audience the tokens must be issued for ("aud").
	ClientID string
	// Audiences are further audiences accepted besides ClientID: the
	// clients of other applications in front of AMP, such as Aether's GUI
	// (aether-roc-gui). A token is accepted when its "aud" names any one.
	Audiences []string
	// GroupsClaim names the claim holding the caller's groups or roles: a
	// top-level claim ("groups", Dex and Keycloak's group mapper) or a dotted
	// path into nested objects ("realm_access.roles", Keycloak realm roles).
	// Several claims may be given separated by commas; their values are
	// merged. Default "groups".
	GroupsClaim string
	// NoBookGroups turns off the book's group names (AetherROCAdmin,
	// <id>-admin, <id>, ...): only structured names ("amp:enterprise-
	// admin:acme") grant rights. See RightsFromGroups.
	NoBookGroups bool
	// UsernameClaim names the claim used as the principal's name; default
	// "preferred_username", falling back to "sub" when absent.
	UsernameClaim string
	// HTTPClient fetches the discovery document and keys (nil: default).
	HTTPClient *http.Client
	// RetryMin and RetryMax bound the backoff between discovery attempts
	// while the provider is unreachable (defaults 1s and 30s).
	RetryMin, RetryMax time.Duration
	// Now is the clock for expiry checks and key refreshes (tests); nil
	// means time.Now.
	Now func() time.Time
	// Logger reports discovery failures and recovery (nil: slog.Default()).
	Logger *slog.Logger
	// KeyRefreshEvery is the least time between two fetches of the key
	// set (default 10s): a token with an unknown key id makes the
	// verifier refetch it, so forged tokens must not each cost a fetch.
	KeyRefreshEvery time.Duration
	// Registerer, when set, gets amp_oidc_key_fetches_refused_total.
	Registerer prometheus.Registerer
}

// ErrIdPUnreachable means the identity provider could not be reached, so a
// token could not be checked (never for tokens whose keys are cached).
var ErrIdPUnreachable = errors.New("identity provider unreachable")

// OIDC authenticates "Authorization: Bearer <JWT>" requests with tokens of an
// OpenID Connect provider: signature against the provider's JWKS (fetched
// through its discovery document, refetched when an unknown key id shows up,
// so key rotation needs nothing), issuer, audience and expiry. Keys stay
// cached in memory: the provider being down does not affect tokens signed
// with a known key until they expire.
type OIDC struct {
	cfg    OIDCConfig
	claims []string // GroupsClaim split on commas
	log    *slog.Logger

	keyFetchesRefused prometheus.Counter

	mu       sync.RWMutex
	verifier *oidc.IDTokenVerifier
	lastErr  error // why discovery failed, while verifier is nil
	ready    chan struct{}
}

// NewOIDC prepares OIDC authentication. It fetches the discovery document
// once; if that fails the provider may just be down, so it keeps retrying in
// the background (until ctx ends) and meanwhile answers every JWT with
// ErrIdPUnreachable and the reason. Only configuration mistakes are errors.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("oidc: the issuer URL is required")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("oidc: the client id (audience) is required")
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = "preferred_username"
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(30*time.Second, cfg.RetryMin)
	}
	if cfg.KeyRefreshEvery <= 0 {
		cfg.KeyRefreshEvery = 10 * time.Second
	}
	o := &OIDC{cfg: cfg, log: cfg.Logger, ready: make(chan struct{}), keyFetchesRefused: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "amp_oidc_key_fetches_refused_total",
		Help: "JWKS fetches not made because the key set was fetched less than the refresh interval ago (tokens with unknown key ids).",
	})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(o.keyFetchesRefused)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	for c := range strings.SplitSeq(cfg.GroupsClaim, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.claims = append(o.claims, c)
		}
	}
	if err := o.discover(ctx); err != nil {
		o.log.Warn("oidc: discovery failed; retrying in the background", "issuer", cfg.Issuer, "err", err)
		go o.retry(ctx)
	}
	return o, nil
}

// discover fetches the discovery document and installs a verifier.
func (o *OIDC) discover(ctx context.Context) error {
	// go-oidc keeps this context (without its cancellation) for every later
	// key fetch: it carries the HTTP client only.
	kctx := context.WithoutCancel(ctx)
	if o.cfg.HTTPClient != nil {
		kctx = oidc.ClientContext(kctx, o.cfg.HTTPClient)
	}
	dctx, cancel := context.WithTimeout(kctx, 10*time.Second)
	defer cancel()
	prov, err := oidc.NewProvider(dctx, o.cfg.Issuer)
	if err != nil {
		o.mu.Lock()
		o.lastErr = err
		o.mu.Unlock()
		return err
	}
	// NewProvider builds its remote key set on dctx; rebuild it on kctx so
	// that key refreshes outlive the discovery timeout.
	var meta struct {
		JWKSURL string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := prov.Claims(&meta); err != nil {
		o.mu.Lock()
		o.lastErr = err
		o.mu.Unlock()
		return err
	}
	keys := oidc.NewRemoteKeySet(o.gateKeyFetches(kctx, meta.JWKSURL), meta.JWKSURL)
	// go-oidc checks one audience; with several, Verify checks them.
	vc := &oidc.Config{ClientID: o.cfg.ClientID, SkipClientIDCheck: len(o.cfg.Audiences) > 0, Now: o.cfg.Now, SupportedSigningAlgs: meta.Algs}
	v := oidc.NewVerifier(o.cfg.Issuer, keys, vc)
	o.mu.Lock()
	o.verifier, o.lastErr = v, nil
	o.mu.Unlock()
	close(o.ready)
	return nil
}

func (o *OIDC) retry(ctx context.Context) {
	wait := o.cfg.RetryMin
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := o.discover(ctx); err == nil {
			o.log.Info("oidc: identity provider reachable", "issuer", o.cfg.Issuer)
			return
		}
		wait = min(wait*2, o.cfg.RetryMax)
	}
}

// Ready is closed once the discovery document has been read.
func (o *OIDC) Ready() <-chan struct{} { return o.ready }

// Authenticate implements Authenticator.
func (o *OIDC) Authenticate(r *http.Request) (*Principal, error) {
	raw, err := bearer(r)
	if err != nil {
		return nil, err
	}
	return o.Verify(r.Context(), raw)
}

// Verify checks a raw JWT and returns its principal.
func (o *OIDC) Verify(ctx context.Context, raw string) (*Principal, error) {
	o.mu.RLock()
	v, lastErr := o.verifier, o.lastErr
	o.mu.RUnlock()
	if v == nil {
		return nil, &oidcError{msg: fmt.Sprintf("identity provider unreachable: %v", lastErr), unreachable: true}
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, classify(err)
	}
	if len(o.cfg.Audiences) > 0 && !o.acceptedAudience(tok.Audience) {
		return nil, &oidcError{msg: fmt.Sprintf("wrong audience: the token is for %q, accepted are %q", tok.Audience, append([]string{o.cfg.ClientID}, o.cfg.Audiences...))}
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, &oidcError{msg: fmt.Sprintf("malformed token: %v", err)}
	}
	name, _ := claims[o.cfg.UsernameClaim].(string)
	if name == "" {
		name = tok.Subject
	}
	if name == "" {
		return nil, &oidcError{msg: fmt.Sprintf("the token names no user (neither %q nor \"sub\")", o.cfg.UsernameClaim)}
	}
	var groups []string
	seen := map[string]bool{}
	for _, c := range o.claims {
		for _, g := range claimStrings(lookupClaim(claims, c)) {
			// Keycloak's group mapper with "full group path" says "/acme-admin".
			g = strings.TrimPrefix(g, "/")
			if g != "" && !seen[g] {
				seen[g] = true
				groups = append(groups, g)
			}
		}
	}
	return &Principal{Name: name, Groups: groups, Rights: RightsFromGroups(groups, !o.cfg.NoBookGroups), Via: "oidc"}, nil
}

// acceptedAudience says whether a token's "aud" names ClientID or one of
// Audiences.
func (o *OIDC) acceptedAudience(aud []string) bool {
	for _, a := range aud {
		if a == o.cfg.ClientID || slices.Contains(o.cfg.Audiences, a) {
			return true
		}
	}
	return false
}

// errKeysFresh refuses a key-set fetch made too soon after the last one.
var errKeysFresh = errors.New("no known key verifies the token, and the key set was fetched moments ago")

// gateKeyFetches returns ctx with an HTTP client that fetches jwksURL at
// most once per KeyRefreshEvery: go-oidc refetches the key set for every
// token whose key id it does not know, which a stream of forged tokens
// would turn into a fetch each. Keys already fetched keep working.
func (o *OIDC) gateKeyFetches(ctx context.Context, jwksURL string) context.Context {
	base := o.cfg.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	next := base.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c := *base
	now := o.cfg.Now
	if now == nil {
		now = time.Now
	}
	c.Transport = &keyFetchGate{next: next, url: jwksURL, every: o.cfg.KeyRefreshEvery, now: now, refused: o.keyFetchesRefused}
	return oidc.ClientContext(ctx, &c)
}

type keyFetchGate struct {
	next    http.RoundTripper
	url     string
	every   time.Duration
	now     func() time.Time
	refused prometheus.Counter

	mu   sync.Mutex
	last time.Time
}

func (g *keyFetchGate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.String() == g.url {
		g.mu.Lock()
		now := g.now()
		if !g.last.IsZero() && now.Sub(g.last) < g.every {
			g.mu.Unlock()
			g.refused.Inc()
			return nil, errKeysFresh
		}
		g.last = now
		g.mu.Unlock()
	}
	return g.next.RoundTrip(req)
}

// classify turns go-oidc's verification errors into ErrBadCredentials
// wrapped with a reason a caller can act on.
func classify(err error) error {
	var exp *oidc.TokenExpiredError
	msg := err.Error()
	reason := "invalid token"
	switch {
	case errors.As(err, &exp):
		reason = fmt.Sprintf("token expired at %s", exp.Expiry.UTC().Format(time.RFC3339))
	case strings.Contains(msg, "malformed jwt"), strings.Contains(msg, "not signed"),
		strings.Contains(msg, "multiple signatures"), strings.Contains(msg, "failed to unmarshal claims"):
		reason = "malformed token"
	case strings.Contains(msg, "issued by a different provider"):
		reason = "wrong issuer"
	case strings.Contains(msg, "expected audience"):
		reason = "wrong audience"
	case strings.Contains(msg, "before the nbf"):
		reason = "token not valid yet"
	case strings.Contains(msg, errKeysFresh.Error()):
		reason = "bad signature"
	case strings.Contains(msg, "fetching keys"):
		return &oidcError{msg: fmt.Sprintf("identity provider unreachable: the token's signing key is unknown and cannot be fetched: %v", err), unreachable: true}
	case strings.Contains(msg, "signature"):
		reason = "bad signature"
	}
	return &oidcError{msg: reason + ": " + err.Error()}
}

// oidcError is a rejected JWT: errors.Is(err, ErrBadCredentials) holds (and
// ErrIdPUnreachable when the provider could not be reached), while the
// message starts with the reason, e.g. "token expired at …", "wrong
// audience: …", "identity provider unreachable: …".
type oidcError struct {
	msg         string
	unreachable bool
}

func (e *oidcError) Error() string { return e.msg }

func (e *oidcError) Unwrap() []error {
	if e.unreachable {
		return []error{ErrBadCredentials, ErrIdPUnreachable}
	}
	return []error{ErrBadCredentials}
}

// lookupClaim follows a dotted path ("realm_access.roles") through nested
// objects. A claim whose own name contains dots is found first.
func lookupClaim(claims map[string]any, path string) any {
	if v, ok := claims[path]; ok {
		return v
	}
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// claimStrings accepts a list of strings or one string.
func claimStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// bearer returns the credential of "Authorization: Bearer <cred>".
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoCredentials
	}
	scheme, cred, ok := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return "", fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrBadCredentials)
	}
	return cred, nil
}

// Chain authenticates with API tokens ("amp_…") and OIDC JWTs: a bearer
// credential starting with "amp_" goes to the first authenticator that is
// *Tokens, anything else to the others in order; the first success wins,
// otherwise the most specific failure is returned.
func Chain(authenticators ...Authenticator) Authenticator {
	return chain(authenticators)
}

type chain []Authenticator

func (c chain) Authenticate(r *http.Request) (*Principal, error) {
	cred, err := bearer(r)
	if err != nil {
		return nil, err
	}
	isAPIToken := strings.HasPrefix(cred, "amp_")
	var first error
	for _, a := range c {
		_, tokens := a.(*Tokens)
		if tokens != isAPIToken {
			continue
		}
		p, err := a.Authenticate(r)
		if err == nil {
			return p, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		if isAPIToken {
			return nil, fmt.Errorf("%w: API tokens are not accepted here", ErrBadCredentials)
		}
		return nil, fmt.Errorf("%w: only API tokens (amp_…) are accepted here", ErrBadCredentials)
	}
	return nil, first
}
