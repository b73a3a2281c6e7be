// Package state is the edge agent's state directory (docs/agent.md, "The
// agent at the site"): its credentials, the desired state it last
// accepted from AMP and the journal of what it did. The agent keeps
// enforcing what this directory holds while AMP is unreachable, across
// its own restarts, so every file is replaced atomically (a temporary
// file in the same directory, fsync, rename, fsync of the directory: a
// kill -9 at any point leaves the previous or the new version) and the
// JSON files are checksummed (an envelope with the SHA-256 of the
// payload), so a corrupt or truncated file is detected and reported,
// never half-read.
//
// It imports the standard library and internal/edge/wire only.
package state

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// DefaultDir is where the agent keeps its state unless told otherwise.
const DefaultDir = "/var/lib/amp-agent"

// The files of the state directory.
const (
	KeyFile      = "key.pem"       // the private key, generated here, never sent anywhere (0600)
	CertFile     = "cert.pem"      // the cluster's client certificate AMP signed
	CAFile       = "ca.pem"        // the CA that signs agent certificates
	ServerCAFile = "server-ca.pem" // the CA bundle pinned for AMP's serving certificate
	ConfigFile   = "agent.json"    // Config
	DesiredFile  = "desired.json"  // the cached desired state (wire.Desired, full)
	JournalFile  = "journal.json"  // Journal
)

// format names the envelope's layout, so a later agent can tell it apart.
const format = "amp-agent-state/1"

// Dir is a state directory.
type Dir struct{ Path string }

// Open makes sure the directory exists (0700: it holds a private key) and
// returns it.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("the state directory: empty path")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("the state directory %s: %w", path, err)
	}
	// A kill -9 in the middle of a write leaves its temporary file
	// behind; one older than a minute is no write in progress.
	stale, _ := filepath.Glob(filepath.Join(path, ".*.partial"))
	for _, f := range stale {
		if fi, err := os.Stat(f); err == nil && time.Since(fi.ModTime()) > time.Minute {
			os.Remove(f)
		}
	}
	return &Dir{Path: path}, nil
}

func (d *Dir) file(name string) string { return filepath.Join(d.Path, name) }

// CorruptError is a state file that exists but cannot be trusted: it is
// truncated, its checksum does not match, or it does not parse.
type CorruptError struct {
	File   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s is corrupt: %s", e.File, e.Reason)
}

// envelope is how every JSON state file is written: the payload and the
// SHA-256 of its bytes exactly as written.
type envelope struct {
	Format  string          `json:"format"`
	SHA256  string          `json:"sha256"`
	Payload json.RawMessage `json:"payload"`
}

// writeJSON writes v in a checksummed envelope, atomically, 0600.
func (d *Dir) writeJSON(name string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	sum := sha256.Sum256(payload)
	// Compact, so the payload's bytes in the file are exactly the ones
	// summed (RawMessage keeps them verbatim when read back).
	b, err := json.Marshal(envelope{Format: format, SHA256: hex.EncodeToString(sum[:]), Payload: payload})
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return WriteFile(d.file(name), append(b, '\n'), 0o600)
}

// readJSON reads a checksummed file into v. A missing file is an error
// that wraps fs.ErrNotExist; any other defect is a *CorruptError, and v is
// then left untouched.
func (d *Dir) readJSON(name string, v any) error {
	path := d.file(name)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return &CorruptError{File: path, Reason: "not a complete state file (" + err.Error() + ")"}
	}
	if env.Format != format {
		return &CorruptError{File: path, Reason: fmt.Sprintf("format %q, want %q", env.Format, format)}
	}
	sum := sha256.Sum256(env.Payload)
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return &CorruptError{File: path, Reason: "the SHA-256 of its payload does not match the one recorded"}
	}
	if err := json.Unmarshal(env.Payload, v); err != nil {
		return &CorruptError{File: path, Reason: "payload: " + err.Error()}
	}
	return nil
}

