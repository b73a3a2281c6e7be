package helm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/agent/helm"
)

// TestChartCache: a chart is downloaded once, kept 0600 in the agent's
// state directory, served from there while AMP is unreachable (an
// offline restart is a new Cache on the same directory), fetched again
// when the file is damaged, and refused when what came is not the
// digest asked for.
func TestChartCache(t *testing.T) {
	src := &charts{}
	ref := src.add(t, "1.0.0", nil)
	dir := filepath.Join(t.TempDir(), "charts")
	fetches := 0
	online := true
	fetch := func(ctx context.Context, digest string) ([]byte, error) {
		fetches++
		if !online {
			return nil, errors.New("AMP is unreachable")
		}
		return src.Chart(ctx, digest)
	}
	ctx := context.Background()
	c := &helm.Cache{Dir: dir, Fetch: fetch}
	want, _ := src.Chart(ctx, ref.Digest)
	if b, err := c.Chart(ctx, ref.Digest); err != nil || string(b) != string(want) || fetches != 1 {
		t.Fatalf("first read: %d bytes, %v, %d fetches", len(b), err, fetches)
	}
	file := filepath.Join(dir, "sha256-"+strings.TrimPrefix(ref.Digest, "sha256:")+".tgz")
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cached file: %v %v", st, err)
	}

	// Restarted while AMP is unreachable: served from the directory.
	online = false
	c = &helm.Cache{Dir: dir, Fetch: fetch}
	if b, err := c.Chart(ctx, ref.Digest); err != nil || string(b) != string(want) || fetches != 1 {
		t.Fatalf("offline read: %d bytes, %v, %d fetches", len(b), err, fetches)
	}
	// A damaged file is not used: fetched again (and refused offline).
	if err := os.WriteFile(file, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chart(ctx, ref.Digest); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("damaged file offline: %v", err)
	}
	online = true
	if b, err := c.Chart(ctx, ref.Digest); err != nil || string(b) != string(want) {
		t.Fatalf("damaged file online: %v", err)
	}
	// What comes must be what was asked for.
	other := src.add(t, "9.9.9", nil)
	liar := &helm.Cache{Dir: dir, Fetch: func(ctx context.Context, _ string) ([]byte, error) { return src.Chart(ctx, other.Digest) }}
	if _, err := liar.Chart(ctx, "sha256:"+strings.Repeat("ab", 32)); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("a wrong archive: %v", err)
	}
	if _, err := c.Chart(ctx, "md5:abc"); err == nil {
		t.Fatal("a malformed digest was accepted")
	}
}
