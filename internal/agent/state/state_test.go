package state

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
)

func desiredAt(index uint64, objects int) *wire.Desired {
	d := &wire.Desired{Cluster: "ace-x", Index: index, Full: true}
	for i := range objects {
		spec := json.RawMessage(fmt.Sprintf(`{"labels":{"rack":"r%d","index":"%d"}}`, i, index))
		d.Objects = append(d.Objects, wire.Object{Kind: "node", Name: fmt.Sprintf("node-%d", i), Spec: spec, Digest: wire.ObjectDigest(spec), Index: index})
	}
	d.Digest = wire.StateDigest(d.Objects)
	return d
}

func TestDesiredRoundTripPrivate(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "agent"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Desired(); got != nil || err != nil {
		t.Fatalf("a new directory holds %v, %v; want nothing", got, err)
	}
	want := desiredAt(7, 3)
	if err := d.SaveDesired(want); err != nil {
		t.Fatal(err)
	}
	got, err := d.Desired()
	if err != nil {
		t.Fatal(err)
	}
	if got.Index != 7 || got.Digest != want.Digest || len(got.Objects) != 3 || string(got.Objects[2].Spec) != string(want.Objects[2].Spec) {
		t.Fatalf("read back %+v, want %+v", got, want)
	}
	for _, name := range []string{DesiredFile, ""} {
		fi, err := os.Stat(filepath.Join(d.Path, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "" && fi.Mode().Perm() != 0o700 || name != "" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", fi.Name(), fi.Mode().Perm())
		}
	}
	if err := d.SaveDesired(&wire.Desired{Index: 8}); err == nil {
		t.Error("a delta was cached as if it were a whole state")
	}
}

// A truncated file, a changed byte and garbage are each reported as
// corrupt, naming the file; nothing of them is returned.
func TestCorruptFilesAreDetected(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SaveDesired(desiredAt(3, 2)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(d.Path, DesiredFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(good, []byte(`"rack":"r1"`), []byte(`"rack":"r9"`), 1)
	if bytes.Equal(changed, good) {
		t.Fatal("the test's edit matched nothing")
	}
	for name, b := range map[string][]byte{
		"truncated":    good[:len(good)/2],
		"changed byte": changed,
		"garbage":      []byte("\x00\x00\x00"),
		"empty":        nil,
		"other format": []byte(`{"format":"amp-agent-state/0","sha256":"","payload":{}}`),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := d.Desired()
			var ce *CorruptError
			if !errors.As(err, &ce) || got != nil {
				t.Fatalf("read %v, %v; want a *CorruptError and nothing", got, err)
			}
			if ce.File != path || !strings.Contains(err.Error(), path) {
				t.Errorf("the error %q does not name %s", err, path)
			}
		})
	}
	// The journal too.
	if err := os.WriteFile(filepath.Join(d.Path, JournalFile), []byte(`{"format":"amp-agent-state/1","sha256":"00","payload":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := d.Journal(); !errors.As(err, &ce) {
		t.Fatalf("a journal with a wrong checksum read as %v", err)
	}
}

// TestMain doubles as the writer process of TestKill9LeavesPreviousOrNew
// (when AMP_STATE_TEST_WRITER names a directory): it rewrites the desired
// state with growing indexes and prints each index once written.
func TestMain(m *testing.M) {
	dir := os.Getenv("AMP_STATE_TEST_WRITER")
	if dir == "" {
		os.Exit(m.Run())
	}
	d := &Dir{Path: dir}
	for i := uint64(1); ; i++ {
		if err := d.SaveDesired(desiredAt(i, 50)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
}

// A kill -9 at any moment of a rewrite leaves the previous or the new
// version, whole: the writer is killed mid-stream again and again, and
// each time the file reads back, checksummed, as a version no older than
// the last one the writer reported written. The test insists on having
// killed the writer in the middle of a write several times (a temporary
// file was left behind), or it would prove nothing.
func TestKill9LeavesPreviousOrNew(t *testing.T) {
	dir := t.TempDir()
	d := &Dir{Path: dir}
	midWrite := 0
	round := 0
	for ; round < 80 && (midWrite < 3 || round < 8); round++ {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "AMP_STATE_TEST_WRITER="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var last uint64
		var first, prev time.Time
		// Kill after a different number of writes each round, and after
		// a random part of one write's time, so the kill lands at random
		// points of a write.
		for sc.Scan() {
			prev = time.Now()
			if first.IsZero() {
				first = prev
			}
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("writer: %s", sc.Text())
			}
			last = n
			if n >= uint64(2+round%7) {
				break
			}
		}
		if last > 1 {
			time.Sleep(mrand.N(prev.Sub(first) / time.Duration(last-1)))
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		got, err := d.Desired()
		if err != nil {
			t.Fatalf("round %d: after a kill -9: %v", round, err)
		}
		// Never older than a version the writer reported done; whole: all
		// its objects of its own index.
		if got.Index < last || len(got.Objects) != 50 || got.Digest != wire.StateDigest(got.Objects) {
			t.Fatalf("round %d: read index %d with %d objects, the writer had finished %d", round, got.Index, len(got.Objects), last)
		}
		for _, o := range got.Objects {
			if o.Index != got.Index {
				t.Fatalf("round %d: version %d holds an object of version %d", round, got.Index, o.Index)
			}
		}
		left, _ := filepath.Glob(filepath.Join(dir, ".*.partial"))
		if len(left) > 0 {
			midWrite++
		}
		for _, f := range left {
			os.Remove(f)
		}
	}
	if midWrite < 3 {
		t.Fatalf("in %d rounds the kill landed in the middle of a write only %d times", round, midWrite)
	}
	t.Logf("%d rounds, %d killed mid-write", round, midWrite)
}

// Open removes what a killed write left behind, but not a write that may
// be in progress.
func TestOpenRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	old, fresh := filepath.Join(dir, ".desired.json.1.partial"), filepath.Join(dir, ".journal.json.2.partial")
	for _, f := range []string{old, fresh} {
		if err := os.WriteFile(f, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("a stale temporary file was kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a temporary file of a write that may be in progress was removed")
	}
}

func TestJournalRoundTrip(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j, err := d.Journal()
	if err != nil || j.Outage != nil || len(j.Objects) != 0 {
		t.Fatalf("a new journal: %+v, %v", j, err)
	}
	lost := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	j.Outage = &Outage{LostAt: lost, Restarts: 2, Corrections: 1, LastError: "dial tcp: connection refused"}
	j.Objects = []wire.ObjectStatus{{Kind: "node", Name: "n1", State: wire.StateApplied, Drift: true}}
	j.Applied = wire.Applied{Index: 9, Digest: "abc"}
	if err := d.SaveJournal(j); err != nil {
		t.Fatal(err)
	}
	back, err := d.Journal()
	if err != nil {
		t.Fatal(err)
	}
	if back.Outage == nil || !back.Outage.LostAt.Equal(lost) || back.Outage.Restarts != 2 || back.Applied.Index != 9 || len(back.Objects) != 1 || !back.Objects[0].Drift {
		t.Fatalf("read back %+v", back)
	}
}

// testCA signs client certificates as AMP's agent CA does.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test agent CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: k}
}

// sign signs the CSR's key for cluster, valid from notBefore for life.
func (ca *testCA) sign(t *testing.T, csrPEM, cluster string, notBefore time.Time, life time.Duration) string {
	t.Helper()
	blk, _ := pem.Decode([]byte(csrPEM))
	if blk == nil {
		t.Fatal("no CSR")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cluster}, NotBefore: notBefore, NotAfter: notBefore.Add(life), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func (ca *testCA) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
}

// The key is generated once, 0600, and kept: the certificate for a CSR
// of it is accepted, renewal at two thirds; a certificate of another key
// is refused and not written.
func TestCredentials(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Identity(); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("a new directory: %v, want ErrNotEnrolled", err)
	}
	csr, err := d.CSR("ace-x")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(d.Path, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem: %v %v", fi, err)
	}
	key1, _ := os.ReadFile(filepath.Join(d.Path, KeyFile))
	if _, err := d.CSR("ace-x"); err != nil {
		t.Fatal(err)
	}
	key2, _ := os.ReadFile(filepath.Join(d.Path, KeyFile))
	if !bytes.Equal(key1, key2) {
		t.Fatal("a second CSR replaced the site's key")
	}
	ca := newTestCA(t)
	nb := time.Now().Add(-time.Minute).Truncate(time.Second)
	cert := ca.sign(t, csr, "ace-x", nb, 90*time.Hour)
	if err := d.SaveCredentials(&wire.Credentials{Cluster: "ace-x", Certificate: cert, CA: ca.pem(), ServerCA: ca.pem()}, ""); err != nil {
		t.Fatal(err)
	}
	id, err := d.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if id.Cluster != "ace-x" || id.ServerCA == nil || !id.RenewAt().Equal(nb.Add(60*time.Hour)) {
		t.Fatalf("identity: cluster %q, server CA %v, renew at %s", id.Cluster, id.ServerCA != nil, id.RenewAt())
	}

	other, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	otherCSR, err := other.CSR("ace-x")
	if err != nil {
		t.Fatal(err)
	}
	foreign := ca.sign(t, otherCSR, "ace-x", nb, time.Hour)
	if err := d.SaveCredentials(&wire.Credentials{Certificate: foreign}, ""); err == nil {
		t.Fatal("a certificate of another key was accepted")
	}
	now, _ := os.ReadFile(filepath.Join(d.Path, CertFile))
	if string(now) != cert {
		t.Fatal("a refused certificate replaced cert.pem")
	}
}
