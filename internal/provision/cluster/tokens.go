package cluster

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/store"
)

// A registration token is "ampreg_<id>_<secret>": the id finds its record,
// and only SHA-256(secret) is stored, with the cluster, its expiry and who
// minted it, so the store never holds a usable credential (as API tokens,
// internal/auth). It is single use: registering takes (deletes) the record.

// Token is a registration token's record (never its secret).
type Token struct {
	ID       string    `json:"id"`
	Cluster  string    `json:"cluster"`
	Hash     string    `json:"hash,omitempty"` // hex SHA-256 of the secret; never listed
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	MintedBy string    `json:"minted-by"`
}

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool { return !now.Before(t.Expires) }

// TTL bounds.
const (
	DefaultTTL = time.Hour
	MinTTL     = time.Second
	MaxTTL     = 7 * 24 * time.Hour
	// MaxLive bounds the unexpired tokens of one cluster: minting is an
	// operator's, but a script in a loop must not fill the store.
	MaxLive = 100
)

const metaPrefix = "cluster-token/"

// usedPrefix keys the record of a used token (Used), kept until the
// token would have expired, so that a second registration with it is told
// when it was used rather than "not valid".
const usedPrefix = "cluster-token-used/"

// Used is the record of a used token.
type Used struct {
	ID      string    `json:"id"`
	Cluster string    `json:"cluster"`
	Hash    string    `json:"hash"` // the token's: only its holder learns it was used
	At      time.Time `json:"used-at"`
	Expires time.Time `json:"expires"`
}

// UsedError is a registration with a token already used.
type UsedError struct{ At time.Time }

func (e *UsedError) Error() string {
	return "the registration token was already used at " + e.At.UTC().Format(time.RFC3339) + ": each token works once; mint another (amp cluster token)"
}

// Unwrap makes a used token an ErrInvalid.
func (e *UsedError) Unwrap() error { return ErrInvalid }

// ErrInvalid is a registration with a token that is malformed, unknown,
// already used or revoked: the caller learns no more than that.
var ErrInvalid = errors.New("the registration token is not valid (unknown, already used or revoked)")

// ErrExpired is a registration with a genuine token past its expiry.
var ErrExpired = errors.New("the registration token has expired")

// ErrTooMany is minting past MaxLive.
var ErrTooMany = fmt.Errorf("the cluster has %d unexpired registration tokens already: revoke some or let them expire", MaxLive)

// Tokens keeps registration tokens in the store's metadata, shared by
// every replica.
type Tokens struct {
	Meta store.Meta
	Now  func() time.Time // the clock (time.Now)
}

