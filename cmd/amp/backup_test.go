package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/testenv"
)

// TestBackupRestoreCLI: amp backup writes a file amp restore accepts; a
// corrupt or truncated file is refused and changes nothing (the
// same store then takes the good file); usage mistakes exit 2.
func TestBackupRestoreCLI(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "amp.ampbak")
	if out := mustAmp(t, "backup", file); !strings.Contains(out, "written to "+file) || !strings.Contains(out, "objects") {
		t.Fatalf("amp backup: %s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "restored")
	for name, data := range map[string][]byte{
		"corrupt":   append(append([]byte{}, good[:len(good)/2]...), append([]byte{good[len(good)/2] ^ 0xff}, good[len(good)/2+1:]...)...),
		"truncated": good[:len(good)-20],
	} {
		bad := filepath.Join(dir, name+".ampbak")
		if err := os.WriteFile(bad, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r := amp(t, "", "restore", bad, "--data-dir", target)
		if r.code != 1 || !strings.Contains(r.stderr, "not a valid backup") || !strings.Contains(r.stderr, "nothing was changed") {
			t.Fatalf("restore of a %s backup: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
	if r := amp(t, "", "restore", file, "--data-dir", target); r.code != 1 || !strings.Contains(r.stderr, "signed with backup key") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Fatalf("restore with no key to check the signature: exit %d\n%s", r.code, r.stderr)
	}
	if out := mustAmp(t, "restore", file, "--backup-key", ampKey, "--data-dir", target); !strings.Contains(out, "restored index") {
		t.Fatalf("amp restore: %s", out)
	}
	if k, _ := os.ReadFile(filepath.Join(target, "backup.key")); string(k) != mustRead(t, ampKey) {
		t.Fatal("the restored data dir did not get the backup key")
	}
	if r := amp(t, "", "restore", file, "--backup-key", ampKey, "--data-dir", target); r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("second restore into the same store: exit %d\n%s", r.code, r.stderr)
	}
	if r := amp(t, "", "backup", filepath.Join(dir, "missing", "x.ampbak")); r.code != 1 {
		t.Fatalf("backup into a missing directory: exit %d\n%s", r.code, r.stderr)
	}
	if r := amp(t, "", "migrate-store", "--from", "bbolt", "--to", "bbolt"); r.code != 2 {
		t.Fatalf("migrate-store bbolt to bbolt: exit %d\n%s", r.code, r.stderr)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRestoreRefusesForgedBackups: a backup re-framed with valid CRCs (here
// with an API token added to its metadata) used to restore; now it is
// refused whether it drops the signature or keeps the original one, and a
// signed backup holding an object the server could not load is refused
// and changes nothing. --allow-unsigned restores an unsigned one
// knowingly.
func TestRestoreRefusesForgedBackups(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "amp.ampbak")
	mustAmp(t, "backup", file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := backup.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	// Re-frame every item, then add an admin token.
	var forged bytes.Buffer
	bw, err := backup.NewWriter(&forged, br.Header)
	if err != nil {
		t.Fatal(err)
	}
	for {
		it, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch it.Kind {
		case backup.KindObject:
			err = bw.Object(it.Key, it.Value)
		case backup.KindRecord:
			err = bw.Record(it.Index, it.Value)
		case backup.KindMeta:
			err = bw.Meta(it.Key, it.Value)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Meta("token/zz-injected", []byte(`{"name":"injected","role":"admin"}`)); err != nil {
		t.Fatal(err)
	}
	endAt := bw.Bytes()
	trailer, err := bw.Close()
	if err != nil {
		t.Fatal(err)
	}
	unsigned := filepath.Join(dir, "unsigned.ampbak")
	os.WriteFile(unsigned, forged.Bytes(), 0o600)
	// The same with the original signature copied into its end frame.
	trailer.KeyID, trailer.Signature = br.Trailer.KeyID, br.Trailer.Signature
	js, _ := json.Marshal(trailer)
	end := append([]byte{'E', 0, 0, 0, 0}, js...)
	binary.BigEndian.PutUint32(end[1:], uint32(len(js)))
	end = binary.BigEndian.AppendUint32(end, crc32.Checksum(end, crc32.MakeTable(crc32.Castagnoli)))
	resigned := filepath.Join(dir, "resigned.ampbak")
	os.WriteFile(resigned, append(forged.Bytes()[:endAt:endAt], end...), 0o600)

	// A signed backup (the server's key) holding an object of no model.
	key, err := backup.ReadKey(ampKey)
	if err != nil {
		t.Fatal(err)
	}
	var odd bytes.Buffer
	bw, _ = backup.NewWriter(&odd, backup.Header{Key: key})
	bw.Object("/aether/v2.1.x/acme/no-such-list/x", []byte("not an object"))
	if _, err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	unloadable := filepath.Join(dir, "unloadable.ampbak")
	os.WriteFile(unloadable, odd.Bytes(), 0o600)

	target := filepath.Join(dir, "target")
	for _, c := range []struct{ file, want string }{
		{unsigned, "the backup is not signed"},
		{resigned, "signature does not match"},
		{unloadable, "the server could not load the backup"},
	} {
		for _, extra := range [][]string{nil, {"--allow-unsigned"}} {
			if c.file == unsigned && extra != nil {
				continue // checked below, into another store
			}
			r := amp(t, "", append([]string{"restore", c.file, "--backup-key", ampKey, "--data-dir", target}, extra...)...)
			if r.code != 1 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "nothing was changed") {
				t.Errorf("restore %s %v: exit %d, want a refusal saying %q\n%s", filepath.Base(c.file), extra, r.code, c.want, r.stderr)
			}
		}
	}
	// Nothing was changed: the genuine backup restores into the same store.
	if out := mustAmp(t, "restore", file, "--backup-key", ampKey, "--data-dir", target); !strings.Contains(out, "restored index") {
		t.Fatalf("amp restore after the refusals: %s", out)
	}
	r := amp(t, "", "restore", unsigned, "--allow-unsigned", "--data-dir", filepath.Join(dir, "knowingly"))
	if r.code != 0 || !strings.Contains(r.stderr, "warning: the backup is not signed") {
		t.Fatalf("restore --allow-unsigned: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRestoreRefusesForgedRecordImages: the restore's check does not decode
// a log record's image again when the same bytes were checked as an
// object under the same key. A signed backup whose records carry those
// very bytes under keys of no model (sim-card renamed sim-cart, same
// length, so the encoding stays valid) is still refused before the store
// is touched.
func TestRestoreRefusesForgedRecordImages(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "amp.ampbak")
	mustAmp(t, "backup", file)
	renamed := 0
	forged := testenv.RewriteBackup(t, file, ampKey, func(it *backup.Item) []backup.Item {
		if it.Kind == backup.KindRecord {
			renamed += bytes.Count(it.Value, []byte("/sim-card/"))
			it.Value = bytes.ReplaceAll(it.Value, []byte("/sim-card/"), []byte("/sim-cart/"))
		}
		return nil
	})
	if renamed == 0 {
		t.Fatal("no log record of the backup changes a SIM card (the test's premise)")
	}
	bad := filepath.Join(dir, "forged.ampbak")
	if err := os.WriteFile(bad, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target")
	r := amp(t, "", "restore", bad, "--backup-key", ampKey, "--data-dir", target)
	if r.code != 1 || !strings.Contains(r.stderr, "could not load") || !strings.Contains(r.stderr, "sim-cart") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Fatalf("restore of records with forged keys: exit %d, want a refusal naming the key\n%s", r.code, r.stderr)
	}
	if out := mustAmp(t, "restore", file, "--backup-key", ampKey, "--data-dir", target); !strings.Contains(out, "restored index") {
		t.Fatalf("amp restore of the genuine backup into the same store: %s", out)
	}
}