// WriteFile replaces path with b atomically: a temporary file in the same
// directory, written with mode, synced, renamed over path, and the
// directory synced so the rename itself survives a crash.
func WriteFile(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	df, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: sync the directory: %w", path, err)
	}
	defer df.Close()
	if err := df.Sync(); err != nil {
		return fmt.Errorf("write %s: sync the directory: %w", path, err)
	}
	return nil
}

// Config is agent.json: where AMP is and which cluster the agent enrolled
// as (the certificate's CN is authoritative; this is for people).
type Config struct {
	Server     string        `json:"server"`
	Cluster    string        `json:"cluster"`
	Interval   wire.Duration `json:"checkin-interval,omitempty"`
	EnrolledAt time.Time     `json:"enrolled-at"`
}

// Config reads agent.json.
func (d *Dir) Config() (*Config, error) {
	var c Config
	if err := d.readJSON(ConfigFile, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// SaveConfig writes agent.json.
func (d *Dir) SaveConfig(c *Config) error { return d.writeJSON(ConfigFile, c) }

// Desired reads the cached desired state; (nil, nil) when there is none
// yet (a new agent).
func (d *Dir) Desired() (*wire.Desired, error) {
	var w wire.Desired
	if err := d.readJSON(DesiredFile, &w); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return &w, nil
}

// SaveDesired caches a whole desired state (never a delta).
func (d *Dir) SaveDesired(w *wire.Desired) error {
	if !w.Full {
		return errors.New("cache a whole desired state, not a delta")
	}
	return d.writeJSON(DesiredFile, w)
}

// Journal is journal.json: what the agent did with the state it holds.
type Journal struct {
	// Applied is the desired state the agent holds and enforces.
	Applied wire.Applied `json:"applied"`
	// Objects is the outcome at the site of each object of Applied.
	Objects []wire.ObjectStatus `json:"objects"`
	// Refused is the last desired state refused as invalid, while the
	// agent keeps enforcing Applied (it does not ask for the refused one
	// again until it changes).
	Refused *Refusal `json:"refused,omitempty"`
	// Outage is the current outage; nil while the link is up.
	Outage *Outage `json:"outage,omitempty"`
	// Corrections counts drift corrections since the agent enrolled.
	Corrections int `json:"corrections"`
	// LastCheckin is the last successful check-in.
	LastCheckin time.Time `json:"last-checkin,omitzero"`
	// LastError is the last error of the link or of an apply.
	LastError string `json:"last-error,omitempty"`
}

// Refusal is a desired state the agent refused before acting: its index,
// digest and the failed status of each invalid object.
type Refusal struct {
	Index    uint64              `json:"index"`
	Digest   string              `json:"digest"`
	Problems []wire.ObjectStatus `json:"problems"`
}

// Outage is the link's current outage.
type Outage struct {
	LostAt      time.Time `json:"lost-at"`
	Restarts    int       `json:"restarts"`
	Corrections int       `json:"corrections"`
	LastError   string    `json:"last-error,omitempty"`
}

// Journal reads journal.json; an empty journal when there is none yet.
func (d *Dir) Journal() (*Journal, error) {
	var j Journal
	if err := d.readJSON(JournalFile, &j); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &Journal{}, nil
		}
		return nil, err
	}
	return &j, nil
}

// SaveJournal writes journal.json.
func (d *Dir) SaveJournal(j *Journal) error { return d.writeJSON(JournalFile, j) }

// Key returns the site's private key, generating it (ECDSA P-256) and
// writing key.pem (0600) when there is none. The key never leaves the
// site: only certificate requests signed with it do. Keeping it across
// re-enrolments and renewals means cert.pem is the only file that changes
// when a certificate does, so a crash never leaves a key and a
// certificate that do not belong together.
func (d *Dir) Key() (crypto.Signer, error) {
	path := d.file(KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, &CorruptError{File: path, Reason: "no PEM PRIVATE KEY block"}
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, &CorruptError{File: path, Reason: err.Error()}
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, &CorruptError{File: path, Reason: fmt.Sprintf("a %T cannot sign", k)}
	}
	return s, nil
}

