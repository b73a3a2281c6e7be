package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRestoreCLI: amp backup writes a file amp restore accepts; a
// corrupt or truncated file is refused before the store is touched (the
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
	if out := mustAmp(t, "restore", file, "--data-dir", target); !strings.Contains(out, "restored index") {
		t.Fatalf("amp restore: %s", out)
	}
	if r := amp(t, "", "restore", file, "--data-dir", target); r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("second restore into the same store: exit %d\n%s", r.code, r.stderr)
	}
	if r := amp(t, "", "backup", filepath.Join(dir, "missing", "x.ampbak")); r.code != 1 {
		t.Fatalf("backup into a missing directory: exit %d\n%s", r.code, r.stderr)
	}
	if r := amp(t, "", "migrate-store", "--from", "bbolt", "--to", "bbolt"); r.code != 2 {
		t.Fatalf("migrate-store bbolt to bbolt: exit %d\n%s", r.code, r.stderr)
	}
}
