package gitsource

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Providers whose push webhooks Verify knows, as the metrics and the
// audit trail name them.
const (
	GitHub = "github"
	GitLab = "gitlab"
	Gitea  = "gitea" // Gitea and Gogs
)

// ErrUnsigned is a webhook that carries none of the signatures Verify
// knows.
var ErrUnsigned = errors.New("the request carries no X-Hub-Signature-256, X-Gitlab-Token, X-Gitea-Signature or X-Gogs-Signature")

// ErrBadSignature is a webhook whose signature does not match the repo's
// secret.
var ErrBadSignature = errors.New("the signature does not match the repo's webhook secret")

// Verify checks a push webhook's signature against secret and returns the
// provider that signed it:
//   - GitHub: X-Hub-Signature-256 "sha256=" + hex HMAC-SHA256(secret, body);
//   - GitLab: X-Gitlab-Token, the secret itself;
//   - Gitea/Gogs: X-Gitea-Signature or X-Gogs-Signature, hex
//     HMAC-SHA256(secret, body).
//
// Every comparison is constant-time. A request with several signatures
// must pass the first one found in that order.
func Verify(h http.Header, body []byte, secret string) (string, error) {
	switch {
	case h.Get("X-Hub-Signature-256") != "":
		sig, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256=")
		if !ok || !macEqual(sig, body, secret) {
			return GitHub, ErrBadSignature
		}
		return GitHub, nil
	case h.Get("X-Gitlab-Token") != "":
		if subtle.ConstantTimeCompare([]byte(h.Get("X-Gitlab-Token")), []byte(secret)) != 1 {
			return GitLab, ErrBadSignature
		}
		return GitLab, nil
	case h.Get("X-Gitea-Signature") != "" || h.Get("X-Gogs-Signature") != "":
		sig := h.Get("X-Gitea-Signature")
		if sig == "" {
			sig = h.Get("X-Gogs-Signature")
		}
		if !macEqual(sig, body, secret) {
			return Gitea, ErrBadSignature
		}
		return Gitea, nil
	}
	return "", ErrUnsigned
}

// Sign returns the hex HMAC-SHA256 of body under secret, as GitHub (after
// "sha256="), Gitea and Gogs sign a webhook.
func Sign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func macEqual(sigHex string, body []byte, secret string) bool {
	got, err := hex.DecodeString(sigHex)
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(Sign(body, secret))
	return hmac.Equal(got, want)
}

// PushedBranch returns the branch a push event's body names ("ref":
// "refs/heads/main" in GitHub's, GitLab's, Gitea's and Gogs' push events
// alike); ok is false for a tag or anything that is not a push.
func PushedBranch(body []byte) (branch string, ok bool) {
	var ev struct {
		Ref string `json:"ref"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return "", false
	}
	if branch, ok = strings.CutPrefix(ev.Ref, "refs/heads/"); !ok {
		return "", false
	}
	return branch, true
}
