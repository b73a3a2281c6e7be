package e2e

// The edge agent's identity (issue 12, parts 1 and 6), through the real
// binary: enrolment with a registration token and a CSR, the certificate
// used on the link's routes, renewal, revocation, a deleted cluster, the
// refusals and their reasons, a stolen certificate against every route,
// and two replicas on one etcd sharing the CA and the allow-list.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/api/compat"
	// The layers the built-in sets name, registered as amp serve has them.
	_ "github.com/amp-edge/amp/internal/aether/rocapi"
	_ "github.com/amp-edge/amp/internal/edge/edgeapi"
	"github.com/amp-edge/amp/internal/edge/wire"
	_ "github.com/amp-edge/amp/internal/fleet/fleetapi"
	_ "github.com/amp-edge/amp/internal/fleet/sealapi"
	_ "github.com/amp-edge/amp/internal/monitor/monitorapi"
	_ "github.com/amp-edge/amp/internal/provision/provisionapi"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
	"github.com/amp-edge/amp/models"
)

// aceY is a second declared cluster.
const aceY = `{"cluster":[{"cluster-id":"ace-y","node":[{"name":"n1","host":"10.0.3.1","role":["worker"]}]}]}`

// siteAgent is what an agent holds at its site: its key (never sent),
// and the certificate AMP signed for it.
type siteAgent struct {
	key   *ecdsa.PrivateKey
	creds wire.Credentials
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// csrOf is a CSR for key that asks for more than AMP grants: another
// name, an operator's group.
func csrOf(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "admin", OrganizationalUnit: []string{"AetherROCAdmin"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func mint(t *testing.T, s *testenv.Server, cluster, ttl string) string {
	t.Helper()
	var m struct{ Token string }
	if err := json.Unmarshal(s.Must(t, 201, "POST", "/clusters/"+cluster+"/tokens", `{"ttl":"`+ttl+`"}`), &m); err != nil {
		t.Fatal(err)
	}
	return m.Token
}

func enrolBody(t *testing.T, token, cluster, csr string) string {
	t.Helper()
	b, err := json.Marshal(wire.RegisterRequest{Token: token, Cluster: cluster, CSR: csr})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// enrol registers an agent of cluster with a fresh token and key.
func enrol(t *testing.T, s *testenv.Server, cluster string) *siteAgent {
	t.Helper()
	a := &siteAgent{key: newKey(t)}
	code, body, _ := register(t, s, enrolBody(t, mint(t, s, cluster, "1h"), cluster, csrOf(t, a.key)))
	if code != 201 {
		t.Fatalf("enrol %s: %d %s", cluster, code, body)
	}
	if err := json.Unmarshal(body, &a.creds); err != nil {
		t.Fatal(err)
	}
	return a
}

func pemCert(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatalf("not PEM: %q", p)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// client is an HTTPS client presenting certPEM (with key) as its TLS
// client certificate, trusting the servers' CAs; it sends no API token.
func (a *siteAgent) client(t *testing.T, certPEM string, serverCAs ...string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	for _, f := range serverCAs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(b)
	}
	cert := pemCert(t, certPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: a.key, Leaf: cert}}}
	return &http.Client{Transport: tr}
}

func call(t *testing.T, hc *http.Client, method, url, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// renew asks for a new certificate with the current one.
func (a *siteAgent) renew(t *testing.T, hc *http.Client, s *testenv.Server, cluster string) (int, string) {
	t.Helper()
	b, _ := json.Marshal(wire.RenewRequest{CSR: csrOf(t, a.key)})
	return call(t, hc, "POST", s.URL+"/edge/v1/clusters/"+cluster+"/certificate", string(b))
}

// TestAgentEnrolRenewRevoke: an agent enrols with its token and CSR and
// gets a certificate for its cluster only (CN = the cluster, for the key
// it generated); the certificate renews itself, and the previous one keeps
// working until it expires; a revocation and the cluster's deletion stop
// its certificates at once (401 with the reason); tokens used twice,
// expired or of another cluster are refused with their reasons, a missing
// CSR consumes nothing; certificates of another CA and expired ones are
// refused with reasons; everything is counted in the metrics.
func TestAgentEnrolRenewRevoke(t *testing.T) {
	// The operator's own agent CA: the test can then forge what a site
	// could hold past its time (an expired certificate of this very CA).
	agentCA, agentKey, caCert, caKey := writeAgentCA(t)
	s := testenv.Start(t, t.TempDir(), "--demo", "--adapters", "none", "--agent-ca-cert", agentCA, "--agent-ca-key", agentKey,
		"--agent-cert-lifetime", "720h")
	s.Must(t, 201, "POST", "/inventory/v1.0.0", aceX)
	s.Must(t, 201, "POST", "/inventory/v1.0.0", aceY)
	ctx := context.Background()

	var x *siteAgent
	t.Run("enrol", func(t *testing.T) {
		tok := mint(t, s, "ace-x", "1h")
		// A missing CSR names /csr and consumes nothing.
		if code, body, _ := register(t, s, enrolBody(t, tok, "ace-x", "")); code != 400 || !strings.Contains(string(body), `"path":"/csr"`) {
			t.Fatalf("no CSR: %d %s", code, body)
		}
		if code, body, _ := register(t, s, enrolBody(t, tok, "ace-x", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")); code != 400 || !strings.Contains(string(body), `"path":"/csr"`) {
			t.Fatalf("a malformed CSR: %d %s", code, body)
		}
		// A token of ace-x presented as ace-y's: refused, not consumed.
		if code, body, _ := register(t, s, enrolBody(t, tok, "ace-y", csrOf(t, newKey(t)))); code != 401 || !strings.Contains(string(body), `minted for another cluster: it registers cluster \"ace-x\", not \"ace-y\"`) {
			t.Fatalf("a token of another cluster: %d %s", code, body)
		}
		x = &siteAgent{key: newKey(t)}
		code, body, _ := register(t, s, enrolBody(t, tok, "ace-x", csrOf(t, x.key)))
		if code != 201 {
			t.Fatalf("enrol: %d %s", code, body)
		}
		if err := json.Unmarshal(body, &x.creds); err != nil {
			t.Fatal(err)
		}
		cert := pemCert(t, x.creds.Certificate)
		lifetime := cert.NotAfter.Sub(cert.NotBefore) - 5*time.Minute // backdated for clock skew
		switch {
		case cert.Subject.CommonName != "ace-x" || len(cert.Subject.OrganizationalUnit) != 0 || x.creds.Cluster != "ace-x":
			t.Errorf("the certificate's subject is %v (answer %q): want CN ace-x, nothing the CSR asked", cert.Subject, x.creds.Cluster)
		case !cert.PublicKey.(*ecdsa.PublicKey).Equal(&x.key.PublicKey):
			t.Error("the certificate is not for the key the agent generated")
		case lifetime != 720*time.Hour || !x.creds.NotAfter.Equal(cert.NotAfter):
			t.Errorf("lifetime %s (not after %s, answer %s), want 720h", lifetime, cert.NotAfter, x.creds.NotAfter)
		case x.creds.RenewAt.Sub(cert.NotBefore.Add(5*time.Minute)).Round(time.Second) != 480*time.Hour:
			t.Errorf("renew at %s: want two thirds in", x.creds.RenewAt)
		case pemCert(t, x.creds.CA).Subject.CommonName != "ops agents CA" || x.creds.Serial != cert.SerialNumber.Text(16):
			t.Errorf("CA %q, serial %s", pemCert(t, x.creds.CA).Subject.CommonName, x.creds.Serial)
		case time.Duration(x.creds.Interval) <= 0 || time.Since(x.creds.ServerNow).Abs() > time.Minute:
			t.Errorf("check-in interval %s, server time %s", time.Duration(x.creds.Interval), x.creds.ServerNow)
		}
		local, err := os.ReadFile(s.CA)
		if err != nil {
			t.Fatal(err)
		}
		if x.creds.ServerCA != string(local) {
			t.Errorf("server-ca is not AMP's local CA:\n%s", x.creds.ServerCA)
		}
		// Used twice: refused with the time it was used.
		if code, body, _ := register(t, s, enrolBody(t, tok, "ace-x", csrOf(t, newKey(t)))); code != 401 || !strings.Contains(string(body), "already used at 20") {
			t.Fatalf("a token used twice: %d %s", code, body)
		}
		// Expired: refused with the time it expired.
		short := mint(t, s, "ace-x", "1s")
		waitFor(t, func() bool {
			var l []map[string]any
			_ = json.Unmarshal(s.Must(t, 200, "GET", "/clusters/ace-x/tokens", ""), &l)
			return len(l) == 1 && l[0]["expired"] == true
		}, "the 1s token to expire")
		if code, body, _ := register(t, s, enrolBody(t, short, "", csrOf(t, newKey(t)))); code != 401 || !strings.Contains(string(body), "has expired at 20") {
			t.Fatalf("an expired token: %d %s", code, body)
		}
		// The registration is recorded as before.
		var p struct {
			Registration map[string]string `json:"registration"`
		}
		_ = json.Unmarshal(s.Must(t, 200, "GET", "/clusters/ace-x/plan", ""), &p)
		if p.Registration["token-id"] != strings.Split(tok, "_")[1] {
			t.Fatalf("registration recorded: %v", p.Registration)
		}
	})

	hx := x.client(t, x.creds.Certificate, s.CA)
	t.Run("renew", func(t *testing.T) {
		// The certificate authenticates its agent: no API token.
		code, body := x.renew(t, hx, s, "ace-x")
		if code != 201 {
			t.Fatalf("renew: %d %s", code, body)
		}
		var renewed wire.Credentials
		if err := json.Unmarshal([]byte(body), &renewed); err != nil {
			t.Fatal(err)
		}
		if renewed.Serial == x.creds.Serial || pemCert(t, renewed.Certificate).Subject.CommonName != "ace-x" {
			t.Fatalf("renewed: %+v", renewed)
		}
		// The previous certificate works until it expires; the new one too.
		if code, body := call(t, hx, "POST", s.URL+"/edge/v1/clusters/ace-x/certificate", `{}`); code != 400 || !strings.Contains(body, `"path":"/csr"`) {
			t.Fatalf("the previous certificate after a renewal: %d %s", code, body)
		}
		x.creds = renewed
		hx = x.client(t, x.creds.Certificate, s.CA)
		if code, body := call(t, hx, "POST", s.URL+"/edge/v1/clusters/ace-x/certificate", `{"csr":"x"}`); code != 400 || !strings.Contains(body, `"path":"/csr"`) {
			t.Fatalf("the renewed certificate: %d %s", code, body)
		}
		// An operator cannot renew in an agent's place.
		b, _ := json.Marshal(wire.RenewRequest{CSR: csrOf(t, newKey(t))})
		if code, body, _, err := s.Do(ctx, "POST", "/edge/v1/clusters/ace-x/certificate", string(b)); err != nil || code != 403 {
			t.Fatalf("an operator renewing: %d %v %s", code, err, body)
		}
	})

	t.Run("refused certificates", func(t *testing.T) {
		// Another CA's certificate for ace-x.
		_, _, otherCert, otherKey := writeAgentCA(t)
		forged := signClient(t, &issuer{otherCert, otherKey}, x.key, "ace-x", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if code, body := call(t, x.client(t, forged, s.CA), "POST", s.URL+"/edge/v1/clusters/ace-x/certificate", `{}`); code != 401 || !strings.Contains(body, "not an agent certificate signed by AMP's agent CA") {
			t.Fatalf("another CA's certificate: %d %s", code, body)
		}
		// An expired certificate of AMP's agent CA.
		expired := signClient(t, &issuer{caCert, caKey}, x.key, "ace-x", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
		if code, body := call(t, x.client(t, expired, s.CA), "POST", s.URL+"/edge/v1/clusters/ace-x/certificate", `{}`); code != 401 || !strings.Contains(body, "expired at") {
			t.Fatalf("an expired certificate: %d %s", code, body)
		}
		// Signed by AMP's CA but never issued (not on the allow-list).
		unissued := signClient(t, &issuer{caCert, caKey}, x.key, "ace-x", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if code, body := call(t, x.client(t, unissued, s.CA), "POST", s.URL+"/edge/v1/clusters/ace-x/certificate", `{}`); code != 401 || !strings.Contains(body, "was revoked") {
			t.Fatalf("a certificate AMP never issued: %d %s", code, body)
		}
	})

	t.Run("stolen certificate", func(t *testing.T) {
		stolenSweep(t, s, hx, "ace-x", "ace-y")
		// Only AMP's CA grants the agent role: no API token holds it.
		if b := s.Must(t, 400, "POST", "/tokens", `{"name":"fake-agent","role":"agent"}`); !strings.Contains(string(b), `"path":"/role"`) {
			t.Fatalf("an API token with the agent role: %s", b)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		out, err := ampCLI(t, s.Env(), "cluster", "revoke", "ace-x")
		if err != nil || !strings.Contains(out, "revoked 2 certificate(s) of cluster ace-x") {
			t.Fatalf("amp cluster revoke: %v %s", err, out)
		}
		code, body := x.renew(t, hx, s, "ace-x")
		if code != 401 || !strings.Contains(body, "was revoked") {
			t.Fatalf("renewing with a revoked certificate: %d %s", code, body)
		}
		// It enrols again with a new token.
		x = enrol(t, s, "ace-x")
		hx = x.client(t, x.creds.Certificate, s.CA)
		code, body = x.renew(t, hx, s, "ace-x")
		if code != 201 {
			t.Fatalf("after enrolling again: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &x.creds); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("cluster deleted", func(t *testing.T) {
		y := enrol(t, s, "ace-y")
		hy := y.client(t, y.creds.Certificate, s.CA)
		if code, body := y.renew(t, hy, s, "ace-y"); code != 201 {
			t.Fatalf("ace-y renews: %d %s", code, body)
		}
		s.Must(t, 200, "DELETE", "/inventory/v1.0.0/cluster/ace-y", "")
		if code, body := y.renew(t, hy, s, "ace-y"); code != 401 || !strings.Contains(body, `cluster \"ace-y\" is not declared`) {
			t.Fatalf("the certificate of a deleted cluster: %d %s", code, body)
		}
		// Declared again under the same name: the old certificate stays dead.
		s.Must(t, 201, "POST", "/inventory/v1.0.0", aceY)
		if code, body := y.renew(t, hy, s, "ace-y"); code != 401 || !strings.Contains(body, "was revoked") {
			t.Fatalf("the certificate of a cluster deleted and declared again: %d %s", code, body)
		}
	})

	t.Run("audited and counted", func(t *testing.T) {
		var recs []map[string]any
		_ = json.Unmarshal(s.Must(t, 200, "GET", "/audit?path=/clusters/ace-x/certificates", ""), &recs)
		if len(recs) != 1 || recs[0]["principal"] != "admin" || recs[0]["outcome"] != "allowed" {
			t.Fatalf("the revocation's audit record: %v", recs)
		}
		_ = json.Unmarshal(s.Must(t, 200, "GET", "/audit?path=/edge/v1/clusters/ace-x/certificate", ""), &recs)
		renewals := 0
		for _, r := range recs {
			if r["principal"] == "cluster:ace-x" && r["via"] == "mtls" && r["outcome"] == "allowed" {
				renewals++
			}
		}
		if renewals < 2 {
			t.Fatalf("renewals audited as the agent: %d in %v", renewals, recs)
		}
		// The first refused certificate is recorded with its reason (the
		// later ones from that address are counted in its window).
		waitFor(t, func() bool {
			for _, r := range auditRecords(t, s, "&outcome=denied") {
				if r.Action == "login" && strings.Contains(r.Reason, "the client certificate is refused: it is not an agent certificate signed by AMP's agent CA") {
					return true
				}
			}
			return false
		}, "the audit record of the refused certificate, with its reason")
		m := edgeMetrics(t, s)
		for series, want := range map[string]float64{
			`amp_edge_certificates_issued_total{reason="enrol"}`:             3,
			`amp_edge_certificates_issued_total{reason="renew"}`:             3,
			`amp_edge_certificate_refusals_total{reason="foreign_ca"}`:       1,
			`amp_edge_certificate_refusals_total{reason="expired"}`:          1,
			`amp_edge_certificate_refusals_total{reason="token"}`:            3,
			`amp_edge_certificate_refusals_total{reason="undeclared"}`:       1,
			`amp_edge_certificate_expiry_timestamp_seconds{cluster="ace-x"}`: float64(x.creds.NotAfter.Unix()),
		} {
			if got := m[series]; got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		// At least: the certificate never issued, the revoked one, the
		// one of a cluster declared again; at least the four bad CSRs
		// above (the sweep sends more).
		if m[`amp_edge_certificate_refusals_total{reason="revoked"}`] < 3 || m[`amp_edge_certificate_refusals_total{reason="bad_csr"}`] < 4 {
			t.Errorf("revoked refusals %v, bad CSRs %v", m[`amp_edge_certificate_refusals_total{reason="revoked"}`], m[`amp_edge_certificate_refusals_total{reason="bad_csr"}`])
		}
		if _, ok := m[`amp_edge_certificate_expiry_timestamp_seconds{cluster="ace-y"}`]; ok {
			t.Error("a deleted cluster's certificate expiry is still reported")
		}
	})
}

// stolenSweep: the agent certificate of cluster (hc) against every route
// of the OpenAPI document and every edge route of another cluster: all
// refused (401/403) but its own cluster's edge routes, and nothing
// changed.
func stolenSweep(t *testing.T, s *testenv.Server, hc *http.Client, cluster, other string) {
	t.Helper()
	before := s.Must(t, 200, "GET", "/transactions?limit=1", "")
	doc, paths := specPaths(t, s)
	param := regexp.MustCompile(`\{([^}]+)\}`)
	checked := 0
	for _, tmpl := range paths {
		concrete := param.ReplaceAllStringFunc(tmpl, func(m string) string {
			switch m[1 : len(m)-1] {
			case "name", "cluster", "cluster-id":
				return cluster
			case "enterprise-id", "id":
				return "starbucks" // the demo's: it exists
			}
			return "x"
		})
		for method, op := range doc.Paths.Find(tmpl).Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public: no credential is needed, so none is stolen
			}
			body := ""
			if method != "GET" && method != "DELETE" && method != "HEAD" {
				body = `{}`
			}
			code, b := call(t, hc, method, s.URL+concrete, body)
			own := strings.HasPrefix(concrete, "/edge/v1/clusters/"+cluster+"/")
			if own && (code == 401 || code == 403) || !own && !refusal(code) && !emptyListing(method, code, b) {
				t.Errorf("%s %s with %s's certificate: %d %.300s", method, concrete, cluster, code, b)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d route/method pairs of the document checked", checked)
	}
	// The edge layer's routes, whether or not the document names them.
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := compat.For(sch)
	if err != nil {
		t.Fatal(err)
	}
	edge := 0
	for _, l := range layers {
		if l.Name != "edge" {
			continue
		}
		for _, rt := range l.Routes {
			method, pattern, _ := strings.Cut(rt.Pattern, " ")
			for _, c := range []string{cluster, other} {
				path := param.ReplaceAllString(pattern, c)
				body := ""
				if method != "GET" {
					body = `{}`
				}
				code, b := call(t, hc, method, s.URL+path, body)
				own := c == cluster && strings.HasPrefix(pattern, "/edge/v1/clusters/{cluster}/")
				if own && (code == 401 || code == 403) || !own && code != 403 && !emptyListing(method, code, b) {
					t.Errorf("%s %s with %s's certificate: %d %.300s", method, path, cluster, code, b)
				}
				edge++
			}
		}
	}
	if edge == 0 {
		t.Fatal("the edge layer has no routes")
	}
	if after := s.Must(t, 200, "GET", "/transactions?limit=1", ""); !bytes.Equal(before, after) {
		t.Fatalf("the sweep committed something:\n%s\nwas\n%s", after, before)
	}
}

// refusal reports whether code refuses a request without telling what
// exists: 403, or the answer a missing object gets (404: the tenant paths
// answer a caller without rights as if the enterprise did not exist), or a
// malformed request refused before anything is read (400, 405).
func refusal(code int) bool { return code == 403 || code == 404 || code == 400 || code == 405 }

// emptyListing reports an answer that lists nothing: the listings filter
// item by item through the policy, so a caller who may read none of them
// enumerates nothing.
func emptyListing(method string, code int, body string) bool {
	return method == "GET" && code == 200 && strings.TrimSpace(body) == "[]"
}

// TestAgentIdentityAcrossReplicas: on one etcd, a certificate issued
// through one replica works on the other (they share the CA and the
// allow-list), and a revocation on one holds on the other at once.
func TestAgentIdentityAcrossReplicas(t *testing.T) {
	c := etcd.Start(t, 1)
	reps := startReplicas(t, testenv.Binary(t), "etcd://"+c.Endpoints()+"/amp-agent-id/", 2, "--adapters", "none")
	a, b := reps[0], reps[1]
	_, _, hdr, err := a.Do(context.Background(), "POST", "/inventory/v1.0.0", aceX)
	if err != nil {
		t.Fatal(err)
	}
	b.Must(t, 200, "GET", "/inventory/v1.0.0/cluster/ace-x?min-index="+hdr.Get("X-AMP-Transaction-Index"), "")
	x := enrol(t, a, "ace-x")
	hx := x.client(t, x.creds.Certificate, a.CA, b.CA)
	code, body := x.renew(t, hx, b, "ace-x")
	if code != 201 {
		t.Fatalf("a certificate issued by replica a, renewing on b: %d %s", code, body)
	}
	var renewed wire.Credentials
	if err := json.Unmarshal([]byte(body), &renewed); err != nil {
		t.Fatal(err)
	}
	hr := x.client(t, renewed.Certificate, a.CA, b.CA)
	if code, body := call(t, hr, "POST", a.URL+"/edge/v1/clusters/ace-x/certificate", `{}`); code != 400 {
		t.Fatalf("a certificate issued by replica b, on a: %d %s", code, body)
	}
	b.Must(t, 200, "POST", "/clusters/ace-x/revoke", `{}`)
	for _, s := range reps {
		for _, h := range []*http.Client{hx, hr} {
			if code, body := x.renew(t, h, s, "ace-x"); code != 401 || !strings.Contains(body, "was revoked") {
				t.Fatalf("after a revocation on b, at %s: %d %s", s.URL, code, body)
			}
		}
	}
}

// edgeMetrics reads the amp_edge_ series of /metrics.
func edgeMetrics(t *testing.T, s *testenv.Server) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, line := range strings.Split(string(s.Must(t, 200, "GET", "/metrics", "")), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasPrefix(f[0], "amp_edge_") {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out[f[0]] = v
	}
	return out
}

// issuer is a CA the test signs with.
type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// writeAgentCA writes an operator's agent CA (certificate and key files).
func writeAgentCA(t *testing.T) (certFile, keyFile string, cert *x509.Certificate, key *ecdsa.PrivateKey) {
	t.Helper()
	key = newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ops agents CA"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	certFile, keyFile = filepath.Join(d, "agents-ca.crt"), filepath.Join(d, "agents-ca.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert, key
}

// signClient signs a client certificate for key, CN cn, valid from
// notBefore to notAfter.
func signClient(t *testing.T, ca *issuer, key *ecdsa.PrivateKey, cn string, notBefore, notAfter time.Time) string {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
