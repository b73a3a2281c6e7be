package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
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
	// Dir is the repo's cache on disk, a bare repository kept between
	// fetches (and restarts), so a fetch transfers only what is new;
	// empty: fetched into memory each time.
	Dir string
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

// Fetch fetches src into its cache on disk (src.Dir) or into memory and
// returns the commit its branch points at (or its pinned revision, once
// that commit is present) and that commit's tree (the fleet's releases
// package charts from it).
func Fetch(ctx context.Context, src Source) (string, *object.Tree, error) {
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	r, err := open(src)
	if err != nil {
		return "", nil, err
	}
	rev, tree, err := fetchInto(ctx, r, src)
	if err != nil && src.Dir != "" && !isRemote(err) {
		// The cache itself is at fault (damaged, or a shallow history
		// go-git cannot extend): start it again rather than fail for ever.
		if rerr := os.RemoveAll(src.Dir); rerr != nil {
			return "", nil, fmt.Errorf("%s: the cache %s is damaged (%v) and cannot be removed: %v", src.URL, src.Dir, err, rerr)
		}
		if r, err = open(src); err != nil {
			return "", nil, err
		}
		return fetchInto(ctx, r, src)
	}
	return rev, tree, err
}

// remoteError is a failure of the server or of what it holds (a missing
// repo, branch or commit), not of the cache: starting the cache again
// would not help.
type remoteError struct{ error }

func (e remoteError) Unwrap() error { return e.error }

func isRemote(err error) bool { var re remoteError; return errors.As(err, &re) }

// open is src's repository: its cache on disk (made bare when absent,
// its remote pointed at src.URL) or a new one in memory.
func open(src Source) (*git.Repository, error) {
	var r *git.Repository
	var err error
	if src.Dir == "" {
		r, err = git.Init(memory.NewStorage(), nil)
	} else if r, err = git.PlainOpen(src.Dir); errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = git.PlainInit(src.Dir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("the cache of %s: %v", src.URL, err)
	}
	if rc, err := r.Remote("origin"); err == nil {
		if urls := rc.Config().URLs; len(urls) == 1 && urls[0] == src.URL {
			return r, nil
		}
		if err := r.DeleteRemote("origin"); err != nil {
			return nil, err
		}
	}
	if _, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{src.URL}}); err != nil {
		return nil, err
	}
	return r, nil
}

// fetchInto fetches src into r: only the objects r lacks.
func fetchInto(ctx context.Context, r *git.Repository, src Source) (string, *object.Tree, error) {
	if src.Revision != "" {
		if c, err := r.CommitObject(plumbing.NewHash(src.Revision)); err == nil {
			if tree, err := c.Tree(); err == nil { // a commit never changes: the cache's is the one
				return src.Revision, tree, nil
			}
		}
	}
	opts := &git.FetchOptions{RemoteName: "origin", Tags: git.NoTags, Auth: auth(src.Credentials)}
	if src.Revision != "" {
		// A pinned commit: the heads' histories (a server need not serve
		// a commit by its id), then the commit must be among them.
		opts.RefSpecs = []gitconfig.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}
	} else {
		opts.RefSpecs = []gitconfig.RefSpec{gitconfig.RefSpec("+refs/heads/" + src.Branch + ":refs/remotes/origin/" + src.Branch)}
		if _, err := r.Reference(plumbing.NewRemoteReferenceName("origin", src.Branch), true); err != nil {
			// The first fetch of the branch: its newest tree only. Later
			// ones ask for no depth, so the server sends the commits since
			// the one the cache has and their new objects only (a depth
			// would have it send the whole newest tree again).
			opts.Depth = 1
		}
	}
	if err := r.FetchContext(ctx, opts); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", nil, remoteError{describe(err, src)}
	}
	rev := src.Revision
	if rev == "" {
		ref, err := r.Reference(plumbing.NewRemoteReferenceName("origin", src.Branch), true)
		if err != nil {
			return "", nil, remoteError{fmt.Errorf("%s has no branch %q", src.URL, src.Branch)}
		}
		rev = ref.Hash().String()
	}
	c, err := r.CommitObject(plumbing.NewHash(rev))
	if err != nil {
		if src.Revision != "" {
			return "", nil, remoteError{fmt.Errorf("the pinned revision %s is on no branch of %s", src.Revision, src.URL)}
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
		n, _ := req.Context().Value(countKey{}).(*atomic.Int64)
		resp.Body = &limited{r: resp.Body, left: MaxFetchBytes, count: n}
	}
	return resp, err
}

type limited struct {
	r     io.ReadCloser
	left  int64
	count *atomic.Int64 // the fetch's received bytes (CountBytes), or nil
}

type countKey struct{}

// CountBytes returns ctx with a counter that the fetches made with it add
// the bytes they receive from the server to.
func CountBytes(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, countKey{}, n), n
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
	if l.count != nil {
		l.count.Add(int64(n))
	}
	return n, err
}

func (l *limited) Close() error { return l.r.Close() }
