package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Source is what to fetch: a repo's URL and the branch it follows, or a
// pinned revision, with its credentials (none: anonymous).
type Source struct {
	URL      string
	Branch   string
	Revision string // 40 hex digits; when set, Branch is not read
	// Credentials is "user:password" or a token alone (sent as the
	// password of user "git", which GitHub, GitLab and Gitea accept).
	Credentials string
}

// Bounds of one fetch: it is shallow (depth 1) and of the one branch, so
// a push costs the branch's newest tree and nothing of its history; a
// server that sends more than MaxFetchBytes, or takes longer than
// FetchTimeout, fails the fetch with that reason.
const (
	MaxFetchBytes = 256 << 20
	FetchTimeout  = 2 * time.Minute
)

func init() {
	// go-git's HTTP transports, with AMP's bounds: no redirect to
	// another scheme, and the bytes a server may send bounded.
	c := githttp.NewClient(&http.Client{Transport: bounded{http.DefaultTransport}, Timeout: FetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || req.URL.Scheme != via[0].URL.Scheme {
				return errors.New("refusing a redirect to another scheme, or more than 5")
			}
			return nil
		}})
	client.InstallProtocol("https", c)
	client.InstallProtocol("http", c)
}

// Fetch fetches src into memory and returns the commit its branch points
// at (or its pinned revision, once that commit is present) and that
// commit's tree, read from memory (the fleet's releases package charts
// from it).
func Fetch(ctx context.Context, src Source) (string, *object.Tree, error) {
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	r, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return "", nil, err
	}
	if _, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{src.URL}}); err != nil {
		return "", nil, err
	}
	opts := &git.FetchOptions{RemoteName: "origin", Tags: git.NoTags, Auth: auth(src.Credentials)}
	if src.Revision != "" {
		// A pinned commit: the heads' histories (a server need not serve
		// a commit by its id), then the commit must be among them.
		opts.RefSpecs = []gitconfig.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}
	} else {
		opts.RefSpecs = []gitconfig.RefSpec{gitconfig.RefSpec("+refs/heads/" + src.Branch + ":refs/remotes/origin/" + src.Branch)}
		opts.Depth = 1
	}
	if err := r.FetchContext(ctx, opts); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", nil, describe(err, src)
	}
	rev := src.Revision
	if rev == "" {
		ref, err := r.Reference(plumbing.NewRemoteReferenceName("origin", src.Branch), true)
		if err != nil {
			return "", nil, fmt.Errorf("%s has no branch %q", src.URL, src.Branch)
		}
		rev = ref.Hash().String()
	}
	c, err := r.CommitObject(plumbing.NewHash(rev))
	if err != nil {
		if src.Revision != "" {
			return "", nil, fmt.Errorf("the pinned revision %s is on no branch of %s", src.Revision, src.URL)
		}
		return "", nil, fmt.Errorf("%s: commit %s: %v", src.URL, rev, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return "", nil, fmt.Errorf("%s: the tree of commit %s: %v", src.URL, rev, err)
	}
	return rev, tree, nil
}

// describe words a fetch's failure for the repo's state.
func describe(err error, src Source) error {
	switch {
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%s: the repository does not exist (or the credentials may not read it)", src.URL)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%s: the server refused the credentials: %v", src.URL, err)
	}
	var nm git.NoMatchingRefSpecError
	if errors.As(err, &nm) {
		return fmt.Errorf("%s has no branch %q", src.URL, src.Branch)
	}
	return fmt.Errorf("%s: %v", src.URL, err)
}

func auth(cred string) transport.AuthMethod {
	if cred == "" {
		return nil
	}
	user, pass, ok := strings.Cut(cred, ":")
	if !ok {
		user, pass = "git", cred
	}
	return &githttp.BasicAuth{Username: user, Password: pass}
}

// bounded fails a response that sends more than MaxFetchBytes.
type bounded struct{ next http.RoundTripper }

func (b bounded) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(req)
	if err == nil {
		resp.Body = &limited{r: resp.Body, left: MaxFetchBytes}
	}
	return resp, err
}

type limited struct {
	r    io.ReadCloser
	left int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("the server sent more than %d MiB", MaxFetchBytes>>20)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limited) Close() error { return l.r.Close() }
