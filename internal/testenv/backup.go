package testenv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/amp-edge/amp/internal/backup"
)

// RewriteBackup forges a backup for a test: it reads the backup in file,
// passes every item to edit, which may change it in place and returns
// items to write before it, and signs the result with the key in keyFile,
// as a holder of that key could.
func RewriteBackup(t testing.TB, file, keyFile string, edit func(it *backup.Item) (before []backup.Item)) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := backup.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	key, err := backup.ReadKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	h := br.Header
	h.Key = key
	var out bytes.Buffer
	bw, err := backup.NewWriter(&out, h)
	if err != nil {
		t.Fatal(err)
	}
	write := func(it backup.Item) error {
		switch it.Kind {
		case backup.KindObject:
			return bw.Object(it.Key, it.Value)
		case backup.KindRecord:
			return bw.Record(it.Index, it.Value)
		case backup.KindMeta:
			return bw.Meta(it.Key, it.Value)
		}
		return nil
	}
	for {
		it, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		for _, extra := range edit(&it) {
			if err := write(extra); err != nil {
				t.Fatal(err)
			}
		}
		if err := write(it); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
