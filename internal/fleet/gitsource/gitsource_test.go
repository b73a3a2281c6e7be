package gitsource

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv/gitserver"
)

// TestVerify: each provider's signature passes with the secret and fails
// with another; an unsigned request is refused as such.
func TestVerify(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	const secret = "s3cret"
	for _, c := range []struct {
		name, header, value, provider string
	}{
		{"github", "X-Hub-Signature-256", "sha256=" + Sign(body, secret), GitHub},
		{"gitlab", "X-Gitlab-Token", secret, GitLab},
		{"gitea", "X-Gitea-Signature", Sign(body, secret), Gitea},
		{"gogs", "X-Gogs-Signature", Sign(body, secret), Gitea},
	} {
		h := http.Header{}
		h.Set(c.header, c.value)
		if p, err := Verify(h, body, secret); err != nil || p != c.provider {
			t.Errorf("%s: Verify = %q, %v; want %q, nil", c.name, p, err, c.provider)
		}
		if _, err := Verify(h, body, "other"); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s with another secret: %v, want ErrBadSignature", c.name, err)
		}
		if c.header != "X-Gitlab-Token" {
			if _, err := Verify(h, []byte(`{"ref":"refs/heads/evil"}`), secret); !errors.Is(err, ErrBadSignature) {
				t.Errorf("%s over another body: %v, want ErrBadSignature", c.name, err)
			}
		}
	}
	h := http.Header{}
	h.Set("X-Hub-Signature-256", Sign(body, secret)) // without "sha256="
	if _, err := Verify(h, body, secret); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a GitHub signature without its prefix: %v", err)
	}
	if _, err := Verify(http.Header{}, body, secret); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned: %v, want ErrUnsigned", err)
	}
}

func TestPushedBranch(t *testing.T) {
	for body, want := range map[string]string{`{"ref":"refs/heads/release/2.1"}`: "release/2.1", `{"ref":"refs/tags/v1"}`: "", `{"zen":"ping"}`: "", `nope`: ""} {
		if got, ok := PushedBranch([]byte(body)); got != want || ok != (want != "") {
			t.Errorf("PushedBranch(%s) = %q, %v; want %q", body, got, ok, want)
		}
	}
}

// TestFetch fetches from real git over smart HTTP: the branch's newest
// commit after each push, another branch unaffected, a pinned revision,
// and the reasons for a missing branch and a repo that disappeared.
func TestFetch(t *testing.T) {
	ctx := context.Background()
	gs := gitserver.Start(t)
	url := gs.Create(t, "apps")
	first := gs.Push(t, "apps", "main", map[string]string{"charts/a/Chart.yaml": "name: a\nversion: 1.0.0\n"})
	if rev, _, err := Fetch(ctx, Source{URL: url, Branch: "main"}); err != nil || rev != first {
		t.Fatalf("Fetch = %s, %v; want %s", rev, err, first)
	}
	second := gs.Push(t, "apps", "main", map[string]string{"charts/a/Chart.yaml": "name: a\nversion: 1.0.1\n"})
	gs.Push(t, "apps", "dev", map[string]string{"x": "y"})
	if rev, _, err := Fetch(ctx, Source{URL: url, Branch: "main"}); err != nil || rev != second {
		t.Fatalf("Fetch after a push = %s, %v; want %s", rev, err, second)
	}
	if rev, _, err := Fetch(ctx, Source{URL: url, Revision: first}); err != nil || rev != first {
		t.Errorf("Fetch pinned = %s, %v; want %s", rev, err, first)
	}
	if _, _, err := Fetch(ctx, Source{URL: url, Revision: strings.Repeat("ab", 20)}); err == nil || !strings.Contains(err.Error(), "is on no branch") {
		t.Errorf("Fetch of a revision the repo lacks: %v", err)
	}
	if _, _, err := Fetch(ctx, Source{URL: url, Branch: "nope"}); err == nil || !strings.Contains(err.Error(), `has no branch "nope"`) {
		t.Errorf("Fetch of a missing branch: %v", err)
	}
	gs.Remove(t, "apps")
	if _, _, err := Fetch(ctx, Source{URL: url, Branch: "main"}); err == nil || !strings.Contains(err.Error(), "the repository does not exist") {
		t.Errorf("Fetch of a removed repo: %v", err)
	}
}
