package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/agent/link"
	"github.com/amp-edge/amp/internal/agent/state"
	"github.com/amp-edge/amp/internal/edge/wire"
)

// labels is an in-memory site of kind "node" whose spec is a label map:
// what a person changes by hand there is seen by its watch, as the
// Kubernetes applier's informers see it.
type labels struct {
	mu      sync.Mutex
	nodes   map[string]map[string]string
	changed func(string)
	watched chan struct{}
}

func newLabels() *labels {
	return &labels{nodes: map[string]map[string]string{}, watched: make(chan struct{})}
}

func (l *labels) Validate(name string, spec json.RawMessage) error {
	var m map[string]string
	return json.Unmarshal(spec, &m)
}

func (l *labels) Apply(_ context.Context, name string, spec json.RawMessage) ([]string, error) {
	var want map[string]string
	if err := json.Unmarshal(spec, &want); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if maps.Equal(l.nodes[name], want) {
		return nil, nil
	}
	l.nodes[name] = want
	return []string{fmt.Sprintf("labels %v", want)}, nil
}

func (l *labels) Prune(_ context.Context, keep map[string]bool) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gone []string
	for n := range l.nodes {
		if !keep[n] {
			delete(l.nodes, n)
			gone = append(gone, n)
		}
	}
	return gone, nil
}

func (l *labels) Watch(ctx context.Context, changed func(string)) error {
	l.mu.Lock()
	l.changed = changed
	l.mu.Unlock()
	close(l.watched)
	return nil
}

// byHand changes a node's label at the site and lets the watch see it.
func (l *labels) byHand(node, k, v string) {
	l.mu.Lock()
	m := maps.Clone(l.nodes[node])
	m[k] = v
	l.nodes[node] = m
	changed := l.changed
	l.mu.Unlock()
	changed(node)
}

func (l *labels) get(node, k string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nodes[node][k]
}

func desired(index uint64, specs map[string]string) *wire.Desired {
	d := &wire.Desired{Cluster: "ace-x", Index: index, Full: true}
	for name, spec := range specs {
		d.Objects = append(d.Objects, wire.Object{Kind: "node", Name: name, Spec: json.RawMessage(spec), Digest: wire.ObjectDigest(json.RawMessage(spec)), Index: index})
	}
	d.Digest = wire.StateDigest(d.Objects)
	return d
}

// testCA signs the agent's certificates, as AMP's agent CA does.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T, notBefore, notAfter time.Time) *testCA {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agent CA"}, NotBefore: notBefore, NotAfter: notAfter.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: k, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// sign signs a CSR for ace-x with the given serial and validity.
func (ca *testCA) sign(t *testing.T, csrPEM string, serial int64, notBefore, notAfter time.Time) string {
	t.Helper()
	blk, _ := pem.Decode([]byte(csrPEM))
	if blk == nil {
		t.Fatal("no CSR")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "ace-x"}, NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// enrolWith writes credentials for ace-x valid from notBefore to notAfter
// and an agent.json naming server, whose serving CA is serverCA.
func enrolWith(t *testing.T, d *state.Dir, server, serverCA string, notBefore, notAfter time.Time) *testCA {
	t.Helper()
	ca := newTestCA(t, notBefore, notAfter)
	csr, err := d.CSR("ace-x")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SaveCredentials(&wire.Credentials{Cluster: "ace-x", Certificate: ca.sign(t, csr, 2, notBefore, notAfter), CA: ca.pem, ServerCA: serverCA}, ""); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveConfig(&state.Config{Server: server, Cluster: "ace-x"}); err != nil {
		t.Fatal(err)
	}
	return ca
}

// enrol enrols ace-x with an AMP that is not there (a closed port).
func enrol(t *testing.T, d *state.Dir, notBefore, notAfter time.Time) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ca := newTestCA(t, notBefore, notAfter)
	enrolWith(t, d, "https://"+addr, ca.pem, notBefore, notAfter)
}

