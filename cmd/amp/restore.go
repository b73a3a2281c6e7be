package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/server"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// openOffline opens a store for restore or migrate-store; the returned
// close may be called more than once (the store's Close may not).
func openOffline(cmd *cobra.Command, spec string, sf storeFlags) (store.Store, func() error, error) {
	st, err := server.OpenOffline(cmd.Context(), spec, sf.dataDir, sf.etcdCA)
	if err != nil {
		return nil, nil, err
	}
	return st, sync.OnceValue(st.Close), nil
}

// storeFlags are the flags naming a store, as amp serve has them.
type storeFlags struct {
	dataDir, etcdCA string
}

func (s *storeFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.dataDir, "data-dir", defaultDataDir(), "amp serve's data directory: where a bbolt store is (env AMP_DATA_DIR)")
	f.StringVar(&s.etcdCA, "etcd-ca", "", "PEM file of the CA that signed the etcd members' certificates (etcds:// only; default: the system's roots)")
}

func newRestoreCmd() *cobra.Command {
	var sf storeFlags
	var spec, keyFile string
	var allowUnsigned bool
	var modelDirs []string
	cmd := &cobra.Command{
		Use:   "restore FILE [--store bbolt|etcd://…] [--data-dir DIR]",
		Short: "Restore a backup into an empty store (bbolt or etcd), offline",
		Long: `Restore a backup written by amp backup into an empty store: bbolt in
--data-dir (the default) or an etcd prefix (--store etcd://host:port/prefix/).
It runs without a server: start amp serve on the store afterwards.

Every frame is checked while the restore writes, and a backup that is
truncated, corrupt, not signed by the server's backup key, or holding an
object or transaction the server could not load is refused and changes
nothing: every frame's CRC-32C and the end frame's counts, then the
signature (the HMAC-SHA256 the server made with the key in its
--backup-key file, <data-dir>/backup.key by default), and every object and
transaction is decoded against the models as amp serve would. Until all of
that passed, the restore writes where no server can use it: a bbolt store
is built in <data-dir>/amp.db.restoring/ and moved into place at the end
(removed on a refusal); an etcd prefix is marked incomplete, and emptied
again on a refusal. Pass the source server's
key file with --backup-key (default: backup.key in --data-dir, when it
is there); --allow-unsigned restores a backup that is unsigned or whose
key you do not have, after a warning. A signature that does not match the
key given is always refused. The key is copied into a bbolt --data-dir
that has none, so the restored server signs with it too. A store that holds anything (amp serve ran on it) is refused too,
and left as it is. A restore into etcd that is killed leaves the prefix
marked incomplete, and amp serve refuses to start on it: empty it and
restore again. One into bbolt that is killed leaves only the staging
directory, which amp serve ignores and the next restore removes.

The restored store holds the backup's objects, history (with the original
transaction indexes, so diff, rollback and point-in-time reads work as
before) and metadata, API tokens included: the tokens that worked on the
source work on the restored store. The data directory's own files (the
local CA in tls/, the audit trail, admin.token) are not in a backup: copy
admin.token from the source's data dir if you use it (docs/backup.md).

Examples:
  amp restore amp-2026-11-22.ampbak --data-dir /var/lib/amp-new
  amp restore amp-2026-11-22.ampbak --store etcd://10.0.0.1:2379,10.0.0.2:2379/amp/`,
		Args: args(cobra.ExactArgs(1)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			path := a[0]
			start := time.Now()
			where := storeName(spec, sf.dataDir)
			key, err := restoreKey(keyFile, spec, sf.dataDir)
			if err != nil {
				return fmt.Errorf("restore %s: %w; nothing was changed", path, err)
			}
			check, err := backupChecker(modelDirs)
			if err != nil {
				return fmt.Errorf("restore %s: %w; nothing was changed", path, err)
			}
			f, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			tgt, err := openRestoreTarget(cmd, spec, sf)
			if err != nil {
				return err
			}
			defer tgt.discard()
			if err := backup.CheckEmpty(tgt.st); err != nil {
				return fmt.Errorf("restore into %s: %w; nothing was changed", where, err)
			}
			tgt.writing = true
			prog := newProgress(cmd.ErrOrStderr())
			in := &countingReader{r: f, fn: func(n int64) { prog.update("restore", n, st.Size(), mib(n), false) }}
			sum, err := backup.RestoreChecked(tgt.st, in, backup.Checks{
				Item: check,
				Done: func(sum backup.Summary) error {
					err := backup.Authenticate(sum, key)
					if err == nil {
						return nil
					}
					if !allowUnsigned || errors.Is(err, backup.ErrBadSignature) {
						return fmt.Errorf("%w (give the source server's key file with --backup-key, or restore an unauthenticated backup knowingly with --allow-unsigned)", err)
					}
					prog.clear()
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v: restoring it unauthenticated (--allow-unsigned)\n", err)
					return nil
				},
			})
			prog.clear()
			if err != nil {
				if derr := tgt.discard(); derr != nil {
					if tgt.staging != "" {
						return fmt.Errorf("restore %s into %s: %w; the store was not changed, but %v", path, where, err, derr)
					}
					return restoreFailed(where, fmt.Errorf("%w; then %v", err, derr))
				}
				return fmt.Errorf("restore %s into %s: %w; nothing was changed", path, where, err)
			}
			if err := tgt.install(); err != nil {
				return fmt.Errorf("restore into %s: %w", where, err)
			}
			if key != nil && server.StoreKind(spec) == "bbolt" {
				if err := backup.WriteKey(filepath.Join(sf.dataDir, "backup.key"), key); err != nil && !errors.Is(err, os.ErrExist) {
					return fmt.Errorf("restored, but %w", err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s in %s\n", describe(sum), where, time.Since(start).Round(time.Millisecond))
			return nil
		}),
	}
	cmd.Flags().StringVar(&spec, "store", envOr("AMP_STORE", "bbolt"), "the store to restore into: bbolt (in --data-dir) or etcd://host:port[,host:port…][/prefix/] (etcds:// for TLS) (env AMP_STORE)")
	cmd.Flags().StringVar(&keyFile, "backup-key", "", "the source server's backup key file, to check the backup's signature with (default: backup.key in --data-dir, if there)")
	cmd.Flags().BoolVar(&allowUnsigned, "allow-unsigned", false, "restore a backup that is unsigned or signed with a key not given, unauthenticated (anyone who could write the file chose its objects, history and API tokens)")
	cmd.Flags().StringArrayVar(&modelDirs, "models", nil, "directory of extra YANG model sets, as amp serve --models: the backup's objects are checked against them too; repeatable")
	sf.add(cmd)
	return cmd
}

// stagingDir is the directory of a bbolt data dir where a restore builds
// the store, moved into place only once the restore and all its checks are
// complete. amp serve never looks there; the next restore removes one an
// interrupted restore left.
const stagingDir = "amp.db.restoring"

// restoreTarget is what a restore writes into: an etcd prefix itself
// (found empty, marked incomplete by the restore until it is complete, and
// emptied again if it fails), or the store in a bbolt data dir's staging
// directory, removed if the restore fails.
type restoreTarget struct {
	st      store.Store
	closeSt func() error
	// bbolt: the staging directory, the data dir, and, if the data dir
	// holds a store (empty, or the restore is refused), its close: it
	// stays open until the install, its lock keeping amp serve off it.
	staging, dataDir string
	closeLive        func() error
	// writing is set once the target was found empty and the restore
	// starts: from then on, anything under the etcd prefix is its own.
	writing, done bool
}

func openRestoreTarget(cmd *cobra.Command, spec string, sf storeFlags) (*restoreTarget, error) {
	if server.StoreKind(spec) != "bbolt" {
		st, closeSt, err := openOffline(cmd, spec, sf)
		if err != nil {
			return nil, err
		}
		return &restoreTarget{st: st, closeSt: closeSt}, nil
	}
	t := &restoreTarget{staging: filepath.Join(sf.dataDir, stagingDir), dataDir: sf.dataDir}
	has, err := store.HasBolt(sf.dataDir)
	if err != nil {
		return nil, fmt.Errorf("bbolt store in %s: %w", sf.dataDir, err)
	}
	if has {
		live, closeLive, err := openOffline(cmd, spec, sf)
		if err != nil {
			return nil, err
		}
		if err := backup.CheckEmpty(live); err != nil {
			closeLive()
			return nil, fmt.Errorf("restore into %s: %w; nothing was changed", storeName(spec, sf.dataDir), err)
		}
		t.closeLive = closeLive
	}
	if _, err := os.Stat(t.staging); err == nil {
		if err := os.RemoveAll(t.staging); err != nil {
			t.discard()
			return nil, fmt.Errorf("remove %s, left by an interrupted restore: %w", t.staging, err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "removed %s, left by an interrupted restore\n", t.staging)
	}
	t.st, t.closeSt, err = openOffline(cmd, spec, storeFlags{dataDir: t.staging})
	if err != nil {
		t.discard()
		return nil, err
	}
	return t, nil
}

// discard removes what the restore wrote, if it has not been installed:
// the staging directory, or everything under the etcd prefix the restore
// found empty (guarded by the restore's marker). It closes the stores.
func (t *restoreTarget) discard() error {
	if t.done {
		return nil
	}
	t.done = true
	if t.staging == "" {
		var err error
		if t.writing {
			err = backup.Discard(t.st)
		}
		t.closeSt()
		return err
	}
	if t.closeSt != nil {
		t.closeSt()
	}
	if t.closeLive != nil {
		t.closeLive()
	}
	if err := os.RemoveAll(t.staging); err != nil {
		return fmt.Errorf("remove %s: %w (amp serve ignores it; the next restore removes it)", t.staging, err)
	}
	return nil
}

// install closes the restored store and, for bbolt, moves it from the
// staging directory into the data dir.
func (t *restoreTarget) install() error {
	if t.staging == "" {
		t.done = true
		if err := t.closeSt(); err != nil {
			return fmt.Errorf("close the store: %w", err)
		}
		return nil
	}
	if err := t.closeSt(); err != nil {
		return fmt.Errorf("close the restored store: %w; %s", err, orNothing(t.discard()))
	}
	t.done = true
	if t.closeLive != nil {
		t.closeLive()
	}
	return store.InstallBolt(t.staging, t.dataDir)
}

// orNothing says what a failed discard left, or that nothing changed.
func orNothing(err error) string {
	if err != nil {
		return err.Error()
	}
	return "nothing was changed"
}

// restoreKey reads the key a backup's signature is checked with: the file
// given, else backup.key in a bbolt data dir when it is there, else none.
func restoreKey(file, spec, dataDir string) ([]byte, error) {
	if file != "" {
		return backup.ReadKey(file)
	}
	if server.StoreKind(spec) != "bbolt" {
		return nil, nil
	}
	key, err := backup.ReadKey(filepath.Join(dataDir, "backup.key"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return key, err
}

// backupChecker decodes each object and transaction of a backup as amp
// serve would, with the embedded models and those in dirs.
func backupChecker(dirs []string) (func(backup.Item) error, error) {
	sources := []fs.FS{models.FS}
	for _, d := range dirs {
		f, err := schema.DirFS(d)
		if err != nil {
			return nil, err
		}
		sources = append(sources, f)
	}
	sch, err := schema.Load(sources...)
	if err != nil {
		return nil, fmt.Errorf("load models: %w", err)
	}
	return config.NewBackupCheck(sch).Item, nil
}

func newMigrateStoreCmd() *cobra.Command {
	var sf storeFlags
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate-store --from STORE --to STORE [--data-dir DIR]",
		Short: "Copy a store into an empty one of another kind (bbolt to etcd and back), offline",
		Long: `Copy the whole store --from names into the empty store --to names:
objects, history with its original indexes, and metadata (API tokens). A
store is bbolt (the one in --data-dir) or etcd://host:port[,host:port…]/prefix/
(etcds:// for TLS, trusting --etcd-ca). It is a backup piped into a restore
(amp backup, amp restore, docs/backup.md), with the same checks.

Stop amp serve first: a store in use is refused (bbolt's file lock, the
election keys of replicas serving the etcd prefix). The source is left as it is; start amp serve with
--store set to the target afterwards, with the same --data-dir (it keeps the
local CA, the audit trail and admin.token).

Examples:
  amp migrate-store --from bbolt --to etcd://10.0.0.1:2379/amp/ --data-dir /var/lib/amp
  amp migrate-store --from etcd://10.0.0.1:2379/amp/ --to bbolt --data-dir /var/lib/amp-new`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usagef("give both --from and --to")
			}
			if server.StoreKind(from) == "bbolt" && server.StoreKind(to) == "bbolt" {
				return usagef("--from and --to are both the bbolt store in --data-dir; to copy a bbolt store, use amp backup and amp restore")
			}
			if from == to {
				return usagef("--from and --to are the same store")
			}
			if server.StoreKind(from) == "bbolt" {
				// Opening a missing bbolt store would create an empty one.
				if _, err := os.Stat(filepath.Join(sf.dataDir, "amp.db")); err != nil {
					return fmt.Errorf("migrate from %s: %w", storeName(from, sf.dataDir), err)
				}
			}
			start := time.Now()
			fromName, toName := storeName(from, sf.dataDir), storeName(to, sf.dataDir)
			dst, closeDst, err := openOffline(cmd, to, sf)
			if err != nil {
				return err
			}
			defer closeDst()
			if err := backup.CheckEmpty(dst); err != nil {
				return fmt.Errorf("migrate into %s: %w; nothing was changed", toName, err)
			}
			src, closeSrc, err := openOffline(cmd, from, sf)
			if err != nil {
				return err
			}
			defer closeSrc()
			if backup.CheckEmpty(src) == nil {
				return fmt.Errorf("migrate from %s: the source store is empty (is --data-dir or the prefix right?); nothing was changed", fromName)
			}
			sum, err := migrate(src, dst, backup.Header{Created: start.UTC(), AMPVersion: version, Source: server.StoreKind(from)}, newProgress(cmd.ErrOrStderr()))
			if err != nil {
				return fmt.Errorf("migrate from %s: %w", fromName, restoreFailed(toName, err))
			}
			if err := closeDst(); err != nil {
				return fmt.Errorf("migrate into %s: close the store: %w", toName, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "migrated %s from %s into %s in %s\n", describe(sum), fromName, toName, time.Since(start).Round(time.Millisecond))
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the store to copy: bbolt (in --data-dir) or etcd://host:port[,host:port…][/prefix/]")
	f.StringVar(&to, "to", "", "the empty store to copy into: bbolt (in --data-dir) or etcd://…")
	sf.add(cmd)
	return cmd
}

// migrate pipes a dump of src into a restore into dst.
func migrate(src, dst store.Store, h backup.Header, prog *progress) (backup.Summary, error) {
	pr, pw := io.Pipe()
	dumped := make(chan error, 1)
	go func() {
		_, err := backup.Dump(pw, src, h)
		pw.CloseWithError(err)
		dumped <- err
	}()
	in := &countingReader{r: pr, fn: func(n int64) { prog.update("migrate", n, 0, mib(n), false) }}
	sum, err := backup.Restore(dst, in)
	prog.clear()
	pr.CloseWithError(errors.New("the restore stopped"))
	if derr := <-dumped; derr != nil && err != nil {
		// The dump's error is the cause when the restore only saw the
		// stream end early.
		return sum, fmt.Errorf("read the source: %w", derr)
	}
	return sum, err
}

// restoreFailed explains a failed restore: a refused one changed nothing,
// any other left the store marked incomplete.
func restoreFailed(where string, err error) error {
	if errors.Is(err, backup.ErrNotEmpty) {
		return fmt.Errorf("restore into %s: %w; nothing was changed", where, err)
	}
	return fmt.Errorf("restore into %s: %w; the store is marked incomplete and amp serve will not start on it: empty it and restore again", where, err)
}

func storeName(spec, dataDir string) string {
	if server.StoreKind(spec) == "bbolt" {
		return "bbolt store in " + dataDir
	}
	return spec
}
