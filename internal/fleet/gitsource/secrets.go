package gitsource

import (
	"errors"
	"unicode/utf8"

	"github.com/amp-edge/amp/internal/store"
)

// Secrets keeps the repos' secrets (webhook secrets, HTTPS credentials)
// in the store's metadata, shared by every replica, under the id the
// configuration names them by (git-repo webhook-secret, credentials).
// They are kept as given: a webhook's HMAC needs the secret itself, and
// so does a fetch's credential. They are never returned by the API nor
// logged.
type Secrets struct{ Meta store.Meta }

const secretPrefix = "fleet-secret/"

// MaxSecret bounds a secret's length.
const MaxSecret = 4096

// ErrBadSecret is a secret that is empty, too long or not UTF-8.
var ErrBadSecret = errors.New("a secret is 1 to 4096 bytes of UTF-8")

// Put sets the secret of id (replacing one it had).
func (s Secrets) Put(id, secret string) error {
	if secret == "" || len(secret) > MaxSecret || !utf8.ValidString(secret) {
		return ErrBadSecret
	}
	return s.Meta.PutMeta(secretPrefix+id, []byte(secret))
}

// Get returns the secret of id; ok is false when none is set.
func (s Secrets) Get(id string) (secret string, ok bool, err error) {
	b, err := s.Meta.GetMeta(secretPrefix + id)
	return string(b), err == nil && b != nil, err
}

// Delete removes the secret of id; false: none was set.
func (s Secrets) Delete(id string) (bool, error) {
	b, err := s.Meta.TakeMeta(secretPrefix + id)
	return b != nil, err
}
