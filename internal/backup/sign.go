package backup

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"
)

// A backup is signed so that a restore can tell it came from an AMP
// server holding the key, unchanged: the CRCs only catch accidents, and a
// re-framed file with valid CRCs can carry any object, record or API token.
// The end frame carries HMAC-SHA256(key, SHA-256(every byte before the end
// frame)) and the key's id. The end frame itself is not covered: its counts
// are checked against what precedes it, which is.
//
// The key is 32 random bytes, hex, in a file kept outside the backups
// (<data-dir>/backup.key by default, or amp serve --backup-key): a backup
// never contains what is needed to forge one.

// KeySize is the length of a backup key in bytes.
const KeySize = 32

var (
	// ErrUnsigned is wrapped by Authenticate's error for a backup with no
	// signature.
	ErrUnsigned = errors.New("the backup is not signed")
	// ErrBadSignature is wrapped for a signature that does not match.
	ErrBadSignature = errors.New("the backup's signature does not match")
)

// KeyID names a key without revealing it: the first 8 bytes of its
// SHA-256, hex.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("amp backup key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

func sign(key, digest []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(digest)
	return hex.EncodeToString(m.Sum(nil))
}

// Authenticate checks the signature of a backup that Verify read whole.
// key nil: no key to check with (an error for a signed backup too, naming
// its key id).
func Authenticate(s Summary, key []byte) error {
	t := s.Trailer
	if t.Signature == "" {
		return ErrUnsigned
	}
	if key == nil {
		return fmt.Errorf("the backup is signed with backup key %s, and no key was given to check it", t.KeyID)
	}
	if s.Digest == nil {
		return errors.New("backup: Authenticate needs the summary VerifyItems returns")
	}
	if id := KeyID(key); id != t.KeyID {
		return fmt.Errorf("%w: it is signed with backup key %s, the key given is %s", ErrBadSignature, t.KeyID, id)
	}
	want, err := hex.DecodeString(t.Signature)
	if err != nil || !hmac.Equal(want, mustHex(sign(key, s.Digest))) {
		return fmt.Errorf("%w: the file was changed after it was written (key %s)", ErrBadSignature, t.KeyID)
	}
	return nil
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

// ReadKey reads a key file.
func ReadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("backup key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("backup key %s: want %d random bytes in hex (%d hex digits) on one line", path, KeySize, 2*KeySize)
	}
	return key, nil
}

// LoadOrCreateKey reads the key file at path, creating it (mode 0600) with
// a new random key if it does not exist.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := ReadKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := WriteKey(path, key); err != nil {
		if errors.Is(err, os.ErrExist) {
			return ReadKey(path) // created meanwhile by another process
		}
		return nil, err
	}
	return key, nil
}

// WriteKey writes key to a new file at path, mode 0600; it fails (wrapping
// os.ErrExist) if the file exists.
func WriteKey(path string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create backup key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("write backup key %s: %w", path, err)
	}
	return nil
}

// digester is the SHA-256 a signature covers, computed on another core:
// the bytes are gathered into blocks, and a full block is hashed while
// the next one is gathered. Hashing every byte of a backup is most of
// what signing costs, and it used to run in the goroutine that writes
// (or reads) the stream.
type digester struct {
	h     hash.Hash
	block []byte      // being gathered
	spare []byte      // the other block, being hashed while busy
	busy  bool        // a block is being hashed
	done  chan []byte // the hashed block, when it is done
}

const digestBlock = 1 << 20

func newDigester() *digester {
	return &digester{h: sha256.New(), block: make([]byte, 0, digestBlock), spare: make([]byte, 0, digestBlock), done: make(chan []byte, 1)}
}

// Write adds p; it never fails.
func (d *digester) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		c := copy(d.block[len(d.block):cap(d.block)], p)
		d.block, p = d.block[:len(d.block)+c], p[c:]
		if len(d.block) == cap(d.block) {
			d.hash()
		}
	}
	return n, nil
}

// hash hands the gathered block to a goroutine, once the previous one is
// done (hashes are sequential), and gathers into the other block.
func (d *digester) hash() {
	d.wait()
	b := d.block
	d.block, d.busy = d.spare[:0], true
	go func() {
		d.h.Write(b)
		d.done <- b // buffered: the goroutine ends even if nobody waits
	}()
}

func (d *digester) wait() {
	if d.busy {
		d.spare, d.busy = <-d.done, false
	}
}

// Sum returns the SHA-256 of everything written.
func (d *digester) Sum() []byte {
	d.wait()
	d.h.Write(d.block)
	d.block = d.block[:0]
	return d.h.Sum(nil)
}
