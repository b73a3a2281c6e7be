package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// TestRestoreRefusedLeavesNothing (issue 8): amp restore checks the backup
// while it writes, and a refusal found only when the writes are well under
// way or done (the LAST object of a signed backup cannot be decoded; a
// genuine backup checked with another key, refused at its end frame)
// leaves the target exactly as it was: a bbolt data dir without store
// files, an etcd cluster with no key at all. The good backup then restores
// into the same targets. Staging files a killed restore left in a data dir
// are removed by the next restore and ignored by amp serve.
func TestRestoreRefusedLeavesNothing(t *testing.T) {
	bin := testenv.Binary(t)
	c := etcd.Start(t, 1)
	src := testenv.Start(t, t.TempDir(), "--demo")
	src.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1", `{"port":8806}`)
	dir := t.TempDir()
	good := filepath.Join(dir, "amp.ampbak")
	if out, err := ampCLI(t, src.Env(), "backup", good); err != nil {
		t.Fatalf("amp backup: %v\n%s", err, out)
	}
	keyFile := filepath.Join(src.DataDir, "backup.key")
	forged, junkKey := lastObjectUndecodable(t, good, keyFile)
	forgedFile := filepath.Join(dir, "forged.ampbak")
	otherKey := filepath.Join(dir, "other.key")
	if err := errors.Join(os.WriteFile(forgedFile, forged, 0o600), backup.WriteKey(otherKey, bytes.Repeat([]byte{9}, backup.KeySize))); err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name string
		args []string
		want []string
	}{
		{"last object undecodable", []string{forgedFile, "--backup-key", keyFile}, []string{"could not load", junkKey}},
		{"signed with another key", []string{good, "--backup-key", otherKey}, []string{"signature does not match"}},
	}

	boltDir := filepath.Join(t.TempDir(), "target")
	etcdURL := "etcd://" + c.Endpoints() + "/amp-target/"
	for _, target := range [][]string{{"--data-dir", boltDir}, {"--store", etcdURL, "--data-dir", t.TempDir()}} {
		for _, r := range refusals {
			out, err := ampCLI(t, nil, append(append([]string{"restore"}, r.args...), target...)...)
			if err == nil || !strings.Contains(out, "nothing was changed") {
				t.Fatalf("restore %s into %v: %v, want a refusal\n%s", r.name, target, err, out)
			}
			for _, w := range r.want {
				if !strings.Contains(out, w) {
					t.Fatalf("restore %s into %v: the refusal does not say %q\n%s", r.name, target, w, out)
				}
			}
			if left := storeFiles(t, boltDir); len(left) != 0 {
				t.Fatalf("restore %s: the data dir holds %v", r.name, left)
			}
			if n := etcdKeys(t, c.Endpoints()); n != 0 {
				t.Fatalf("restore %s into %v: etcd holds %d keys", r.name, target, n)
			}
		}
	}

	// A killed restore's staging directory: the next restore removes it.
	leftover := filepath.Join(boltDir, "amp.db.restoring")
	writeLeftover(t, leftover)
	out, err := ampCLI(t, nil, "restore", good, "--backup-key", keyFile, "--data-dir", boltDir)
	if err != nil || !strings.Contains(out, "restored index") || !strings.Contains(out, "left by an interrupted restore") {
		t.Fatalf("restore over a leftover staging directory: %v\n%s", err, out)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("the staging directory is still there after the restore: %v", err)
	}
	out, err = ampCLI(t, nil, "restore", good, "--backup-key", keyFile, "--store", etcdURL, "--data-dir", t.TempDir())
	if err != nil || !strings.Contains(out, "restored index") {
		t.Fatalf("restore into the etcd prefix after the refusals: %v\n%s", err, out)
	}
	// amp serve ignores staging files and serves the restored store.
	writeLeftover(t, leftover)
	want := lastIndex(t, src)
	for _, args := range [][]string{nil, {"--store", etcdURL}} {
		d := boltDir
		if args != nil {
			d = t.TempDir()
		}
		s := startWithToken(t, bin, src, d, args...)
		if got := lastIndex(t, s); got != want {
			t.Fatalf("amp serve %v on the restored store: last index %d, want %d", args, got, want)
		}
		s.Stop()
	}
}

// lastObjectUndecodable re-signs the backup in file with the key in
// keyFile, with one more object after the last: a key in order and a value
// no model decodes. It returns the backup and that key.
func lastObjectUndecodable(t *testing.T, file, keyFile string) ([]byte, string) {
	t.Helper()
	var lastKey, junk string
	forged := testenv.RewriteBackup(t, file, keyFile, func(it *backup.Item) []backup.Item {
		if it.Kind == backup.KindObject {
			lastKey = it.Key
			return nil
		}
		if junk != "" {
			return nil
		}
		junk = lastKey + "-junk"
		return []backup.Item{{Kind: backup.KindObject, Key: junk, Value: []byte("not an object")}}
	})
	if junk == "" {
		t.Fatal("the backup has nothing after its objects (the test's premise)")
	}
	return forged, junk
}

// storeFiles lists what a restore may leave in a data dir: the store, its
// WAL, the staging directory.
func storeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	for _, name := range []string{"amp.db", "wal", "amp.db.restoring"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			found = append(found, name)
		} else if !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	return found
}

// writeLeftover makes the staging files a restore killed half way leaves.
func writeLeftover(t *testing.T, staging string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(staging, "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, "amp.db"), bytes.Repeat([]byte("half a store "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
}

// etcdKeys counts every key in the cluster.
func etcdKeys(t *testing.T, endpoints string) int64 {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(endpoints, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}