// CSR is a PEM certificate request for the site's key (generated when
// missing), asking for CN = cluster (AMP sets the subject itself anyway).
func (d *Dir) CSR(cluster string) (string, error) {
	k, err := d.Key()
	if err != nil {
		return "", err
	}
	tmpl := &x509.CertificateRequest{}
	tmpl.Subject.CommonName = cluster
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	if err != nil {
		return "", fmt.Errorf("certificate request: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// SaveCredentials writes what AMP answered an enrolment or a renewal
// with: the CAs first, the certificate last (it is the commit point: the
// key it belongs to is already on disk). serverCA is the bundle to pin
// when AMP sent none (the operator's --server-ca at enrolment); empty
// keeps the file as it is.
func (d *Dir) SaveCredentials(c *wire.Credentials, serverCA string) error {
	if c.ServerCA != "" {
		serverCA = c.ServerCA
	}
	if serverCA != "" {
		if err := WriteFile(d.file(ServerCAFile), []byte(serverCA), 0o600); err != nil {
			return err
		}
	}
	if c.CA != "" {
		if err := WriteFile(d.file(CAFile), []byte(c.CA), 0o600); err != nil {
			return err
		}
	}
	k, err := d.Key()
	if err != nil {
		return err
	}
	if _, err := tls.X509KeyPair([]byte(c.Certificate), keyPEM(k)); err != nil {
		return fmt.Errorf("the certificate AMP signed does not belong to this site's key: %w", err)
	}
	return WriteFile(d.file(CertFile), []byte(c.Certificate), 0o600)
}

func keyPEM(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Identity is the enrolment on disk: the certificate with its key, and
// the CA pool pinned for AMP (nil: the system's roots).
type Identity struct {
	Cert     tls.Certificate
	Leaf     *x509.Certificate
	Cluster  string // the certificate's CN
	ServerCA *x509.CertPool
	// ModTime is cert.pem's as it was read: a running agent compares it
	// with CertModTime to pick up an enrolment made meanwhile.
	ModTime time.Time
}

// CertModTime is when cert.pem was last replaced.
func (d *Dir) CertModTime() (time.Time, error) {
	fi, err := os.Stat(d.file(CertFile))
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// RenewAt is when the certificate should be renewed: two thirds into its
// lifetime, as AMP signs it.
func (id *Identity) RenewAt() time.Time {
	life := id.Leaf.NotAfter.Sub(id.Leaf.NotBefore)
	return id.Leaf.NotBefore.Add(life * 2 / 3)
}

// ErrNotEnrolled is returned by Identity when the directory holds no
// certificate: `amp agent register` has not run.
var ErrNotEnrolled = errors.New("not enrolled: no certificate (run amp agent register)")

// Identity loads the certificate, its key and the pinned server CA.
func (d *Dir) Identity() (*Identity, error) {
	mod, _ := d.CertModTime()
	certPEM, err := os.ReadFile(d.file(CertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, err
	}
	k, err := d.Key()
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM(k))
	if err != nil {
		return nil, &CorruptError{File: d.file(CertFile), Reason: "does not hold a certificate of " + d.file(KeyFile) + ": " + err.Error()}
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, &CorruptError{File: d.file(CertFile), Reason: err.Error()}
	}
	id := &Identity{Cert: cert, Leaf: leaf, Cluster: leaf.Subject.CommonName, ModTime: mod}
	b, err := os.ReadFile(d.file(ServerCAFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, &CorruptError{File: d.file(ServerCAFile), Reason: "holds no PEM certificate"}
		}
		id.ServerCA = pool
	}
	return id, nil
}
