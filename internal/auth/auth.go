// Package auth answers "who is calling" (authentication) and, through the
// Authorizer seam, "may they do this" (authorization). This issue ships API
// tokens and an authorizer that lets any authenticated principal act; OIDC,
// mutual TLS identities and OPA policies plug in behind the same two
// interfaces, so handlers never check identity themselves.
//
// It imports internal/store (tokens are kept hashed in its metadata), grpc
// (for the gNMI interceptors), go-oidc and the standard library.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/store"
)

// Principal is an authenticated caller.
type Principal struct {
	Name string `json:"name"`
	// Groups are the group names the identity asserted (kept for the
	// audit trail and for custom policies).
	Groups []string `json:"groups,omitempty"`
	// Rights are what the default policy decides on. Nil means "not
	// mapped": RightsOf then maps Groups (rights.go).
	Rights []Right `json:"rights,omitempty"`
	// Via says how the caller authenticated: "token", "oidc", "mtls".
	Via string `json:"via"`
}

type ctxKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// ErrNoCredentials means the request carried no credentials at all.
var ErrNoCredentials = errors.New("no bearer token: send Authorization: Bearer <token>")

// ErrBadCredentials means the credentials were present but not valid.
var ErrBadCredentials = errors.New("the bearer token is not valid (unknown, revoked or malformed)")

// Authenticator identifies the caller of an HTTP request.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// Action is what a caller wants to do to a path.
type Action string

const (
	Read  Action = "read"
	Write Action = "write"
	Admin Action = "admin"
)

// Authorizer decides whether a principal may act on a resource: one
// decision point for every interface (internal/policy implements it). The
// error it returns is typed (authz.go): ErrNoCredentials for no caller, one
// wrapping ErrDenied for a refusal, and an *EvaluationError when it could
// not decide.
type Authorizer interface {
	Authorize(ctx context.Context, p *Principal, action Action, res Resource) error
}

// AllowAuthenticated lets every authenticated principal do everything: the
// behaviour until RBAC policies arrive.
type AllowAuthenticated struct{}

// Authorize implements Authorizer.
func (AllowAuthenticated) Authorize(_ context.Context, p *Principal, _ Action, _ Resource) error {
	if p == nil {
		return ErrNoCredentials
	}
	return nil
}

// Token is an API token's record; the secret itself is never stored.
type Token struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Principal string  `json:"principal"`
	Rights    []Right `json:"rights"`
	// Groups is how records written before rights existed held the role
	// (the book's group names); decodeToken migrates such a record when
	// it is read, and new records never have it.
	Groups  []string  `json:"groups,omitempty"`
	Hash    string    `json:"hash"` // hex SHA-256 of the secret
	Created time.Time `json:"created"`
}

// Tokens authenticates API tokens kept hashed in the store's metadata. A
// token is "amp_<id>_<secret>"; only SHA-256(secret) is stored, so the store
// never holds a usable credential.
type Tokens struct {
	st store.Store
	mu sync.RWMutex
	by map[string]cachedToken // id -> token
	// retired reports an enterprise id that was deleted: a token with a
	// right on it is dead, even before its record is revoked (another
	// replica deleted the enterprise, or AMP stopped in between).
	retired func(enterprise string) bool
}

// tokenCacheTTL bounds how long a token revoked through another replica
// (which shares the store but not this cache) keeps working here.
const tokenCacheTTL = 5 * time.Second

type cachedToken struct {
	Token
	read time.Time
}

const tokenMetaPrefix = "token/"

// NewTokens loads the tokens kept in st.
func NewTokens(st store.Store) *Tokens {
	return &Tokens{st: st, by: map[string]cachedToken{}, retired: func(string) bool { return false }}
}

// SetRetired tells the tokens which enterprise ids belong to deleted
// enterprises (config.Engine.Retired); call it before serving.
func (t *Tokens) SetRetired(retired func(enterprise string) bool) { t.retired = retired }

// decodeToken reads a stored record, migrating one written before rights
// existed: its groups (which POST /tokens built from the role) become
// rights through the book's mapping.
func decodeToken(b []byte) (Token, error) {
	var tok Token
	if err := json.Unmarshal(b, &tok); err != nil {
		return Token{}, err
	}
	if tok.Rights == nil {
		tok.Rights = RightsFromGroups(tok.Groups, true)
		tok.Groups = nil
	}
	return tok, nil
}

// dead reports whether tok holds a right on a deleted enterprise.
func (t *Tokens) dead(tok Token) bool {
	for _, r := range tok.Rights {
		if r.Enterprise != "" && t.retired(r.Enterprise) {
			return true
		}
	}
	return false
}

