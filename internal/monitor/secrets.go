package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"unicode/utf8"

	"github.com/amp-edge/amp/internal/store"
)

// Secrets keeps the enterprises' receiver secrets (a Slack-compatible
// webhook's URL) in the store's metadata, shared by every replica, under
// the enterprise and the id the configuration names them by. They are
// never returned by the API nor logged; the adapter writes them to files
// only Alertmanager reads (api_url_file).
type Secrets struct{ Meta store.Meta }

const secretPrefix = "monitor-secret/"

// MaxSecret bounds a secret's length.
const MaxSecret = 2048

// ErrBadSecret is a secret that is not an http(s) URL of at most
// MaxSecret bytes.
var ErrBadSecret = errors.New("a receiver secret is an http:// or https:// URL of at most 2048 bytes")

func secretKey(tenant, id string) string { return secretPrefix + tenant + "/" + id }

// Put sets the enterprise's secret id: an http(s) URL that the egress
// policy (--alert-webhook-allow) lets Alertmanager reach.
func (s Secrets) Put(tenant, id, secret string) error {
	u, err := url.Parse(secret)
	if len(secret) > MaxSecret || !utf8.ValidString(secret) || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ErrBadSecret
	}
	if why := webhookEgress.CheckHost(u.Hostname()); why != "" {
		return fmt.Errorf("%w, and %s", ErrBadSecret, why)
	}
	return s.Meta.PutMeta(secretKey(tenant, id), []byte(secret))
}

// Get returns the enterprise's secret id; ok is false when none is set.
func (s Secrets) Get(tenant, id string) (secret string, ok bool, err error) {
	b, err := s.Meta.GetMeta(secretKey(tenant, id))
	return string(b), err == nil && b != nil, err
}

// Delete removes the enterprise's secret id; false: none was set.
func (s Secrets) Delete(tenant, id string) (bool, error) {
	b, err := s.Meta.TakeMeta(secretKey(tenant, id))
	return b != nil, err
}

// digest is a fingerprint of every secret, so the adapter notices a
// change of one.
func (s Secrets) digest() (string, error) {
	h := sha256.New()
	err := s.Meta.Metas(secretPrefix, func(k string, v []byte) error {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write(v)
		h.Write([]byte{0})
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}
