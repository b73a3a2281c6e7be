// Package toolcache finds the real programs scripts/test-deps.sh builds
// into the test-tool cache (~/.cache/amp-test-tools, or under
// $XDG_CACHE_HOME, as the script) and waits for the servers the tests
// start from them to answer. It is imported only by the test
// environment's starters.
package toolcache

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Dir is the cache folder of one tool at one version, e.g. Dir("jaeger-v1.75.0").
func Dir(tool string) string {
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cache, "amp-test-tools", tool)
}

// Binary is the program name in the tool's cache folder, or the one the
// environment variable env names when set; the test fails when it is
// missing, saying how to get it.
func Binary(t testing.TB, env, tool, name string) string {
	t.Helper()
	if env != "" {
		if b := os.Getenv(env); b != "" {
			return b
		}
	}
	b := filepath.Join(Dir(tool), name)
	if st, err := os.Stat(b); err != nil || st.IsDir() {
		t.Fatalf("%s not found at %q (run scripts/test-deps.sh, which builds it from the Go module proxy)", name, b)
	}
	return b
}

// WaitOK polls url until it answers 200 OK, for at most a minute (a
// loaded machine starts servers slowly); then the test fails with what the
// server logged.
func WaitOK(t testing.TB, url, name string, log func() string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer at %s: %v\n%s", name, url, err, log())
		}
	}
}