// Caller is the principal a token authenticates: its groups are the
// structured names of its rights, so the audit trail shows the role.
func (tok Token) Caller() *Principal {
	return &Principal{Name: tok.Principal, Groups: GroupNames(tok.Rights), Rights: tok.Rights, Via: "token"}
}

// lookup reads one token record by id (cached afterwards).
func (t *Tokens) lookup(id string) (Token, bool) {
	t.mu.RLock()
	c, ok := t.by[id]
	t.mu.RUnlock()
	if ok && time.Since(c.read) < tokenCacheTTL {
		return c.Token, true
	}
	b, err := t.st.GetMeta(tokenMetaPrefix + id)
	if err != nil || b == nil {
		if b == nil && err == nil {
			t.mu.Lock()
			delete(t.by, id)
			t.mu.Unlock()
		}
		return Token{}, false
	}
	tok, err := decodeToken(b)
	if err != nil || t.dead(tok) {
		return Token{}, false
	}
	t.mu.Lock()
	t.by[id] = cachedToken{Token: tok, read: time.Now()}
	t.mu.Unlock()
	return tok, true
}

// Create makes a new token holding rights and returns its secret form,
// shown only once.
func (t *Tokens) Create(name, principal string, rights []Right) (string, Token, error) {
	if rights == nil {
		rights = []Right{}
	}
	idb := make([]byte, 6)
	sec := make([]byte, 24)
	if _, err := rand.Read(idb); err != nil {
		return "", Token{}, fmt.Errorf("token id: %w", err)
	}
	if _, err := rand.Read(sec); err != nil {
		return "", Token{}, fmt.Errorf("token secret: %w", err)
	}
	id := hex.EncodeToString(idb)
	secret := base64.RawURLEncoding.EncodeToString(sec)
	sum := sha256.Sum256([]byte(secret))
	tok := Token{ID: id, Name: name, Principal: principal, Rights: rights, Hash: hex.EncodeToString(sum[:]), Created: time.Now().UTC()}
	b, err := json.Marshal(tok)
	if err != nil {
		return "", Token{}, err
	}
	if err := t.st.PutMeta(tokenMetaPrefix+id, b); err != nil {
		return "", Token{}, fmt.Errorf("store token: %w", err)
	}
	t.mu.Lock()
	t.by[id] = cachedToken{Token: tok, read: time.Now()}
	t.mu.Unlock()
	return "amp_" + id + "_" + secret, tok, nil
}

// List returns every token's record (never a secret), oldest first.
func (t *Tokens) List() ([]Token, error) {
	var out []Token
	err := t.st.Metas(tokenMetaPrefix, func(_ string, v []byte) error {
		tok, err := decodeToken(v)
		if err != nil {
			return err
		}
		tok.Hash = ""
		out = append(out, tok)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// Revoke deletes a token; it stops working at once on this replica, and
// within tokenCacheTTL on the others.
func (t *Tokens) Revoke(id string) (bool, error) {
	// The record itself, not lookup: a token of a deleted enterprise no
	// longer authenticates but is still revoked.
	if b, err := t.st.GetMeta(tokenMetaPrefix + id); err != nil || b == nil {
		return false, err
	}
	if err := t.st.DeleteMeta(tokenMetaPrefix + id); err != nil {
		return false, err
	}
	t.mu.Lock()
	delete(t.by, id)
	t.mu.Unlock()
	return true, nil
}

// RevokeEnterprise revokes every token holding a right on enterprise (it
// was deleted) and returns their ids.
func (t *Tokens) RevokeEnterprise(enterprise string) ([]string, error) {
	list, err := t.List()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, tok := range list {
		if !slices.ContainsFunc(tok.Rights, func(r Right) bool { return r.Enterprise == enterprise }) {
			continue
		}
		if _, err := t.Revoke(tok.ID); err != nil {
			return ids, err
		}
		ids = append(ids, tok.ID)
	}
	return ids, nil
}

// Valid checks a token string and returns its record.
func (t *Tokens) Valid(s string) (Token, bool) {
	rest, ok := strings.CutPrefix(s, "amp_")
	if !ok {
		return Token{}, false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 12 {
		return Token{}, false
	}
	tok, ok := t.lookup(id)
	if !ok {
		return Token{}, false
	}
	sum := sha256.Sum256([]byte(secret))
	want, err := hex.DecodeString(tok.Hash)
	if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return Token{}, false
	}
	return tok, true
}

// Authenticate implements Authenticator for "Authorization: Bearer amp_…".
func (t *Tokens) Authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, ErrNoCredentials
	}
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrBadCredentials)
	}
	tok, ok := t.Valid(strings.TrimSpace(cred))
	if !ok {
		return nil, ErrBadCredentials
	}
	return tok.Caller(), nil
}
