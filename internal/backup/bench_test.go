package backup

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchBackup writes a backup of 100,000 objects of 200 bytes (about
// 21 MiB) to w, signed if key is set.
func benchBackup(b *testing.B, w io.Writer, key []byte) {
	bw, err := NewWriter(w, Header{Key: key})
	if err != nil {
		b.Fatal(err)
	}
	val := bytes.Repeat([]byte("v"), 200)
	for i := 0; i < 100_000; i++ {
		if err := bw.Object(fmt.Sprintf("aether/2.1.x/acme/site/s1/sim-card/sim-%08d", i), val); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := bw.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWrite is what the server spends writing a backup, unsigned (the
// baseline) and signed: the signature's SHA-256 over every byte.
func BenchmarkWrite(b *testing.B) {
	for _, c := range []struct {
		name string
		key  []byte
	}{{"unsigned", nil}, {"signed", bytes.Repeat([]byte{1}, KeySize)}} {
		b.Run(c.name, func(b *testing.B) {
			var n countWriter
			benchBackup(b, &n, c.key)
			b.SetBytes(int64(n))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				benchBackup(b, io.Discard, c.key)
			}
		})
	}
}

// BenchmarkVerify is the check of every byte amp backup makes (Verify, the
// baseline) and the one amp restore makes before writing (VerifyItems,
// which also hashes what the signature covers).
func BenchmarkVerify(b *testing.B) {
	var buf bytes.Buffer
	benchBackup(b, &buf, bytes.Repeat([]byte{1}, KeySize))
	data := buf.Bytes()
	for _, c := range []struct {
		name string
		fn   func(io.Reader) (Summary, error)
	}{{"crc-only", Verify}, {"with-digest", func(r io.Reader) (Summary, error) { return VerifyItems(r, nil) }}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				if _, err := c.fn(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