// eventually waits for cond, failing after a generous limit (what it
// waits for is an outcome, not a duration).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, d *state.Dir, site *labels) *running {
	t.Helper()
	reg := apply.NewRegistry()
	reg.Register("node", site)
	a, err := New(Options{
		Dir: d, Registry: reg, Interval: 20 * time.Millisecond, Wait: time.Second,
		Backoff: link.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 1},
		Log:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
	r.done <- nil // stop is idempotent
}

func journal(t *testing.T, d *state.Dir) *state.Journal {
	t.Helper()
	j, err := d.Journal()
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// With AMP unreachable from the start, the agent enforces its cached
// state at once, corrects a change made by hand (drift, counted in the
// outage), and after a restart still does, the restart counted.
func TestOfflineAutonomy(t *testing.T) {
	d, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	enrol(t, d, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err := d.SaveDesired(desired(4, map[string]string{"n1": `{"env":"prod"}`, "n2": `{"env":"lab"}`})); err != nil {
		t.Fatal(err)
	}
	site := newLabels()
	site.nodes["stale"] = map[string]string{"env": "old"} // no longer desired
	r := start(t, d, site)
	eventually(t, "the cached state enforced", func() bool {
		return site.get("n1", "env") == "prod" && site.get("n2", "env") == "lab" && site.get("stale", "env") == ""
	})
	eventually(t, "the outage recorded", func() bool { j := journal(t, d); return j.Outage != nil && j.Outage.LastError != "" })
	<-site.watched
	site.byHand("n1", "env", "staging")
	eventually(t, "the hand change corrected", func() bool { return site.get("n1", "env") == "prod" })
	eventually(t, "the correction journalled", func() bool {
		j := journal(t, d)
		return j.Corrections == 1 && j.Outage.Corrections == 1
	})
	j := journal(t, d)
	var n1 wire.ObjectStatus
	for _, o := range j.Objects {
		if o.Name == "n1" {
			n1 = o
		}
	}
	if !n1.Drift || n1.State != wire.StateApplied || j.Applied.Index != 4 {
		t.Fatalf("journal: applied %+v, n1 %+v", j.Applied, n1)
	}
	r.stop()

	// Restarted, still cut off: a site changed while the agent was down
	// is restored from the cache.
	site2 := newLabels()
	site2.nodes["n1"] = map[string]string{"env": "by-hand"}
	site2.nodes["n2"] = map[string]string{"env": "lab"}
	start(t, d, site2)
	eventually(t, "the cache enforced after a restart", func() bool { return site2.get("n1", "env") == "prod" && site2.get("n2", "env") == "lab" })
	eventually(t, "the restart and the correction counted", func() bool {
		j := journal(t, d)
		return j.Outage != nil && j.Outage.Restarts == 1 && j.Outage.Corrections == 2
	})
}

// An expired certificate: AMP is not called (the outage's cause is the
// expiry, saying how to recover), the cache is enforced all the same; a
// new enrolment is picked up by the running agent.
func TestExpiredCertificateKeepsEnforcing(t *testing.T) {
	d, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	enrol(t, d, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	if err := d.SaveDesired(desired(2, map[string]string{"n1": `{"env":"prod"}`})); err != nil {
		t.Fatal(err)
	}
	site := newLabels()
	start(t, d, site)
	eventually(t, "the cached state enforced", func() bool { return site.get("n1", "env") == "prod" })
	eventually(t, "the expiry recorded as the outage's cause", func() bool {
		j := journal(t, d)
		return j.Outage != nil && strings.Contains(j.Outage.LastError, "expired") && strings.Contains(j.Outage.LastError, "amp agent register")
	})
	// Enrolled again (amp agent register with a new token): the running
	// agent takes the new certificate and calls AMP again (which is still
	// out of reach, so the outage's cause changes).
	enrol(t, d, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	eventually(t, "the new certificate used", func() bool {
		j := journal(t, d)
		return j.Outage != nil && !strings.Contains(j.Outage.LastError, "expired")
	})
	if site.get("n1", "env") != "prod" {
		t.Fatal("the cached state was lost")
	}
}

// A delta is merged onto the held state and checked against the whole
// state's digest: one that does not add up makes the agent ask for the
// whole state; an invalid state is refused whole, the previous kept, and
// not asked for again until it changes.
func TestAcceptDeltaDigestAndRefusal(t *testing.T) {
	d, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	held := desired(4, map[string]string{"n1": `{"env":"prod"}`, "n2": `{"env":"lab"}`})
	if err := d.SaveDesired(held); err != nil {
		t.Fatal(err)
	}
	reg := apply.NewRegistry()
	reg.Register("node", newLabels())
	a, err := New(Options{Dir: d, Registry: reg, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if since, etag := a.pollFrom(); since != 4 || etag != held.Digest {
		t.Fatalf("polls from %d %q", since, etag)
	}
	next := desired(5, map[string]string{"n1": `{"env":"prod"}`, "n3": `{"env":"edge"}`})
	var n3 wire.Object
	for _, o := range next.Objects {
		if o.Name == "n3" {
			n3 = o
		}
	}
	a.accept(context.Background(), &wire.Desired{Index: 5, Digest: "not the digest", Objects: []wire.Object{n3}, Removed: []wire.Ref{{Kind: "node", Name: "n2"}}})
	if since, etag := a.pollFrom(); since != 0 || etag != "" {
		t.Fatalf("after a delta that did not add up, polls from %d %q; want the whole state", since, etag)
	}
	a.accept(context.Background(), &wire.Desired{Index: 5, Digest: next.Digest, Objects: []wire.Object{n3}, Removed: []wire.Ref{{Kind: "node", Name: "n2"}}})
	cached, err := d.Desired()
	if err != nil || cached.Index != 5 || cached.Digest != next.Digest || len(cached.Objects) != 2 || !cached.Full {
		t.Fatalf("cached %+v, %v", cached, err)
	}
	if since, etag := a.pollFrom(); since != 5 || etag != next.Digest {
		t.Fatalf("polls from %d %q", since, etag)
	}

	bad := json.RawMessage(`{"env":["not","a","string"]}`)
	badObj := wire.Object{Kind: "node", Name: "n1", Spec: bad, Digest: wire.ObjectDigest(bad), Index: 6}
	badState := mergeDelta(cached.Objects, &wire.Desired{Objects: []wire.Object{badObj}})
	a.accept(context.Background(), &wire.Desired{Index: 6, Digest: wire.StateDigest(badState), Objects: []wire.Object{badObj}})
	if c, _ := d.Desired(); c.Index != 5 {
		t.Fatalf("a refused state was cached: index %d", c.Index)
	}
	j := journal(t, d)
	if j.Refused == nil || j.Refused.Index != 6 || len(j.Refused.Problems) != 1 || j.Refused.Problems[0].Name != "n1" || j.Applied.Index != 5 {
		t.Fatalf("journal: refused %+v, applied %+v", j.Refused, j.Applied)
	}
	if since, etag := a.pollFrom(); since != 5 || etag != wire.StateDigest(badState) {
		t.Fatalf("after a refusal polls from %d %q; want 5 and the refused digest", since, etag)
	}
	a.mu.Lock()
	report := a.reportLocked(true)
	a.mu.Unlock()
	if len(report) != 2 || report[0].Name != "n1" || report[0].State != wire.StateFailed {
		t.Fatalf("the check-in reports %+v; want n1 failed (refused) and n3", report)
	}
}

// A check-in's texts stay within what AMP accepts, cut on a character.
func TestClip(t *testing.T) {
	long := strings.Repeat("é", maxText) // 2 bytes each
	c := clip(long)
	if len(c) > maxText || !utf8.ValidString(c) || !strings.HasSuffix(c, "…") {
		t.Fatalf("clipped to %d bytes, valid %v", len(c), utf8.ValidString(c))
	}
	if clip("short") != "short" {
		t.Fatal("a short text was changed")
	}
}
