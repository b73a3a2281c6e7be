package link

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// pki is a CA and client certificates it signs, as AMP's agent CA.
type pki struct {
	ca  *x509.Certificate
	key *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agent CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &pki{ca: c, key: k}
}

func (p *pki) client(t *testing.T, cn string, serial int64) tls.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: leaf}
}

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// amp is an HTTPS server that requires client certificates of p (or
// accepts none, for the public registration route), as AMP's edge routes.
func amp(t *testing.T, p *pki, require bool, h http.HandlerFunc) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientCAs: p.pool(), ClientAuth: tls.VerifyClientCertIfGiven}
	if require {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool
}

var fast = Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond, Attempts: 4}

func newClient(t *testing.T, url string, cert tls.Certificate, pool *x509.CertPool) *Client {
	t.Helper()
	c, err := New(url, "ace-x", cert, pool)
	if err != nil {
		t.Fatal(err)
	}
	c.Backoff = fast
	t.Cleanup(c.Close)
	return c
}

// Transient failures (503, 429) are retried until one succeeds, each
// attempt with the check-in built afresh; the request reaches AMP with
// the cluster's certificate, on its own path.
func TestCheckinRetriesTransientFailures(t *testing.T) {
	p := newPKI(t)
	var calls atomic.Int32
	srv, pool := amp(t, p, true, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Method != http.MethodPut || r.URL.Path != "/edge/v1/clusters/ace-x/status" || r.TLS.PeerCertificates[0].Subject.CommonName != "ace-x" {
			http.Error(w, "wrong request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		switch n {
		case 1:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			var ci wire.Checkin
			// Built afresh for the third attempt.
			if err := json.NewDecoder(r.Body).Decode(&ci); err != nil || ci.Applied.Index != 7 {
				http.Error(w, "body", http.StatusBadRequest)
				return
			}
			json.NewEncoder(w).Encode(wire.CheckinAnswer{Desired: wire.Applied{Index: 6, Digest: "d6"}, Interval: wire.Duration(20 * time.Second)})
		}
	})
	c := newClient(t, srv.URL, p.client(t, "ace-x", 10), pool)
	builds := 0
	ans, err := c.Checkin(context.Background(), func() wire.Checkin {
		builds++
		return wire.Checkin{Applied: wire.Applied{Index: uint64(4 + builds)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || ans.Desired.Index != 6 || time.Duration(ans.Interval) != 20*time.Second {
		t.Fatalf("%d calls, answer %+v", calls.Load(), ans)
	}
}

// A refusal is not retried and comes back with AMP's reason; a server
// down for good is given up on after the policy's attempts.
func TestRefusalsAreNotRetried(t *testing.T) {
	p := newPKI(t)
	var calls atomic.Int32
	srv, pool := amp(t, p, true, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"title":"Forbidden","message":"cluster ace-x may not read cluster ace-y","errors":[{"path":"/edge/v1/clusters/ace-y/desired","reason":"not its cluster"}]}`)
	})
	c := newClient(t, srv.URL, p.client(t, "ace-x", 10), pool)
	_, err := c.Desired(context.Background(), 0, "", 0)
	if !IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "may not read cluster ace-y") || !strings.Contains(err.Error(), "not its cluster") {
		t.Fatalf("error %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("a refusal was sent %d times", calls.Load())
	}

	calls.Store(0)
	down, pool2 := amp(t, p, true, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "down", http.StatusBadGateway)
	})
	c2 := newClient(t, down.URL, p.client(t, "ace-x", 11), pool2)
	if _, err := c2.Checkin(context.Background(), func() wire.Checkin { return wire.Checkin{} }); !IsStatus(err, http.StatusBadGateway) {
		t.Fatalf("error %v", err)
	}
	if calls.Load() != int32(fast.Attempts) {
		t.Fatalf("%d calls, want the policy's %d attempts", calls.Load(), fast.Attempts)
	}
}

// Each delay is random within a cap that doubles from Initial up to Max.
func TestBackoffDelays(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: 1 * time.Second, Attempts: 10}
	for n, ceil := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		ceil *= time.Millisecond
		seen := map[time.Duration]bool{}
		for range 200 {
			d := b.Delay(n)
			if d < 0 || d > ceil {
				t.Fatalf("delay %d: %v, outside [0, %v]", n, d, ceil)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Fatalf("delay %d: only %d distinct values in 200: no jitter", n, len(seen))
		}
	}
}

// The long-poll: the digest held goes as If-None-Match and 304 means
// unchanged (nil); a change comes back as the delta AMP sent.
func TestDesiredNotModifiedAndDelta(t *testing.T) {
	p := newPKI(t)
	spec := json.RawMessage(`{"labels":{"env":"prod"}}`)
	srv, pool := amp(t, p, true, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("wait") != "55s" {
			http.Error(w, "wait "+q.Get("wait"), http.StatusBadRequest)
			return
		}
		if r.Header.Get("If-None-Match") == `"d7"` && q.Get("since") == "7" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		json.NewEncoder(w).Encode(wire.Desired{Cluster: "ace-x", Index: 9, Digest: "d9", Objects: []wire.Object{{Kind: "node", Name: "n1", Spec: spec, Digest: wire.ObjectDigest(spec), Index: 9}}, Removed: []wire.Ref{{Kind: "namespace", Name: "old"}}})
	})
	c := newClient(t, srv.URL, p.client(t, "ace-x", 10), pool)
	d, err := c.Desired(context.Background(), 7, "d7", 55*time.Second)
	if err != nil || d != nil {
		t.Fatalf("unchanged: %+v, %v; want nil, nil", d, err)
	}
	d, err = c.Desired(context.Background(), 7, "d6", 55*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d.Full || d.Index != 9 || len(d.Objects) != 1 || string(d.Objects[0].Spec) != string(spec) || len(d.Removed) != 1 {
		t.Fatalf("delta %+v", d)
	}
}

// After a renewal the client presents the new certificate from the next
// connection on.
func TestRenewThenNewCertificate(t *testing.T) {
	p := newPKI(t)
	var mu sync.Mutex
	var serials []string
	hold := make(chan struct{})
	polling := make(chan struct{}, 1)
	srv, pool := amp(t, p, true, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		serials = append(serials, r.TLS.PeerCertificates[0].SerialNumber.String())
		mu.Unlock()
		switch r.URL.Path {
		case "/edge/v1/clusters/ace-x/certificate":
			var rr wire.RenewRequest
			if err := json.NewDecoder(r.Body).Decode(&rr); err != nil || !strings.HasPrefix(rr.CSR, "-----BEGIN CERTIFICATE REQUEST") {
				http.Error(w, "csr", http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(wire.Credentials{Cluster: "ace-x", Serial: "21"})
		case "/edge/v1/clusters/ace-x/desired":
			if r.URL.Query().Get("since") == "1" {
				polling <- struct{}{}
				<-hold
			}
			w.WriteHeader(http.StatusNotModified)
		default:
			json.NewEncoder(w).Encode(wire.CheckinAnswer{})
		}
	})
	c := newClient(t, srv.URL, p.client(t, "ace-x", 20), pool)
	// A long-poll is open across the renewal.
	polled := make(chan error, 1)
	go func() {
		_, err := c.Desired(context.Background(), 1, "d", time.Minute) // held by AMP
		polled <- err
	}()
	<-polling
	cr, err := c.Renew(context.Background(), "-----BEGIN CERTIFICATE REQUEST-----\n")
	if err != nil || cr.Serial != "21" {
		t.Fatalf("renew: %+v, %v", cr, err)
	}
	c.SetCertificate(p.client(t, "ace-x", 21))
	if _, err := c.Checkin(context.Background(), func() wire.Checkin { return wire.Checkin{} }); err != nil {
		t.Fatal(err)
	}
	close(hold)
	if err := <-polled; err != nil {
		t.Fatal(err)
	}
	// The old certificate's connection was closed when the poll open
	// across the renewal ended: the next poll presents the new one.
	if _, err := c.Desired(context.Background(), 2, "d", time.Minute); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"20", "20", "21", "21"} // poll, renew, check-in, poll
	if !slices.Equal(serials, want) {
		t.Fatalf("serials presented: %v, want %v", serials, want)
	}
}

// Enrolment presents no certificate, sends the token and the CSR once,
// and a refusal (a token used twice) comes back with its reason, not
// retried: the token would not work a second time anyway.
func TestRegister(t *testing.T) {
	p := newPKI(t)
	var calls atomic.Int32
	srv, pool := amp(t, p, false, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var rr wire.RegisterRequest
		if r.URL.Path != "/clusters/register" || len(r.TLS.PeerCertificates) != 0 || json.NewDecoder(r.Body).Decode(&rr) != nil {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		if rr.Token != "ampreg_good" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"the registration token was used already","errors":[{"path":"/token","reason":"the registration token was used already"}]}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(wire.Credentials{Cluster: rr.Cluster, Certificate: "CERT", Serial: "1"})
	})
	cr, err := Register(context.Background(), srv.URL, pool, wire.RegisterRequest{Token: "ampreg_good", Cluster: "ace-x", CSR: "CSR"}, fast, "test")
	if err != nil || cr.Cluster != "ace-x" || cr.Certificate != "CERT" {
		t.Fatalf("register: %+v, %v", cr, err)
	}
	calls.Store(0)
	_, err = Register(context.Background(), srv.URL, pool, wire.RegisterRequest{Token: "ampreg_used", CSR: "CSR"}, fast, "test")
	if !IsStatus(err, http.StatusUnauthorized) || !strings.Contains(err.Error(), "used already") || calls.Load() != 1 {
		t.Fatalf("a used token: %v after %d calls", err, calls.Load())
	}
	if strings.Contains(err.Error(), "ampreg_used") {
		t.Fatalf("the error shows the token: %v", err)
	}
}

// AMP's CA is pinned: a server whose certificate another CA signed is
// refused at the handshake, before any request is sent.
func TestServerCAPinned(t *testing.T) {
	p := newPKI(t)
	var calls atomic.Int32
	srv, _ := amp(t, p, false, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	c := newClient(t, srv.URL, p.client(t, "ace-x", 10), p.pool()) // p's CA did not sign the server
	_, err := c.Checkin(context.Background(), func() wire.Checkin { return wire.Checkin{} })
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a server of another CA: %v", err)
	}
	if calls.Load() != 0 {
		t.Fatal("the request reached a server the client must not trust")
	}
	if _, err := New("http://amp:8181", "ace-x", tls.Certificate{}, nil); err == nil {
		t.Fatal("a plain-HTTP server URL was accepted")
	}
}

// A chart comes as it is (not JSON), from the cluster's chart route, and
// must have the digest asked for; a 404 is a refusal, not retried.
func TestChart(t *testing.T) {
	p := newPKI(t)
	archive := []byte("\x1f\x8b\x08 a chart archive")
	sum := sha256.Sum256(archive)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	calls := 0
	srv, pool := amp(t, p, true, func(w http.ResponseWriter, r *http.Request) {
		calls++
		switch r.URL.Path {
		case "/edge/v1/clusters/ace-x/charts/" + digest:
			w.Header().Set("Content-Type", "application/gzip")
			w.Write(archive)
		case "/edge/v1/clusters/ace-x/charts/sha256:" + strings.Repeat("0", 64):
			w.Write([]byte("something else"))
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"title":"Not Found","errors":[{"path":"` + r.URL.Path + `","reason":"no such chart"}]}`))
		}
	})
	c := newClient(t, srv.URL, p.client(t, "ace-x", 10), pool)
	b, err := c.Chart(context.Background(), digest)
	if err != nil || string(b) != string(archive) {
		t.Fatalf("chart: %q, %v", b, err)
	}
	if _, err := c.Chart(context.Background(), "sha256:"+strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "has digest") {
		t.Fatalf("another archive: %v", err)
	}
	calls = 0
	if _, err := c.Chart(context.Background(), "sha256:"+strings.Repeat("1", 64)); !IsStatus(err, http.StatusNotFound) || calls != 1 {
		t.Fatalf("not named: %v after %d calls", err, calls)
	}
}
