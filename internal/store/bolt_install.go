package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// HasBolt reports whether dir holds a bbolt store, or a write-ahead log
// left of one: what OpenBolt would open rather than create.
func HasBolt(dir string) (bool, error) {
	for _, name := range []string{boltFile, "wal"} {
		_, err := os.Stat(filepath.Join(dir, name))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
	}
	return false, nil
}

// InstallBolt moves the bbolt store built in directory from (a restore's
// staging directory; closed, and its Close returned nil, so its file holds
// every commit) into directory to, replacing the empty store there if
// any, and removes from. Only the file moves, by one rename, and to is
// synced: a crash leaves to with its empty store (or none) or with the
// whole new one, never part of it.
func InstallBolt(from, to string) error {
	// The replaced store was empty, so its write-ahead log holds no record;
	// a segment left there would not fit the new store's indexes.
	if err := os.RemoveAll(filepath.Join(to, "wal")); err != nil {
		return fmt.Errorf("remove the empty store's write-ahead log: %w", err)
	}
	if err := os.Rename(filepath.Join(from, boltFile), filepath.Join(to, boltFile)); err != nil {
		return fmt.Errorf("move the store into place: %w", err)
	}
	if err := syncDir(to); err != nil {
		return fmt.Errorf("move the store into place: %w", err)
	}
	if err := os.RemoveAll(from); err != nil {
		return fmt.Errorf("remove the staging directory: %w", err)
	}
	return nil
}
