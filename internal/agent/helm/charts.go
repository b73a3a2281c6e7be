package helm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/amp-edge/amp/internal/agent/state"
)

// Cache keeps the chart archives the agent downloaded in a directory of
// its own (files sha256-<hex>.tgz, 0600, written atomically), so that an
// agent restarted while AMP is unreachable still has the charts of the
// state it enforces. An archive is checked against its name's digest
// whenever it is read: a damaged file is fetched again.
type Cache struct {
	Dir string
	// Fetch downloads an archive (the link to AMP).
	Fetch func(ctx context.Context, digest string) ([]byte, error)
}

// Chart returns the archive of digest, from the cache or else fetched.
func (c *Cache) Chart(ctx context.Context, digest string) ([]byte, error) {
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || !chartDigest.MatchString(digest) {
		return nil, fmt.Errorf("%q is not sha256:<64 hex digits>", digest)
	}
	path := filepath.Join(c.Dir, "sha256-"+hexDigest+".tgz")
	if b, err := os.ReadFile(path); err == nil {
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) == hexDigest {
			return b, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if c.Fetch == nil {
		return nil, errors.New("not cached, and no link to fetch it")
	}
	b, err := c.Fetch(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hexDigest {
		return nil, fmt.Errorf("download: the archive's digest is sha256:%s", hex.EncodeToString(sum[:]))
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := state.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("cache the chart: %w", err)
	}
	return b, nil
}
