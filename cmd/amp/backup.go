package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/internal/backup"
)

func newBackupCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a backup of the server's whole store to FILE, online",
		Long: `Write a backup of the running server's whole store (bbolt or etcd) to
FILE: every object as of one transaction index, the history within
retention with its original indexes, and the store's metadata (hashed API
tokens). Writers are not held up: the objects come from the server's
in-memory snapshot. Operators only (GET /admin/backup).

The stream is checked as it arrives (every frame's CRC-32C, the end frame's
counts) and FILE appears, complete and synced, only when it is valid; it is
written to a temporary file beside it first. Restore it with amp restore
(docs/backup.md).

Examples:
  amp backup /var/backups/amp/amp-$(date +%F).ampbak
  amp restore /var/backups/amp/amp-2026-11-22.ampbak --data-dir /var/lib/amp-new`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 30*time.Minute)
			defer cancel()
			path := a[0]
			start := time.Now()
			f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
			if err != nil {
				return fmt.Errorf("backup %s: %w", path, err)
			}
			keep := false
			defer func() {
				if !keep {
					f.Close()
					os.Remove(f.Name())
				}
			}()
			body, err := g.client().Backup(ctx)
			if err != nil {
				return err
			}
			defer body.Close()
			prog := newProgress(cmd.ErrOrStderr())
			in := &countingReader{r: body, fn: func(n int64) { prog.update("backup", n, 0, mib(n), false) }}
			// Verify reads the stream through to the file, so what is
			// written is exactly what was checked.
			sum, err := backup.Verify(io.TeeReader(in, f))
			prog.clear()
			if err != nil {
				var ce *backup.CorruptError
				if errors.As(err, &ce) && ctx.Err() == nil {
					return fmt.Errorf("backup from %s: %w (a server that fails part way ends the stream early; its log says why)", g.server, err)
				}
				return fmt.Errorf("backup from %s: %w", g.server, err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("backup %s: sync: %w", f.Name(), err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("backup %s: %w", f.Name(), err)
			}
			if err := os.Rename(f.Name(), path); err != nil {
				return fmt.Errorf("backup %s: %w", path, err)
			}
			keep = true
			if err := syncDir(filepath.Dir(path)); err != nil {
				return fmt.Errorf("backup %s: sync its directory: %w", path, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %s written to %s in %s\n", describe(sum), path, time.Since(start).Round(time.Millisecond))
			return nil
		}),
	}
}

// describe says what a backup holds, in one line.
func describe(s backup.Summary) string {
	hist := "no history"
	if s.Trailer.Records > 0 {
		hist = fmt.Sprintf("history %d-%d (%d transactions)", s.Trailer.First, s.Header.Last, s.Trailer.Records)
	}
	src := s.Header.Source
	if src == "" {
		src = "unknown"
	}
	return fmt.Sprintf("index %d (%s store, taken %s): %d objects, %s, %d metadata entries, %s",
		s.Header.Last, src, s.Header.Created.Format(time.RFC3339), s.Trailer.Objects, hist, s.Trailer.Metas, mib(s.Bytes))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
