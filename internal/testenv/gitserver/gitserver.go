// Package gitserver serves real git repositories over git's own smart
// HTTP protocol (`git http-backend` run as CGI by net/http/cgi on
// loopback, Debian's git) and pushes to them with real `git push`, for
// tests of AMP's git sources. A test fails, never skips, when git is
// missing (scripts/test-deps.sh installs it).
package gitserver

import (
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Backend is Debian's git-http-backend.
const Backend = "/usr/lib/git-core/git-http-backend"

// Server serves the bare repositories under Root at URL/<name>.git.
type Server struct {
	URL  string
	Root string
	work string // working copies the pushes are made from
}

// Start serves an empty root until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(Backend); err != nil {
		t.Fatalf("git http-backend is missing (%v): run scripts/test-deps.sh (Debian package git)", err)
	}
	s := &Server{Root: t.TempDir(), work: t.TempDir()}
	h := &cgi.Handler{Path: Backend, Env: []string{"GIT_PROJECT_ROOT=" + s.Root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Create makes an empty bare repository name.git that accepts pushes
// over HTTP, and returns its URL.
func (s *Server) Create(t testing.TB, name string) string {
	t.Helper()
	bare := filepath.Join(s.Root, name+".git")
	Git(t, "", "init", "--bare", "--quiet", bare)
	Git(t, bare, "config", "http.receivepack", "true")
	work := filepath.Join(s.work, name)
	Git(t, "", "init", "--quiet", work)
	return s.RepoURL(name)
}

// RepoURL is the URL of repository name.
func (s *Server) RepoURL(name string) string { return s.URL + "/" + name + ".git" }

// Push commits files (path → content) in repository name's working copy
// and pushes it with `git push` over HTTP to branch; it returns the new
// commit.
func (s *Server) Push(t testing.TB, name, branch string, files map[string]string) string {
	t.Helper()
	work := filepath.Join(s.work, name)
	for p, content := range files {
		f := filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, work, "add", "-A")
	Git(t, work, "commit", "--quiet", "--allow-empty", "-m", "change "+branch)
	Git(t, work, "push", "--quiet", s.RepoURL(name), "HEAD:refs/heads/"+branch)
	return strings.TrimSpace(Git(t, work, "rev-parse", "HEAD"))
}

// Delete removes paths (files or directories) from repository name's
// working copy, commits and pushes to branch as Push does; it returns the
// new commit.
func (s *Server) Delete(t testing.TB, name, branch string, paths ...string) string {
	t.Helper()
	work := filepath.Join(s.work, name)
	Git(t, work, append([]string{"rm", "-r", "--quiet", "--"}, paths...)...)
	return s.Push(t, name, branch, nil)
}

// Remove deletes repository name from the server.
func (s *Server) Remove(t testing.TB, name string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(s.Root, name+".git")); err != nil {
		t.Fatal(err)
	}
}

// Git runs git in dir (none: the current directory) with a fixed
// identity and no user or system configuration, and returns its output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=AMP test", "GIT_AUTHOR_EMAIL=test@amp.invalid",
		"GIT_COMMITTER_NAME=AMP test", "GIT_COMMITTER_EMAIL=test@amp.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