// Mint makes a token for cluster, valid for ttl, and returns its secret
// form (shown once) and record. It drops the cluster's expired tokens.
func (ts Tokens) Mint(cluster, by string, ttl time.Duration) (string, Token, error) {
	now := ts.Now().UTC()
	list, err := ts.List(cluster)
	if err != nil {
		return "", Token{}, err
	}
	live := 0
	for _, t := range list {
		if t.Expired(now) {
			if err := ts.Meta.DeleteMeta(metaPrefix + t.ID); err != nil {
				return "", Token{}, err
			}
			continue
		}
		live++
	}
	if err := ts.dropUsed(cluster, now); err != nil {
		return "", Token{}, err
	}
	if live >= MaxLive {
		return "", Token{}, ErrTooMany
	}
	idb, sec := make([]byte, 6), make([]byte, 32)
	if _, err := rand.Read(idb); err != nil {
		return "", Token{}, fmt.Errorf("token id: %w", err)
	}
	if _, err := rand.Read(sec); err != nil {
		return "", Token{}, fmt.Errorf("token secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(sec)
	sum := sha256.Sum256([]byte(secret))
	tok := Token{ID: hex.EncodeToString(idb), Cluster: cluster, Hash: hex.EncodeToString(sum[:]), Created: now,
		Expires: now.Add(ttl), MintedBy: by}
	b, err := json.Marshal(tok)
	if err != nil {
		return "", Token{}, err
	}
	if err := ts.Meta.PutMeta(metaPrefix+tok.ID, b); err != nil {
		return "", Token{}, fmt.Errorf("store the registration token: %w", err)
	}
	tok.Hash = ""
	return "ampreg_" + tok.ID + "_" + secret, tok, nil
}

// List returns the cluster's tokens not yet used or revoked, oldest first,
// without their hashes.
func (ts Tokens) List(cluster string) ([]Token, error) {
	out := []Token{}
	err := ts.Meta.Metas(metaPrefix, func(_ string, v []byte) error {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		if t.Cluster == cluster {
			t.Hash = ""
			out = append(out, t)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}

// Revoke deletes one of the cluster's tokens; false: it has none of that
// id.
func (ts Tokens) Revoke(cluster, id string) (bool, error) {
	t, ok, err := ts.get(id)
	if err != nil || !ok || t.Cluster != cluster {
		return false, err
	}
	return true, ts.Meta.DeleteMeta(metaPrefix + id)
}

// Check verifies a token's secret form and expiry without using it up,
// and returns its record (hash included, for Restore).
func (ts Tokens) Check(secret string) (Token, error) {
	rest, ok := strings.CutPrefix(secret, "ampreg_")
	id, sec, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(id) != 12 {
		return Token{}, ErrInvalid
	}
	t, found, err := ts.get(id)
	if err != nil {
		return Token{}, err
	}
	if !found {
		return Token{}, ts.usedOr(id, sec, ErrInvalid)
	}
	if !sameSecret(sec, t.Hash) {
		return Token{}, ErrInvalid
	}
	if t.Expired(ts.Now()) {
		return t, fmt.Errorf("%w at %s", ErrExpired, t.Expires.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// Take uses up a checked token: of concurrent takers (on any replica) one
// succeeds, the others get ErrInvalid.
func (ts Tokens) Take(t Token) error {
	b, err := ts.Meta.TakeMeta(metaPrefix + t.ID)
	if err != nil {
		return err
	}
	if b == nil {
		return ErrInvalid
	}
	u, err := json.Marshal(Used{ID: t.ID, Cluster: t.Cluster, Hash: t.Hash, At: ts.Now().UTC(), Expires: t.Expires})
	if err != nil {
		return err
	}
	return ts.Meta.PutMeta(usedPrefix+t.ID, u)
}

// usedOr returns a *UsedError when the token of id was used (and its
// secret is sec's), else otherwise.
func (ts Tokens) usedOr(id, sec string, otherwise error) error {
	b, err := ts.Meta.GetMeta(usedPrefix + id)
	if err != nil {
		return err
	}
	var u Used
	if b == nil || json.Unmarshal(b, &u) != nil || !sameSecret(sec, u.Hash) {
		return otherwise
	}
	return &UsedError{At: u.At}
}

// dropUsed forgets the used tokens of cluster that would have expired.
func (ts Tokens) dropUsed(cluster string, now time.Time) error {
	var old []string
	err := ts.Meta.Metas(usedPrefix, func(k string, v []byte) error {
		var u Used
		if json.Unmarshal(v, &u) == nil && u.Cluster == cluster && !now.Before(u.Expires) {
			old = append(old, k)
		}
		return nil
	})
	for _, k := range old {
		if err == nil {
			err = ts.Meta.DeleteMeta(k)
		}
	}
	return err
}

// Restore puts back a taken token whose registration could not be
// recorded, so that the agent may try again (t as Check returned it).
func (ts Tokens) Restore(t Token) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := ts.Meta.DeleteMeta(usedPrefix + t.ID); err != nil {
		return err
	}
	return ts.Meta.PutMeta(metaPrefix+t.ID, b)
}

// sameSecret reports whether sec hashes to hash (hex SHA-256), in
// constant time.
func sameSecret(sec, hash string) bool {
	sum := sha256.Sum256([]byte(sec))
	want, err := hex.DecodeString(hash)
	return err == nil && subtle.ConstantTimeCompare(sum[:], want) == 1
}

func (ts Tokens) get(id string) (Token, bool, error) {
	b, err := ts.Meta.GetMeta(metaPrefix + id)
	if err != nil || b == nil {
		return Token{}, false, err
	}
	var t Token
	if err := json.Unmarshal(b, &t); err != nil {
		return Token{}, false, fmt.Errorf("registration token %s: %w", id, err)
	}
	return t, true, nil
}
